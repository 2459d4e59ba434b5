"""Bad inputs to shadow-dataset (issue 28): merge prefixes that are not ids, an import with a
bad file, manifest lines nested too deep to parse, DESOBA name lists that are not text, and
numeric options out of their domain; each is one line, exit 2 for arguments, 1 for files."""

from __future__ import annotations

import json

import pytest

from dataset_tools.toy import make_toy_dataset
from dataset_tools.validate import validate_dataset
from tests.dataset_tools.test_combine import make_desoba, plain_shadow_ar
from tests.helpers import files, make_dataset, one_line, sample_ids


@pytest.mark.parametrize("bad", ["../../evil", "a/b", "", "..", ".hidden", "-x", "a b", "é"])
def test_a_merge_prefix_that_is_not_an_id_is_an_argument_error(tmp_path, shadow_dataset, bad):
    make_dataset(tmp_path / "d1", ids=("a", "b"))
    make_dataset(tmp_path / "d3", ids=("c",))
    out = tmp_path / "x" / "y" / "out"
    code, output = shadow_dataset("merge", tmp_path / "d1", tmp_path / "d3", out,
                                  "--prefix", bad, "--prefix", "b")
    assert code == 2 and "--prefix" in one_line(output) and repr(bad) in output, output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["d1", "d3"]


def test_merge_refuses_equal_prefixes_and_prefixes_that_make_ids_collide(tmp_path,
                                                                         shadow_dataset):
    make_dataset(tmp_path / "d1", ids=("b_c",))
    make_dataset(tmp_path / "d2", ids=("c",))
    out = tmp_path / "out"
    for prefixes, said in ((("a", "a"), "given to two sources"),
                           (("a", "a_b"), "would both become a_b_c")):
        code, output = shadow_dataset("merge", tmp_path / "d1", tmp_path / "d2", out,
                                      "--prefix", prefixes[0], "--prefix", prefixes[1])
        assert code == 2 and said in one_line(output), output
    assert not out.exists()
    make_dataset(tmp_path / "my data", ids=("d",))
    code, output = shadow_dataset("merge", tmp_path / "d1", tmp_path / "my data", out)
    assert code == 2 and "'my data'" in one_line(output) and "the folder's name" in output
    assert not out.exists()


def test_import_leaves_out_a_sample_with_a_bad_file_and_lists_it(tmp_path, shadow_dataset):
    source = tmp_path / "src"
    plain_shadow_ar(source)
    make_dataset(source, ids=("4", "5", "6"), split="train")
    for path in source.glob("train/smask"):
        for mask in path.iterdir():
            mask.unlink()
        path.rmdir()
    bad = source / "train/shadow/2.png"
    bad.write_bytes(b"not a png")
    out = tmp_path / "out"
    code, output = shadow_dataset("import", source, out)
    assert code == 0, output
    warnings = [line for line in output.splitlines() if line.startswith("warning")]
    assert warnings == [f"warning: {bad}: not a readable image; left out"]
    assert "1 samples left out for a bad file" in output
    assert sample_ids(out) == {"1", "3", "4", "5", "6"}
    manifest = sorted(json.loads(line)["id"] for line in (out / "manifest.jsonl").open())
    assert manifest == ["1", "3", "4", "5", "6"]
    assert validate_dataset(out).valid


def test_import_desoba_leaves_out_an_image_with_a_bad_file(tmp_path, shadow_dataset):
    make_desoba(tmp_path / "desoba")
    bad = tmp_path / "desoba/DeshadowedImage/img_b.png"
    bad.write_bytes(b"broken")
    code, output = shadow_dataset("import", tmp_path / "desoba", tmp_path / "out", "--format",
                                  "desoba")
    assert code == 0 and f"warning: {bad}: not a readable image" in output, output
    assert sample_ids(tmp_path / "out") == {"img_a_1", "img_a_2"}
    assert validate_dataset(tmp_path / "out").valid
    for names in tmp_path.glob("desoba/*_list.txt"):  # without lists, every image trains
        names.unlink()
    code, output = shadow_dataset("import", "--format", "desoba", "--as-scenes",
                                  tmp_path / "scenes", tmp_path / "desoba")
    assert code == 0 and f"warning: {bad}: not a readable image" in output, output
    assert "1 images left out for a bad file" in output
    assert sorted(path.name for path in (tmp_path / "scenes").glob("*.json")) == ["img_a.json"]


