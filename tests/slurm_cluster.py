"""A real one-node SLURM cluster on localhost for the tests marked `slurm`: munged, slurmctld
and slurmd from Debian's `slurm-wlm` and `munge`, every file (key, sockets, state, spool,
logs) in one temporary folder, 4 CPUs schedulable one by one (`config_overrides`: more than
the machine's 2, so a task that waits idle does not hold up the others). Clients (`sbatch`,
`squeue`, submitit) find it through SLURM_CONF, which `SlurmCluster.env` sets."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun")
START_S = 30.0  # how long the daemons get to show the node idle
SETTLE_S = 3.0  # after a requeued job's old steps end, before it may start again


def missing_binaries() -> list[str]:
    """The SLURM and munge programs this machine lacks (empty: a cluster can start)."""
    return [name for name in (*DAEMONS, *CLIENTS, "munge")
            if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _program(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


@dataclass
class SlurmCluster:
    """One node (this machine, as `hostname -s` names it) in the partition `debug`."""

    root: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    cpus: int = 4  # more than the machine's 2 cores: a task waiting idle leaves slots free

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment a client of this cluster runs in."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        result = subprocess.run(list(args), capture_output=True, text=True, env=self.env,
                                timeout=60)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: exit {result.returncode}: {result.stderr}")
        return result

    def write_config(self) -> None:
        root = self.root
        for folder in ("state", "spool"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        key = root / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.conf.write_text("\n".join([
            "ClusterName=shadowsynth-test",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", f"AuthInfo=socket={root / 'munge.sock'}",
            "CredType=cred/munge",
            f"StateSaveLocation={root / 'state'}", f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}", f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'slurmctld.log'}", f"SlurmdLogFile={root / 'slurmd.log'}",
            # no cgroups in a container: processes are tracked by their parent
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none", "JobCompType=jobcomp/none",
            "SchedulerType=sched/builtin", "SwitchType=switch/none", "MpiDefault=none",
            # one task per CPU, so a 2-CPU node runs two 1-CPU tasks at once
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
            "ReturnToService=2", "JobRequeue=1", "SlurmdParameters=config_overrides",
            # ended jobs stay visible to `scontrol show job` for 10 minutes
            "InactiveLimit=0", "KillWait=5", "MinJobAge=600", "OverTimeLimit=0",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=8000 "
            "State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            ""]))

    def start(self) -> None:
        """Write the configuration, start the three daemons, wait until the node is idle."""
        self.write_config()
        root = self.root
        subprocess.run([_program("munged"), "--force", f"--socket={root / 'munge.sock'}",
                        f"--key-file={root / 'munge.key'}", f"--pid-file={root / 'munged.pid'}",
                        f"--log-file={root / 'munged.log'}", f"--seed-file={root / 'munge.seed'}"],
                       check=True, capture_output=True, timeout=30)
        # -i: ignore any state of an earlier cluster (there is none in a new folder)
        subprocess.run([_program("slurmctld"), "-f", str(self.conf), "-i"], check=True,
                       capture_output=True, env=self.env, timeout=30)
        subprocess.run([_program("slurmd"), "-f", str(self.conf)], check=True,
                       capture_output=True, env=self.env, timeout=30)
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node is not idle after {START_S:.0f} s (state "
                           f"{state!r}); logs in {root}")

    def stop(self) -> None:
        """Cancel every job, stop the daemons (each by its pid file)."""
        self.run("scancel", "--full", "--partition=debug", check=False)
        for name in ("slurmd", "slurmctld", "munged"):
            pid_file = self.root / f"{name}.pid"
            try:
                os.kill(int(pid_file.read_text().split()[0]), 15)
            except (OSError, ValueError, IndexError):
                continue
        time.sleep(0.5)

    def jobs(self, job_id: str | None = None) -> list[tuple[str, str]]:
        """(job id, state) of the jobs SLURM still lists (pending, running, completing)."""
        args = ["squeue", "-h", "-r", "-o", "%i %T"] + (["-j", job_id] if job_id else [])
        lines = self.run(*args, check=False).stdout.split("\n")
        return [tuple(line.split()[:2]) for line in lines if line.strip()]  # type: ignore[misc]

    def wait(self, job_id: str | None = None, timeout_s: float = 240.0,
             until: str | None = None) -> None:
        """Wait until the job (every job) has left the queue, or until one of its tasks is in
        state `until` (RUNNING, say)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            listed = self.jobs(job_id)
            if until is None and not listed:
                return
            if until is not None and any(state == until for _, state in listed):
                return
            time.sleep(0.5)
        raise TimeoutError(f"job {job_id or '(all)'} still {self.jobs(job_id)} after "
                           f"{timeout_s:.0f} s")

    def requeue(self, job: str) -> None:
        """`scontrol requeue JOB`, as a preemption does; once it is pending again and its old
        steps have ended, make it eligible at once (SLURM holds a requeued job back for about
        two minutes, which lets the old steps end: started while they still ran, the requeued
        job exits 1 at once)."""
        raw_id = self.run("squeue", "-h", "-j", job, "-o", "%A", check=False).stdout.split()
        self.run("scontrol", "requeue", job)
        deadline = time.monotonic() + 60
        while ("PENDING" not in self.run("squeue", "-h", "-j", job, "-o", "%T",
                                         check=False).stdout
               or (raw_id and subprocess.run(["pgrep", "-f", rf"slurmstepd: \[{raw_id[0]}\."],
                                             capture_output=True).returncode == 0)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job} did not go back to pending after a requeue, "
                                   "its old steps ended")
            time.sleep(0.2)
        # slurmd keeps refusing the killed job's id for a moment after its steps end ("Job N
        # already killed, do not launch batch job": the requeued task then exits 1 at once)
        time.sleep(SETTLE_S)
        self.run("scontrol", "update", f"JobId={job}", "StartTime=now")
