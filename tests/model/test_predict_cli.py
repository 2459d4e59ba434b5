"""predict from the command line with the shipped pretrained model on 64x64 toy photos: it
never writes over its inputs, names the bad input, refuses huge images from their header,
stops cleanly on Ctrl-C, takes a light per image, draws a contact sheet, keeps formats."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import model.cli
import model.predict
from model.cli import app
from tests.dataset_tools.test_image_header import huge_png

pytest.importorskip("segmentation_models_pytorch")


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def lines(output: str) -> list[str]:
    """The output's lines but the notices of the pretrained model and the estimated light."""
    return [line for line in output.strip().splitlines()
            if line.strip() and not line.startswith(("using the pretrained model",
                                                     "light: estimated"))]


def one_error(output: str) -> str:
    found = lines(output)
    assert len(found) == 1 and "Traceback" not in output, output
    return found[0]


@pytest.fixture
def photos(toy_dataset, tmp_path) -> tuple[Path, Path]:
    """A copy of two toy test photos (PNG) and their masks: (images, masks) folders."""
    images, masks = tmp_path / "photos", tmp_path / "masks"
    for folder, kind in ((images, "noshadow"), (masks, "mask")):
        folder.mkdir()
        for name in ("000012.png", "000013.png"):
            shutil.copy(toy_dataset / "test" / kind / name, folder / name)
    return images, masks


def contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def test_an_output_folder_that_is_or_holds_an_input_is_refused(photos, tmp_path):
    images, masks = photos
    before = contents(images), contents(masks)
    common = ["predict", "--device", "cpu", "--overwrite"]
    for image_arg, mask_arg, out in ((images, images, images), (images, masks, masks),
                                     (images, masks, tmp_path),
                                     (images / "000012.png", masks / "000012.png", images)):
        code, output = cli(*common, "--images", image_arg, "--masks", mask_arg, "--out", out)
        line = one_error(output)
        assert code == 2 and line.startswith(f"error: {out}: the output folder "), output
    assert (contents(images), contents(masks)) == before
    # the folders are listed, not walked: an output folder inside one is harmless
    code, output = cli(*common, "--images", images, "--masks", masks, "--out", images / "out")
    assert code == 0, output
    assert contents(images) == before[0] and contents(images / "out").keys() == before[0].keys()


def test_images_that_are_no_folder_are_named_and_two_masks_for_a_photo_refused(photos,
                                                                                  tmp_path):
    images, masks = photos
    code, output = cli("predict", "--images", "/dev/null", "--masks", masks, "--out",
                       tmp_path / "out", "--device", "cpu")
    assert code == 1 and one_error(output) == ("error: /dev/null: not a folder of images, nor "
                                               "an image file")
    cv2.imwrite(str(masks / "000013.jpg"), cv2.imread(str(masks / "000013.png")))
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "out", "--device", "cpu")
    line = one_error(output)
    assert code == 1 and "000013.jpg" in line and "000013.png" in line, output
    (masks / "000013.jpg").unlink()
    cv2.imwrite(str(images / "000012.jpg"), cv2.imread(str(images / "000012.png")))
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "out", "--device", "cpu", "--format", "png")
    line = one_error(output)
    assert code == 1 and "two photos named 000012: 000012.jpg and 000012.png" in line, output
    assert not (tmp_path / "out").exists()


def test_an_image_above_the_pixel_limit_is_refused_from_its_header(photos, tmp_path):
    images, masks = photos
    huge = huge_png(images / "huge.png", 20000, 20000)
    huge_png(masks / "huge.png", 20000, 20000)
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "out", "--device", "cpu")
    line = one_error(output)
    assert code == 1 and line.startswith(f"error: {huge}: 20000x20000 is 400 megapixels, "
                                         "above --max-pixels 50000000"), output
    assert not (tmp_path / "out").exists()  # refused before any image was written
    huge.unlink()
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "out", "--device", "cpu", "--max-pixels", 4000)
    assert code == 1 and "64x64 is 0 megapixels, above --max-pixels 4000" in one_error(output)


def test_ctrl_c_says_how_many_were_written_and_leaves_no_partial_file(photos, tmp_path,
                                                                      monkeypatch):
    images, masks = photos
    real, calls = model.predict.predict_any_size, []

    def interrupted_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(model.predict, "predict_any_size", interrupted_second_time)
    out = tmp_path / "out"
    code, output = cli("predict", "--images", images, "--masks", masks, "--out", out,
                       "--device", "cpu", "--batch-size", 1)
    assert code == 130, output
    assert one_error(output).startswith(f"interrupted: 1 images written to {out}, each "
                                        "complete"), output
    assert [path.name for path in out.iterdir()] == ["000012.png"]