def test_validate_calls_an_output_without_its_manifest_invalid(tmp_path):
    dataset = make_toy_dataset(tmp_path / "DS", train=2, test=1, size=32)
    (dataset / "manifest.jsonl").unlink()
    report = validate_dataset(dataset)
    assert not report.valid
    assert [problem.path for problem in report.errors] == [str(dataset)]
    assert "no manifest.jsonl" in report.errors[0].message
    hand_made = tmp_path / "hand"
    make_dataset(hand_made)  # no manifest, no dataset.json: as Shadow-AR is released
    assert validate_dataset(hand_made).valid


def test_a_manifest_line_nested_too_deep_is_an_unparsable_line_in_every_verb(tmp_path,
                                                                             shadow_dataset):
    dataset = make_toy_dataset(tmp_path / "DS", train=4, test=2, size=32)
    manifest = dataset / "manifest.jsonl"
    deep = '{"id": "000000", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([deep, *lines]) + "\n")
    said = f"{manifest}: line 1 is not a manifest record (cannot be parsed)"
    report = validate_dataset(dataset)
    assert [f"{problem.path}: {problem.message}" for problem in report.errors] == [said]
    for args in (["stats", dataset], ["pack", dataset, tmp_path / "shards"],
                 ["merge", dataset, dataset, tmp_path / "M", "--prefix", "a", "--prefix",
                  "b"], ["validate", dataset]):
        code, output = shadow_dataset(*args)
        assert code == (1 if args[0] == "validate" else 0) and "Traceback" not in output, \
            (args, output)
    assert f"warning: {said}; it is dropped" in shadow_dataset(
        "merge", dataset, dataset, tmp_path / "M2", "--prefix", "a", "--prefix", "b")[1]
    code, output = shadow_dataset("split", dataset, "--by", "none", "--test", "0.5")
    assert code == 0 and f"warning: {said}; it is dropped" in output, output
    assert validate_dataset(dataset).valid


def test_a_dataset_json_or_index_json_nested_too_deep_is_read_as_unreadable(tmp_path,
                                                                             shadow_dataset):
    dataset = make_toy_dataset(tmp_path / "DS", train=2, test=1, size=16)
    assert shadow_dataset("pack", dataset, tmp_path / "shards")[0] == 0
    deep = "[" * 100_000 + "]" * 100_000
    (dataset / "dataset.json").write_text(deep)
    assert validate_dataset(dataset).valid  # an unreadable dataset.json records no split rule
    index = tmp_path / "shards/index.json"
    index.write_text(deep)
    code, output = shadow_dataset("unpack", tmp_path / "shards", tmp_path / "out")
    assert code == 1 and one_line(output).startswith(f"error: {index}: not a pack index")


@pytest.mark.parametrize("content", [b"img_a.png\ncaf\xe9.png\n", bytes(range(256))],
                         ids=["latin-1", "binary"])
def test_a_desoba_name_list_that_is_not_utf8_text_is_one_line(tmp_path, shadow_dataset,
                                                              content):
    make_desoba(tmp_path / "desoba")
    names = tmp_path / "desoba/Training_list.txt"
    names.write_bytes(content)
    code, output = shadow_dataset("import", tmp_path / "desoba", tmp_path / "out", "--format",
                                  "desoba")
    assert code == 1 and one_line(output) == \
        f"error: {names}: not a text list of image names (UTF-8, one a line)"
    assert not (tmp_path / "out").exists()


