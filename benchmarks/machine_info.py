"""One line describing the machine a benchmark ran on (CPU model, cores, Python, GPU)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    cpu = platform.processor() or platform.machine() or "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = (f"{platform.node()} | {cpu} | {os.cpu_count()} cores | "
            f"Python {platform.python_version()}")
    try:
        import torch
    except ImportError:
        return text
    text += f" | torch {torch.__version__}"
    if torch.cuda.is_available():
        text += f" | {torch.cuda.get_device_name()}"
    return text
