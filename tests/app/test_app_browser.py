"""End to end in a real browser: ``facevlm app`` serves the page, Chromium drives it.

The real server is started the way a user starts it (``facevlm app --server.port <free>
--server.headless true``) in a tiny real project, and Playwright drives Debian's Chromium
(``/usr/bin/chromium``; no browser download): upload a textured ``.wrl`` scan with its texture
and see the prediction and its chart; upload a 4D ``.zip`` and see the sequence prediction and
the per-frame chart; upload a zip-slip archive and see the message, with the page still
serving; upload the scan without its texture and see "Can't tell" with the reason and the
candidates instead of an answer. Screenshots are written under the test's temporary folder.

Never skipped: the README's test command installs ``chromium`` where it is missing (CI).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tiny_project import zip_slip

CHROMIUM = os.environ.get("FACEVLM_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_MS = 180_000  # first prediction: model load and renderer warm-up on a busy CPU


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_project, tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "facevlm.commands", "app"]
            + ["--server.port", str(port), "--server.headless", "true"]
            + ["--server.address", "127.0.0.1"],
            cwd=tiny_project,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"facevlm app did not come up:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)
    yield url
    # killed, not stopped: the test checks the page, not the server's shutdown, and Streamlit's
    # orderly stop with a session open takes seconds of the suite (the server starts no process
    # of its own that a kill would leave behind)
    process.kill()
    process.wait(timeout=30)


def test_upload_scan_sequence_zip_slip_and_cant_tell_in_chromium(server, scans, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).is_file(), (
        f"{CHROMIUM} is missing: `apt-get install -y chromium` (the README's test command does)"
    )
    slip = zip_slip(tmp_path / "slip.zip")
    scan = scans / "scan"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            # actions too (Playwright's own default is 30 s): on a loaded CPU the page's
            # uploader may take longer than that to appear after its title
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server)
            expect(page.get_by_text("Facial expression from a 3D or 4D face scan")).to_be_visible(
                timeout=TIMEOUT_MS
            )
            uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
            uploader.set_input_files([scan / "F0001_HA04WH_F3D.wrl", scan / "F0001_HA04WH_F3D.bmp"])
            expect(page.get_by_text("Predicted expression (scan)")).to_be_visible(
                timeout=TIMEOUT_MS
            )
            expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
            expect(page.locator('[data-testid="stImage"]').first).to_be_visible()
            page.screenshot(path=tmp_path / "scan.png", full_page=True)

            uploader.set_input_files(scans / "sequence.zip")
            expect(page.get_by_text("Predicted expression (sequence)")).to_be_visible(
                timeout=TIMEOUT_MS
            )
            per_frame = page.get_by_text("Per-frame probabilities over time")
            per_frame.scroll_into_view_if_needed()
            expect(per_frame).to_be_visible()
            # three charts: the scan's probabilities, the sequence's, the sequence over time
            charts = page.locator('[data-testid="stVegaLiteChart"]')
            expect(charts.nth(2)).to_be_visible(timeout=TIMEOUT_MS)
            page.screenshot(path=tmp_path / "sequence.png", full_page=True)

            uploader.set_input_files(slip)
            expect(page.get_by_text("slip.zip: member '../../evil.wrl'")).to_be_visible(
                timeout=TIMEOUT_MS
            )
            expect(page.get_by_text("Predicted expression (sequence)")).to_be_visible()
            page.screenshot(path=tmp_path / "zip_slip.png", full_page=True)

            # the scan without its texture, asked of a texture-trained model: it cannot tell
            # (a new session: the uploader keeps adding files, and this one must come alone)
            page.goto(server)
            uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
            uploader.set_input_files([scan / "F0001_HA04WH_F3D.wrl"])
            cant_tell = page.locator('[data-testid="stAlert"]').filter(has_text="Can't tell")
            expect(cant_tell).to_be_visible(timeout=TIMEOUT_MS)
            expect(cant_tell).to_contain_text(
                "unfamiliar input: untextured scan, model trained on textured scans"
            )
            expect(cant_tell).to_contain_text("Candidates: ")
            expect(page.get_by_text("Unfamiliar input", exact=True)).to_be_visible()
            expect(page.get_by_text("Predicted expression")).to_have_count(0)
            page.screenshot(path=tmp_path / "cant_tell.png", full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "zip_slip.png").stat().st_size > 10_000
