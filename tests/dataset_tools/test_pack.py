"""shadow-dataset pack / unpack: WebDataset tar shards that restore the folder layout."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import webdataset as wds
from typer.testing import CliRunner

from dataset_tools.cli import app
from dataset_tools.layout import MASK_KINDS, read_image, sample_path, write_npz, write_png
from dataset_tools.pack import parse_size
from dataset_tools.pack_format import decode_diff, decode_sample, encode_diff
from dataset_tools.toy import make_toy_dataset
from dataset_tools.validate import validate_dataset

runner = CliRunner()
MEMBERS = {"noshadow.webp", "shadow_diff.webp", "masks.webp", "json.gz"}


def cli(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


def files(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every image, manifest.jsonl and dataset.json under root."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*"))
            if path.is_file() and path.parts[len(root.parts)] != "passes"}


def check_pair(original: Path, restored: Path, split: str, sample_id: str) -> int:
    """Assert the restored pair keeps the exact difference; returns the clipped pixels."""
    def load(root: Path, kind: str) -> np.ndarray:
        return read_image(sample_path(root, split, kind, sample_id), "RGB").astype(np.int16)

    noshadow, shadow = load(original, "noshadow"), load(original, "shadow")
    noshadow2, shadow2 = load(restored, "noshadow"), load(restored, "shadow")
    same = (noshadow == shadow).all(axis=-1)
    assert (noshadow2 == shadow2).all(axis=-1)[same].all()
    exact = ((shadow2 - noshadow2) == (shadow - noshadow)).all(axis=-1)
    summed = noshadow2 + (shadow - noshadow)
    clipped = ((summed < 0) | (summed > 255)).any(axis=-1)
    assert (exact | clipped).all()
    return int(clipped.sum())


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Toy train 10 / val 2 / test 4 at 64x64; train samples have sregion (smask dilated, a
    faint halo of shadow there), sample 000003 clips; a passes/ file."""
    root = make_toy_dataset(tmp_path_factory.mktemp("pack") / "ds", train=10, val=2, test=4,
                            size=64, seed=3)
    for index in range(10):
        sample_id = f"{index:06d}"
        noshadow = read_image(sample_path(root, "train", "noshadow", sample_id), "RGB")
        shadow = read_image(sample_path(root, "train", "shadow", sample_id), "RGB")
        smask = read_image(sample_path(root, "train", "smask", sample_id), "L")
        sregion = cv2.dilate(smask, np.ones((5, 5), np.uint8))
        halo = (sregion > 0) & (smask == 0)
        shadow[halo] = np.clip(shadow[halo].astype(np.int16) - 2, 0, 255).astype(np.uint8)
        if sample_id == "000003":  # big differences next to black and white
            noshadow[:8, :8], shadow[:8, :8] = 250, 0
            noshadow[8:16, :8], shadow[8:16, :8] = 3, 255
            sregion[:16, :8] = 255
        for kind, image in (("noshadow", noshadow), ("shadow", shadow), ("sregion", sregion)):
            write_png(sample_path(root, "train", kind, sample_id), image)
    write_npz(root / "passes/000000.npz", object_index=np.zeros((4, 4), np.uint8))
    report = validate_dataset(root)
    assert report.valid, report.problems
    return root


@pytest.fixture(scope="module")
def packed(dataset, tmp_path_factory) -> Path:
    shards = tmp_path_factory.mktemp("shards") / "shards"
    result = cli("pack", dataset, shards, "--shard-size", "40KB")
    assert result.exit_code == 0, result.output
    assert "not packed: passes/ (1 files)" in result.stderr
    assert "kB/sample" in result.stderr and "PSNR" in result.stderr
    return shards


def test_round_trip_restores_the_layout(dataset, packed, tmp_path):
    out = tmp_path / "restored"
    result = cli("unpack", packed, out)
    assert result.exit_code == 0, result.output
    assert "restored train 10, val 2, test 4" in result.stderr
    before, after = files(dataset), files(out)
    assert sorted(before) == sorted(after)  # same splits, kinds and ids; passes/ left out
    assert after["manifest.jsonl"] == before["manifest.jsonl"]
    assert after["dataset.json"] == before["dataset.json"]
    clipped = 0
    for name in before:
        split, kind, file_name = (name.split("/") + ["", ""])[:3]
        if kind in MASK_KINDS:
            mask = read_image(out / name, "L")
            assert np.array_equal(mask, read_image(dataset / name, "L")), name
            assert set(np.unique(mask)) <= {0, 255}
        elif kind == "noshadow":
            clipped += check_pair(dataset, out, split, Path(file_name).stem)
    assert clipped > 0  # sample 000003 clips where its shadow is 0 or 255
    assert f"{clipped} shadow pixels clipped" in result.stderr
    report = validate_dataset(out)
    assert report.valid, report.problems
    assert report.counts == {"train": 10, "val": 2, "test": 4}


