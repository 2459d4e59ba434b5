"""shadow-dataset validate and masks on small datasets written here (no Blender)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataset_tools.combine import NO_OWNER
from dataset_tools.layout import read_image, sample_path, write_npz, write_png
from dataset_tools.validate import validate_dataset


def make_dataset(root: Path, ids=("a", "b"), split: str = "train", size: int = 16) -> None:
    for index, sample_id in enumerate(ids):
        noshadow = np.full((size, size, 3), 120 + index, dtype=np.uint8)
        shadow = noshadow.copy()
        shadow[8:12, 2:6] = 60
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[4:8, 2:6] = 255
        smask = np.zeros_like(mask)
        smask[8:12, 2:6] = 255
        empty = np.zeros_like(mask)
        for kind, image in (("noshadow", noshadow), ("shadow", shadow), ("mask", mask),
                            ("robject", empty), ("rshadow", empty), ("smask", smask)):
            write_png(sample_path(root, split, kind, sample_id), image)


def messages(root: Path) -> list[str]:
    return [f"{Path(p.path).name}: {p.message}" for p in validate_dataset(root).errors]


def test_a_clean_dataset_is_valid(tmp_path):
    make_dataset(tmp_path)
    report = validate_dataset(tmp_path)
    assert report.valid and report.counts == {"train": 2} and not report.problems


def test_sregion_is_the_contract_region_and_holds_smask(tmp_path):
    make_dataset(tmp_path, ids=("a",))
    region = np.zeros((16, 16), dtype=np.uint8)
    region[8:14, 2:6] = 255  # smask 8:12 plus a faint halo below it
    write_png(sample_path(tmp_path, "train", "sregion", "a"), region)
    shadow = read_image(sample_path(tmp_path, "train", "shadow", "a"), "RGB")
    shadow[12:14, 2:6] -= 30  # the halo differs: inside sregion, outside smask
    write_png(sample_path(tmp_path, "train", "shadow", "a"), shadow)
    assert validate_dataset(tmp_path).valid
    region[12:14, 2:6] = 0  # now the halo is outside every region
    region[8, 2] = 0  # and smask pokes out of sregion
    write_png(sample_path(tmp_path, "train", "sregion", "a"), region)
    # outside: 256 - 15 pixels, of which 8 differ by 30 and one (8, 2) by 60
    assert messages(tmp_path) == ["a.png: 1 pixels lie outside sregion",
                                  "a.png: differs from noshadow outside sregion by 1.24 on "
                                  "average (tolerance 1.0)"]


def test_every_kind_of_broken_file_is_named(tmp_path):
    make_dataset(tmp_path, ids=("a", "b", "c", "d", "e", "f"))
    (tmp_path / "train/rshadow/a.png").unlink()  # missing file
    write_png(tmp_path / "train/mask/b.png", np.zeros((8, 8), np.uint8))  # wrong size
    gray = np.zeros((16, 16), np.uint8)
    gray[0, :3] = 128
    write_png(tmp_path / "train/robject/c.png", gray)  # non-binary
    write_png(tmp_path / "train/smask/d.png", np.zeros((16, 16, 3), np.uint8))  # RGB mask
    data = (tmp_path / "train/shadow/e.png").read_bytes()
    (tmp_path / "train/shadow/e.png").write_bytes(data[:20])  # truncated PNG
    (tmp_path / "train/noshadow/notes.txt").write_text("stray")
    found = messages(tmp_path)
    assert "a.png: missing" in found
    assert "b.png: size 8x8 differs from noshadow 16x16" in found
    assert "c.png: 3 pixels are not 0 or 255" in found
    assert "d.png: expected a single-channel (L) mask, got 3 channels" in found
    assert "e.png: not a readable PNG image" in found
    assert "notes.txt: not a .png file" in found
    report = validate_dataset(tmp_path)
    assert not report.valid and report.counts == {"train": 1}  # only f is complete


def test_pair_differing_outside_smask_and_duplicates(tmp_path):
    make_dataset(tmp_path, ids=("a", "b"))
    shadow = read_image(tmp_path / "train/shadow/a.png", "RGB")
    shadow[0:4, 10:16] = 0
    write_png(tmp_path / "train/shadow/a.png", shadow)
    write_png(tmp_path / "train/noshadow/b.png", read_image(tmp_path / "train/noshadow/a.png",
                                                            "RGB"))
    write_png(tmp_path / "train/shadow/b.png", read_image(tmp_path / "train/shadow/a.png",
                                                          "RGB"))
    report = validate_dataset(tmp_path)
    assert any("differs from noshadow outside smask" in p.message for p in report.errors)
    assert any("identical noshadow images: train/a, train/b" in p.message
               for p in report.problems if p.severity == "warning")


def test_manifest_and_files_must_agree(tmp_path):
    make_dataset(tmp_path, ids=("a",))
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "a"}) + "\n"
                                             + json.dumps({"id": "zz"}) + "\n")
    assert messages(tmp_path) == ["manifest.jsonl: lists zz, which has no files"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from dataset_tools.cli import entry; entry()",
                           *args], capture_output=True, text=True, timeout=120)


def test_validate_cli_exit_codes_and_json(tmp_path):
    make_dataset(tmp_path / "ok")
    result = run_cli("validate", str(tmp_path / "ok"), "--json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["valid"] is True
    (tmp_path / "ok/train/mask/a.png").unlink()
    result = run_cli("validate", str(tmp_path / "ok"))
    assert result.returncode == 1 and "mask/a.png: missing" in result.stderr


def test_masks_from_passes_and_from_pairs(tmp_path):
    make_dataset(tmp_path, ids=("a", "b"))
    index = np.zeros((16, 16), np.uint8)
    index[4:8, 2:6] = 1
    darkening = np.zeros((16, 16), np.float16)
    darkening[8:12, 2:6] = 0.3
    darkening[12:14, 2:6] = 0.08  # faint: in smask at threshold 0.06, not at 0.2
    write_npz(tmp_path / "passes/a.npz", object_index=index, darkening=darkening,
              occluder_darkening=np.zeros((16, 16), np.float16))
    result = run_cli("masks", str(tmp_path), "--darkening-threshold", "0.06", "--sigma", "0",
                     "--min-area", "1", "--visible-fraction", "0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"from_passes": 1, "from_pairs": 1}
    assert (read_image(tmp_path / "train/smask/a.png", "L") == 255).sum() == 24
    assert (read_image(tmp_path / "train/smask/b.png", "L") == 255).sum() == 16
    run_cli("masks", str(tmp_path), "--threshold", "0.2", "--sigma", "0",  # the old flag name
            "--min-area", "1", "--visible-fraction", "0")
    assert (read_image(tmp_path / "train/smask/a.png", "L") == 255).sum() == 16
    # By default the faint 0.08 band is under half the 0.3 peak: not part of the visible shadow.
    run_cli("masks", str(tmp_path), "--darkening-threshold", "0.06", "--sigma", "0",
            "--min-area", "1")
    assert (read_image(tmp_path / "train/smask/a.png", "L") == 255).sum() == 16
    assert validate_dataset(tmp_path).valid


def test_masks_cli_names_a_wrong_size_mask(tmp_path):
    make_dataset(tmp_path, ids=("a",))
    write_png(tmp_path / "train/mask/a.png", np.zeros((8, 8), np.uint8))
    result = run_cli("masks", str(tmp_path))
    assert result.returncode == 1
    assert "train/mask/a.png: size 8x8 differs from noshadow 16x16" in result.stderr


@pytest.mark.parametrize("verb", ["validate", "masks"])
def test_help_has_examples(verb):
    result = run_cli(verb, "--help")
    assert result.returncode == 0 and "Example" in result.stdout


def test_validate_reads_rendered_passes_layout(tmp_path):
    """The renderer's own output folder layout passes validate (written with the same I/O)."""
    make_dataset(tmp_path, split="test", ids=("x",))
    cv2.imwrite(str(tmp_path / "test/noshadow/.hidden.png"), np.zeros((2, 2), np.uint8))
    assert validate_dataset(tmp_path).counts == {"test": 1}