def test_a_light_per_image_from_a_json_or_csv_file(photos, tmp_path):
    images, masks = photos
    json_file = tmp_path / "lights.json"
    json_file.write_text(json.dumps({"000012.png": {"direction": 135, "elevation": 30,
                                                    "softness": 0.2}}))
    csv_file = tmp_path / "lights.csv"
    csv_file.write_text("image,direction,elevation,softness\n000012,135,30,0.2\n")
    for lights in (json_file, csv_file):
        out = tmp_path / f"out-{lights.suffix[1:]}"
        code, output = cli("predict", "--images", images, "--masks", masks, "--out", out,
                           "--device", "cpu", "--lights", lights, "--save-light",
                           "--shadow-direction", 45)
        assert code == 0, output
        named = json.loads((out / "light" / "000012.json").read_text())
        other = json.loads((out / "light" / "000013.json").read_text())
        assert named["source"] == "given" and named["direction_deg"] == pytest.approx(135)
        assert named["elevation_deg"] == pytest.approx(30)
        assert named["softness"] == pytest.approx(0.2)
        assert other["source"] == "given" and other["direction_deg"] == pytest.approx(45)
        assert other["elevation_deg"] == pytest.approx(45)  # the command line's default
    typo = tmp_path / "typo.csv"
    typo.write_text("image,direction\n000012,135\n00013,90\n")
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "typo-out", "--device", "cpu", "--lights", typo)
    assert code == 0 and (f"warning: {typo}: 1 entries name no image of {images} (first: "
                          "'00013')") in output, output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"000013": {"direction": 90, "softness": 2}}))
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "bad-out", "--device", "cpu", "--lights", bad)
    assert code == 1 and one_error(output) == (f"error: {bad}: entry '000013': softness 2, "
                                               "expected a value in [0, 1]")


def test_a_contact_sheet_shows_input_shadowed_and_matte(photos, tmp_path):
    images, masks = photos
    sheet = tmp_path / "sheet.png"
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "out", "--device", "cpu", "--sheet", sheet)
    assert code == 0 and f"contact sheet {sheet}" in output, output
    picture = cv2.imread(str(sheet))
    assert picture.shape == (22 + 2 * 256, 3 * 256, 3)
    # the first row's input tile is the photo, scaled from 64 to 256
    photo = cv2.resize(cv2.imread(str(images / "000012.png")), (256, 256),
                       interpolation=cv2.INTER_AREA)
    assert np.abs(picture[22 + 30:22 + 256, :256].astype(int)
                  - photo[30:].astype(int)).mean() < 2
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "out", "--device", "cpu", "--sheet", sheet)
    assert code == 1 and one_error(output) == (f"error: {sheet}: exists; use --overwrite "
                                               "to replace it")


def test_outputs_keep_the_input_format_unless_told(photos, tmp_path):
    images, masks = photos
    photo = cv2.imread(str(images / "000013.png"))
    (images / "000013.png").unlink()
    cv2.imwrite(str(images / "000013.jpg"), photo)
    out = tmp_path / "same"
    code, output = cli("predict", "--images", images, "--masks", masks, "--out", out,
                       "--device", "cpu")
    assert code == 0, output
    assert sorted(path.name for path in out.iterdir()) == ["000012.png", "000013.jpg"]
    assert (out / "000012.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "000013.jpg").read_bytes()[:2] == b"\xff\xd8"
    for fmt, signature in (("png", b"\x89PNG"), ("jpg", b"\xff\xd8")):
        out = tmp_path / fmt
        code, output = cli("predict", "--images", images, "--masks", masks, "--out", out,
                           "--device", "cpu", "--format", fmt)
        assert code == 0, output
        names = sorted(path.name for path in out.iterdir())
        assert names == [f"000012.{fmt}", f"000013.{fmt}"]
        assert all((out / name).read_bytes()[:len(signature)] == signature for name in names)


def test_a_progress_bar_on_a_terminal_only(photos, tmp_path, monkeypatch):
    images, masks = photos
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "piped", "--device", "cpu")
    assert code == 0 and "predicting" not in output and len(lines(output)) == 1, output
    screen = io.StringIO()
    monkeypatch.setattr(model.cli, "console", Console(file=screen, force_terminal=True,
                                                      width=100))
    code, output = cli("predict", "--images", images, "--masks", masks, "--out",
                       tmp_path / "terminal", "--device", "cpu")
    assert code == 0, output
    assert "predicting" in screen.getvalue() and "100%" in screen.getvalue()


def test_a_lights_file_nested_too_deep_is_one_line(tmp_path):
    from dataset_tools.layout import DatasetError
    from model.light_file import read_lights

    deep = tmp_path / "lights.json"
    deep.write_text("{" + '"a":{' * 100_000 + "}" * 100_001)
    with pytest.raises(DatasetError, match="nested too deeply") as caught:
        read_lights(deep)
    assert str(deep) in str(caught.value)
