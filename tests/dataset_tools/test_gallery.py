"""dataset_tools.gallery: the HTML gallery loads in a real headless browser."""

from __future__ import annotations

import shutil
import subprocess

from tests.helpers import run_cli, with_manifest


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