def test_index_and_shard_size_cap(packed):
    index = json.loads((packed / "index.json").read_text())
    shards = sorted(packed.glob("shard-*.tar"))
    assert [shard["name"] for shard in index["shards"]] == [path.name for path in shards]
    assert len(shards) >= 3
    for shard, path in zip(index["shards"], shards, strict=True):
        assert path.stat().st_size == shard["bytes"] <= 40_000
        assert len(shard["splits"]) == 1  # a shard holds one split
    assert index["splits"] == {"train": 10, "val": 2, "test": 4} and index["samples"] == 16
    assert index["codec"] == "webp" and index["quality"] == 90
    assert index["kb_per_sample"] == round(index["bytes"] / 16 / 1000, 2)
    assert 30 < index["noshadow_psnr_db"] < 80
    assert index["not_packed"] == ["passes/ (1 files)"]


def test_webdataset_reads_one_dict_per_sample(dataset, packed):
    urls = [str(path) for path in sorted(packed.glob("shard-*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    keys = [sample["__key__"] for sample in samples]
    expected = sorted(f"{p.parent.parent.name}/{p.stem}" for p in dataset.glob("*/noshadow/*"))
    assert sorted(keys) == expected and len(set(keys)) == 16
    for sample in samples:
        assert {key for key in sample if not key.startswith("__")} == MEMBERS
        decoded = decode_sample(sample)
        split, sample_id = sample["__key__"].split("/")
        assert decoded.record["id"] == sample_id and decoded.record["split"] == split
        for kind in ("mask", "robject", "rshadow", "smask"):
            assert np.array_equal(decoded.images[kind],
                                  read_image(sample_path(dataset, split, kind, sample_id), "L"))
        assert ("sregion" in decoded.images) == (split == "train")
    record = next(iter(wds.WebDataset(urls[:1], shardshuffle=False).decode()))["json.gz"]
    assert record["id"] == "000000" and record["scene"] == "toy0"


def make_hand_made(root: Path) -> None:
    """Shadow-AR as released: no smask, sregion, dataset.json or manifest; ids with dots."""
    rng = np.random.default_rng(0)
    for split, sample_id in (("train", "img.0001"), ("train", "img%2"), ("test", "a.b.c")):
        noshadow = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        shadow = noshadow.copy()
        shadow[10:20, 5:15] //= 2
        mask = np.zeros((24, 32), np.uint8)
        mask[2:8, 5:15] = 255
        for kind, image in (("noshadow", noshadow), ("shadow", shadow), ("mask", mask),
                            ("robject", np.zeros_like(mask)), ("rshadow", np.zeros_like(mask))):
            write_png(sample_path(root, split, kind, sample_id), image)


@pytest.mark.parametrize("codec", ["png", "jpeg"])
def test_hand_made_dataset_round_trips(tmp_path, codec):
    make_hand_made(tmp_path / "ds")
    assert cli("pack", tmp_path / "ds", tmp_path / "shards", "--codec", codec).exit_code == 0
    shards = sorted((tmp_path / "shards").glob("*.tar"))
    names = [name for path in shards for name in tarfile.open(path).getnames()]
    assert all("." not in name.split("/")[-1].split(".", 1)[0] for name in names)
    assert "test/a%2Eb%2Ec.json.gz" in names and "train/img%252.masks.webp" in names
    sources = [tmp_path / "shards"] if codec == "png" else shards  # a folder, or the files
    result = cli("unpack", *sources, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert sorted(files(tmp_path / "ds")) == sorted(files(tmp_path / "out"))
    assert not (tmp_path / "out/manifest.jsonl").exists()
    assert not (tmp_path / "out/dataset.json").exists()
    assert not (tmp_path / "out/train/smask").exists()
    for split, sample_id in (("train", "img.0001"), ("train", "img%2"), ("test", "a.b.c")):
        clipped = check_pair(tmp_path / "ds", tmp_path / "out", split, sample_id)
        if codec == "png":  # lossless: nothing clips, both images come back as they were
            assert clipped == 0
            for kind in ("noshadow", "shadow"):
                path = f"{split}/{kind}/{sample_id}.png"
                assert np.array_equal(read_image(tmp_path / "ds" / path, "RGB"),
                                      read_image(tmp_path / "out" / path, "RGB"))
    assert validate_dataset(tmp_path / "out").valid
    index = json.loads((tmp_path / "shards/index.json").read_text())
    assert (index["noshadow_psnr_db"] is None) == (codec == "png")


@pytest.mark.parametrize("damage", ["cut in half", "flip a byte"])
def test_damaged_shard_names_it_and_leaves_no_partial_sample(packed, tmp_path, damage):
    shards = tmp_path / "shards"
    shutil.copytree(packed, shards)
    victim = shards / "shard-000001.tar"
    data = bytearray(victim.read_bytes())
    if damage == "cut in half":
        data = data[: len(data) // 2]
    else:
        data[600] ^= 0xFF  # inside the first sample's noshadow.webp
    victim.write_bytes(bytes(data))
    result = cli("unpack", shards, tmp_path / "out")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "shard-000001.tar" in lines[0], result.stderr
    restored = {(p.parent.parent.name, p.stem) for p in (tmp_path / "out").glob("*/*/*.png")}
    for split, sample_id in restored:
        for kind in ("noshadow", "shadow", "mask", "robject", "rshadow", "smask"):
            assert sample_path(tmp_path / "out", split, kind, sample_id).is_file()
    first = json.loads((shards / "index.json").read_text())["shards"][0]["samples"]
    assert len(restored) >= first
    assert f"{len(restored)} complete samples restored before it" in lines[0]
    manifest = (tmp_path / "out/manifest.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in manifest) == sorted(i for _, i in restored)


def test_force_is_needed_to_write_into_a_non_empty_folder(dataset, packed, tmp_path):
    out = tmp_path / "shards"
    shutil.copytree(packed, out)
    result = cli("pack", dataset, out)
    assert result.exit_code == 1 and "exists and is not empty; use --overwrite" in result.stderr
    result = cli("pack", dataset, out, "--overwrite", "--shard-size", "1MB")
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in out.glob("*.tar"))  # one per split, the old ones gone
    assert names == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    (tmp_path / "restored").mkdir()
    (tmp_path / "restored/notes.txt").write_text("keep")
    result = cli("unpack", out, tmp_path / "restored")
    assert result.exit_code == 1 and "use --overwrite" in result.stderr
    assert cli("unpack", out, tmp_path / "restored", "--overwrite").exit_code == 0
    assert validate_dataset(tmp_path / "restored").valid


def test_a_sample_larger_than_the_cap_is_named(dataset, tmp_path):
    result = cli("pack", dataset, tmp_path / "shards", "--shard-size", "2KB")
    assert result.exit_code == 1
    assert "noshadow/000000.png: packed, this sample takes" in result.stderr
    assert not list((tmp_path / "shards").glob("*.tar"))


@pytest.mark.parametrize("args", [["--shard-size", "lots"], ["--codec", "gif"],
                                  ["--quality", "0"]])
def test_wrong_arguments_exit_2(dataset, tmp_path, args):
    assert cli("pack", dataset, tmp_path / "shards", *args).exit_code == 2


def test_unpack_needs_sources_and_out(tmp_path):
    assert cli("unpack", tmp_path).exit_code == 2
    result = cli("unpack", tmp_path / "nothing.tar", tmp_path / "out")
    assert result.exit_code == 1 and "nothing.tar: missing" in result.stderr


@pytest.mark.parametrize("verb", ["pack", "unpack"])
def test_help_has_examples(verb):
    result = cli(verb, "--help")
    assert result.exit_code == 0 and "Example" in result.output


def test_parse_size():
    assert parse_size("60MB") == 60_000_000 and parse_size("500KB") == 500_000
    assert parse_size("1GB") == 10**9 and parse_size("64MiB") == 2**26
    assert parse_size("1.5kb") == 1500 and parse_size("4096") == 4096
    for bad in ("", "MB", "-1MB", "12 parsecs"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_diff_is_exact_over_the_whole_range():
    rng = np.random.default_rng(1)
    noshadow = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    shadow = noshadow.copy()
    shadow[3:9, 4:12] = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # spans -255..255
    shadow[3, 4], noshadow[3, 4] = (0, 255, 7), (255, 0, 7)
    data, box, offset = encode_diff(noshadow, shadow)
    assert box == [4, 3, 12, 9]
    diff = decode_diff(data, box, offset, (20, 30))
    assert np.array_equal(diff, shadow.astype(np.int16) - noshadow)
    data, box, offset = encode_diff(noshadow, noshadow)
    assert box == [0, 0, 1, 1] and not decode_diff(data, box, offset, (20, 30)).any()
