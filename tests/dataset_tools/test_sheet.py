"""dataset_tools.sheet: the contact sheet of `shadow-dataset inspect`."""

from __future__ import annotations

from dataset_tools.layout import read_image
from tests.helpers import make_dataset, run_cli


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
    assert again.returncode == 1 and "use --overwrite" in again.stderr
    forced = run_cli("inspect", str(tmp_path / "d"), "--random", "2", "--tile", "32", "--out",
                     str(out), "--overwrite")
    assert forced.returncode == 0 and read_image(out, "RGB").shape[0] == 22 + 2 * 32
    missing = run_cli("inspect", str(tmp_path / "d"), "--ids", "zz", "--out", str(out))
    assert missing.returncode == 1 and "no sample zz" in missing.stderr