def with_manifest(root: Path, scenes: list[str], meshes: list[str]) -> None:
    records = [{"id": f"s{i:02d}", "index": i, "split": "train", "scene": scene,
                "inserted_mesh": mesh} for i, (scene, mesh) in enumerate(zip(scenes, meshes,
                                                                              strict=True))]
    make_dataset(root, ids=[record["id"] for record in records])
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_split_by_both_keeps_test_scenes_and_meshes_out_of_training(tmp_path):
    scenes = [f"scene{i % 10}.jpg" for i in range(40)]
    meshes = [f"mesh{(i * 7) % 8}" for i in range(40)]
    with_manifest(tmp_path, scenes, meshes)
    result = run_cli("split", str(tmp_path), "--test", "0.2", "--val", "0.1", "--by", "both")
    assert result.returncode == 0, result.stderr
    records = {r["id"]: r for r in map(json.loads,
                                       (tmp_path / "manifest.jsonl").read_text().splitlines())}
    train = [r for r in records.values() if r["split"] == "train"]
    test = [r for r in records.values() if r["split"] == "test"]
    assert train and test
    assert not {r["scene"] for r in train} & {r["scene"] for r in test}
    assert not {r["inserted_mesh"] for r in train} & {r["inserted_mesh"] for r in test}
    for record in records.values():  # every file moved with its sample, none lost
        for kind in ("noshadow", "shadow", "mask", "robject", "rshadow", "smask"):
            assert (tmp_path / record["split"] / kind / f"{record['id']}.png").is_file()
    assert sum(1 for _ in tmp_path.rglob("*.png")) == 40 * 6
    info = json.loads((tmp_path / "dataset.json").read_text())
    assert info["counts"]["total"] == 40 and info["split"]["by"] == "both"
    assert validate_dataset(tmp_path).valid
    again = run_cli("split", str(tmp_path), "--test", "0.2", "--val", "0.1", "--by", "both")
    assert again.returncode == 0 and again.stderr == result.stderr  # deterministic