OPTIONS = [["inspect", "D", "--random", "-3"], ["inspect", "D", "--random", "0"],
           ["inspect", "D", "--seed", "-1"], ["validate", "D", "--tolerance", "nan"],
           ["validate", "D", "--tolerance", "-1"], ["validate", "D", "--show", "-1"],
           ["masks", "D", "--sigma", "nan"], ["masks", "D", "--gray-threshold", "300"],
           ["masks", "D", "--visible-fraction", "nan"], ["masks", "D", "--min-area", "-1"],
           ["split", "D", "--test", "nan"], ["split", "D", "--val", "-0.1"],
           ["split", "D", "--test", "0.9", "--val", "0.9"],
           ["split", "D", "--test", "0.5", "--val", "0.5"],
           ["import", "D", "OUT", "--gray-threshold", "-1"],
           ["import", "D", "OUT", "--gray-threshold", "nan"],
           ["pack", "D", "OUT", "--shard-size", "inf"],
           ["pack", "D", "OUT", "--shard-size", "nanMB"],
           ["pack", "D", "OUT", "--quality", "0"]]


@pytest.mark.parametrize("args", OPTIONS, ids=[" ".join(args[:1] + args[-2:]) for args in OPTIONS])
def test_a_numeric_option_out_of_its_domain_is_one_line_and_exit_2(tmp_path, shadow_dataset,
                                                                   args):
    dataset = make_toy_dataset(tmp_path / "D", train=4, test=2, size=32)
    before = files(dataset)
    code, output = shadow_dataset(*[tmp_path / arg if arg in ("D", "OUT") else arg
                                    for arg in args])
    line = one_line(output)
    assert code == 2 and line.startswith("error: ") and args[-2] in line, output
    assert files(dataset) == before and not (tmp_path / "OUT").exists()


def test_split_shares_must_leave_train_a_part(tmp_path, shadow_dataset):
    dataset = make_toy_dataset(tmp_path / "D", train=24, test=6, size=16)
    before = files(dataset)
    code, output = shadow_dataset("split", dataset, "--test", "0.9", "--val", "0.9")
    assert code == 2 and "below 1" in one_line(output), output
    assert files(dataset) == before
    assert shadow_dataset("split", dataset, "--test", "0.5", "--val", "0.4", "--by",
                          "none")[0] == 0
    assert all(count > 0 for count in (len(list(dataset.glob(f"{split}/noshadow/*.png")))
                                       for split in ("train", "val", "test")))


@pytest.mark.parametrize("verb", ["import", "merge", "unpack"])
def test_a_run_stopped_before_its_manifest_leaves_a_folder_validate_calls_invalid(
        tmp_path, monkeypatch, verb):
    from dataset_tools import combine, pack_reader
    from dataset_tools.combine import import_shadow_ar, merge
    from dataset_tools.pack import PackConfig, pack_dataset
    from dataset_tools.pack_reader import unpack_shards

    dataset = make_toy_dataset(tmp_path / "DS", train=3, test=1, size=16)
    pack_dataset(PackConfig(dataset, tmp_path / "shards", 10**6))
    written: list[int] = []

    def killed_after_one(real):
        def write(*args, **kwargs):
            if len(written) >= 7:  # a sample's files, then Ctrl-C
                raise KeyboardInterrupt
            written.append(1)
            return real(*args, **kwargs)
        return write

    module = pack_reader if verb == "unpack" else combine
    name = "write_png" if verb == "unpack" else "copy_file"
    monkeypatch.setattr(module, name, killed_after_one(getattr(module, name)))
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        if verb == "import":
            import_shadow_ar(dataset, out)
        elif verb == "merge":
            merge([dataset, dataset], out, ["a", "b"])
        else:
            unpack_shards([tmp_path / "shards"], out)
    assert sample_ids(out) and not (out / "manifest.jsonl").exists()
    report = validate_dataset(out)
    assert not report.valid and "no manifest.jsonl" in report.errors[-1].message