def test_split_without_manifest_needs_by_none(tmp_path):
    make_dataset(tmp_path, ids=[f"x{i}" for i in range(10)])
    result = run_cli("split", str(tmp_path), "--by", "scene")
    assert result.returncode == 1 and "manifest.jsonl" in result.stderr
    result = run_cli("split", str(tmp_path), "--by", "none", "--test", "0.3", "--val", "0")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "test" / "noshadow").glob("*.png"))) == 3
    assert sum(1 for _ in tmp_path.rglob("*.png")) == 60


def test_inspect_contact_sheet(tmp_path):
    make_dataset(tmp_path / "d", ids=("a", "b", "c"))
    (tmp_path / "d/train/rshadow/b.png").unlink()
    out = tmp_path / "sheet.png"
    result = run_cli("inspect", str(tmp_path / "d"), "--ids", "a,b", "--tile", "32", "--out",
                     str(out))
    assert result.returncode == 0, result.stderr
    sheet = read_image(out, "RGB")
    assert sheet.shape == (22 + 2 * 32, 6 * 32, 3)
    row_a, row_b = sheet[22:54], sheet[54:86]
    assert row_a[:, 0:32].mean() > 100  # noshadow tile shows the image
    smask_tile = row_a[:, 5 * 32:6 * 32].astype(int)
    assert (smask_tile[..., 1] - smask_tile[..., 0]).max() > 60  # green tint where smask
    crossed = row_b[:, 4 * 32:5 * 32]  # missing rshadow of b: gray with a red cross
    assert (crossed[..., 0].astype(int) - crossed[..., 1]).max() > 100
    again = run_cli("inspect", str(tmp_path / "d"), "--random", "2", "--out", str(out))
    assert again.returncode == 1 and "use --force" in again.stderr
    forced = run_cli("inspect", str(tmp_path / "d"), "--random", "2", "--tile", "32", "--out",
                     str(out), "--force")
    assert forced.returncode == 0 and read_image(out, "RGB").shape[0] == 22 + 2 * 32
    missing = run_cli("inspect", str(tmp_path / "d"), "--ids", "zz", "--out", str(out))
    assert missing.returncode == 1 and "no sample zz" in missing.stderr


def test_stats_counts_areas_and_plots(tmp_path):
    with_manifest(tmp_path / "d", ["s1.jpg", "s1.jpg", "s2.jpg"], ["m1", "m2", "m2"])
    manifest = tmp_path / "d" / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    for number, record in enumerate(records):
        record["occluders"] = number
        record["spec"] = {"sun": {"elevation_deg": 30.0 + 10 * number, "azimuth_deg": 90.0}}
    manifest.write_text("".join(json.dumps(record) + "\n" for record in records))
    result = run_cli("stats", str(tmp_path / "d"), "--json", str(tmp_path / "s.json"),
                     "--plots", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["counts"] == {"train": 3}
    assert summary["area_fraction"]["mask"]["mean"] == pytest.approx(16 / 256)
    assert summary["area_fraction"]["robject"]["max"] == 0.0
    assert summary["sun_elevation_deg"]["mean"] == pytest.approx(40.0)
    assert summary["occluders"] == {"0": 1, "1": 1, "2": 1}
    assert summary["scenes"] == {"s1.jpg": 2, "s2.jpg": 1}
    assert summary["meshes"] == {"m2": 2, "m1": 1}
    # shadow 60 over noshadow 120, 121, 122 inside smask
    assert summary["shadow_darkness"]["median"] == pytest.approx(60 / 121, abs=1e-6)
    assert summary["shadow_darkness"]["darker_than_half"] == pytest.approx(2 / 3)
    assert summary["shadow_darkness"]["real_sunny"]["median"] == 0.27
    assert summary["shadow_darkness"]["by_light_kind"]["sun"]["samples"] == 3  # spec.sun: sun
    assert "shadow darkness" in result.stderr + result.stdout
    for name in ("areas", "sun", "occluders", "darkness"):
        assert read_image(tmp_path / "plots" / f"{name}.png", "RGB").shape[0] > 100


def plain_shadow_ar(root: Path) -> None:
    """A dataset as ARShadowGAN released it: no smask, no manifest, no dataset.json."""
    make_dataset(root, ids=("1", "2"), split="train")
    make_dataset(root, ids=("3",), split="test")
    for path in root.glob("*/smask"):
        shutil.rmtree(path)


def test_import_shadow_ar_adds_smask_and_is_valid(tmp_path):
    plain_shadow_ar(tmp_path / "src")
    result = run_cli("import", str(tmp_path / "src"), str(tmp_path / "dst"))
    assert result.returncode == 0, result.stderr
    smask = read_image(tmp_path / "dst/train/smask/1.png", "L")
    assert (smask == 255).sum() == 16 and smask[8:12, 2:6].min() == 255
    report = validate_dataset(tmp_path / "dst")
    assert report.valid and report.counts == {"train": 2, "test": 1}
    again = run_cli("import", str(tmp_path / "src"), str(tmp_path / "dst"))
    assert again.returncode == 1 and "use --force" in again.stderr


def test_import_names_a_missing_file_and_writes_nothing(tmp_path):
    plain_shadow_ar(tmp_path / "src")
    (tmp_path / "src/test/rshadow/3.png").unlink()
    result = run_cli("import", str(tmp_path / "src"), str(tmp_path / "dst"))
    assert result.returncode == 1 and "test/rshadow/3.png: missing" in result.stderr
    assert not (tmp_path / "dst").exists() or not any((tmp_path / "dst").rglob("*.png"))


def test_merge_prefixes_ids_and_keeps_every_file(tmp_path):
    with_manifest(tmp_path / "synth", ["s.jpg", "t.jpg"], ["m", "n"])
    plain_shadow_ar(tmp_path / "real")
    result = run_cli("merge", str(tmp_path / "synth"), str(tmp_path / "real"),
                     str(tmp_path / "both"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.stem for p in (tmp_path / "both/train/noshadow").glob("*.png")) == [
        "real_1", "real_2", "synth_s00", "synth_s01"]
    records = {json.loads(line)["id"]: json.loads(line)
               for line in (tmp_path / "both/manifest.jsonl").read_text().splitlines()}
    assert records["synth_s00"]["scene"] == "s.jpg" and records["real_3"]["split"] == "test"
    assert sum(1 for _ in (tmp_path / "both").rglob("*.png")) == 5 * 6  # smask derived
    assert validate_dataset(tmp_path / "both").valid


def test_html_gallery_loads_in_headless_chromium_without_errors(tmp_path):
    """A real browser (Debian's chromium, installed by .ci/run) loads the page: no script
    errors, every image resolves, paging and filters see every sample."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is needed for this test: apt-get install chromium"
    with_manifest(tmp_path / "d", [f"s{i % 3}.jpg" for i in range(60)],
                  [f"m{i % 4}" for i in range(60)])
    gallery = tmp_path / "gallery"
    result = run_cli("inspect", str(tmp_path / "d"), "--html", str(gallery))
    assert result.returncode == 0, result.stderr
    profile = tmp_path / "profile"
    process = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--allow-file-access-from-files",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
         (gallery / "index.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-2000:]
    body = process.stdout[process.stdout.index("<body"):]
    body = body[:body.index(">")]
    assert 'data-errors="0"' in body and 'data-images-broken="0"' in body, body
    assert 'data-images-ok="300"' in body, body  # first page: 50 samples x 6 kinds
    assert "page 1/2 (60 samples)" in process.stdout
    assert "Uncaught" not in process.stderr
    for option in ("s0.jpg", "s2.jpg", "m3", "train"):
        assert f'<option value="{option}">' in process.stdout


def make_desoba(root: Path) -> None:
    """Two 20x20 images: objects 1 and 2 with shadows, object 3 without, a casterless shadow."""
    for stem in ("img_a", "img_b"):
        shadow = np.full((20, 20, 3), 200, np.uint8)
        instance = np.zeros((20, 20), np.uint8)
        owners = np.zeros((20, 20), np.uint8)
        instance[2:5, 2:5] = 1
        owners[5:8, 2:5] = 1
        instance[10:13, 10:13] = 2
        owners[13:16, 10:13] = 2
        instance[2:4, 15:18] = 3
        owners[17:19, 0:3] = NO_OWNER
        shadow[owners > 0] = 90
        deshadowed = np.full((20, 20, 3), 200, np.uint8)
        for folder, image in (("ShadowImage", shadow), ("DeshadowedImage", deshadowed),
                              ("InstanceMask", instance), ("ShadowMask", owners)):
            write_png(root / folder / f"{stem}.png", image)
    (root / "Training_list.txt").write_text("img_a.png\n")
    (root / "Testing_list.txt").write_text("img_b.png\n")



def test_import_desoba_one_pair_per_object_with_shadow(tmp_path):
    make_desoba(tmp_path / "desoba")
    result = run_cli("import", str(tmp_path / "desoba"), str(tmp_path / "out"), "--format",
                     "desoba")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "out"
    assert sorted(p.stem for p in (root / "train/noshadow").glob("*.png")) == ["img_a_1",
                                                                                "img_a_2"]
    assert sorted(p.stem for p in (root / "test/noshadow").glob("*.png")) == ["img_b_1",
                                                                               "img_b_2"]
    noshadow = read_image(root / "train/noshadow/img_a_1.png", "RGB")
    shadow = read_image(root / "train/shadow/img_a_1.png", "RGB")
    assert noshadow[6, 3].tolist() == [200] * 3 and shadow[6, 3].tolist() == [90] * 3
    assert noshadow[14, 11].tolist() == [90] * 3  # the other object's shadow stays
    rshadow = read_image(root / "train/rshadow/img_a_1.png", "L")
    assert rshadow[14, 11] == 255 and rshadow[18, 1] == 255 and rshadow[6, 3] == 0
    robject = read_image(root / "train/robject/img_a_1.png", "L")
    assert robject[11, 11] == 255 and robject[3, 16] == 255 and robject[3, 3] == 0
    assert validate_dataset(root).valid


def test_import_desoba_names_a_missing_file(tmp_path):
    make_desoba(tmp_path / "desoba")
    (tmp_path / "desoba/ShadowMask/img_b.png").unlink()
    result = run_cli("import", str(tmp_path / "desoba"), str(tmp_path / "out"), "--format",
                     "desoba")
    assert result.returncode == 1 and "ShadowMask/img_b.png: missing" in result.stderr
