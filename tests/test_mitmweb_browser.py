"""The diagnosis as a mitmweb user sees it, checked in a real browser.

A real ``mitmweb`` with the addon proxies two boto3/requests calls to the local AWS-like
endpoint (scripts/fakeaws.py): a valid ``CreateBucket`` and a presigned PUT sent without
the Content-Type it signed (403 SignatureDoesNotMatch). Headless Chromium, driven by
Playwright, then opens the mitmweb UI and checks what the page shows:

- the flow list (mitmweb started with ``web_columns`` including ``comment``, as the
  README's quick start says) shows the failing flow with the :x: marker and its one-line
  diagnosis in the comment column, code and fix first, and no marker on the valid flow;
- the flow's Comment tab shows the diagnosis (``SIGNED_HEADER_MISSING``), the same text
  the REST API returns for the flow;
- choosing "aws signature" in the request's view dropdown shows the "AWS Signature" view:
  the headline and its fix first, then the canonical request as signed beside as
  received, the differing line marked ``≠``, every line wrapped to fit at 1440 px.

It needs Debian's ``/usr/bin/chromium`` and the Python ``playwright`` package (run
``bash scripts/install-browser``) and is skipped without them; Playwright never downloads
a browser here. With ``SIGV4_SCREENSHOT=1`` the screenshots are written to
``docs/mitmweb.png`` (the flow list) and ``docs/mitmweb-diff.png`` (the view's comparison),
the README's pictures, otherwise into the test's tmp dir.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from sigv4_testsupport import fakeaws
from sigv4_testsupport.paths import ROOT
from sigv4_testsupport.proxyharness import clean_aws_env, local_client

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
MITMWEB = Path(sys.executable).parent / "mitmweb"
K1 = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
UI_TIMEOUT_MS = 10_000

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)),
        reason="needs Debian's /usr/bin/chromium: run `bash scripts/install-browser`",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="needs the playwright Python package: run `bash scripts/install-browser`",
    ),
    pytest.mark.skipif(not MITMWEB.exists(), reason=f"mitmweb not found at {MITMWEB}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class MitmWeb:
    """A running mitmweb: its proxy port, web UI address, password and log."""

    proc: subprocess.Popen[bytes]
    proxy_port: int
    web_port: int
    password: str
    confdir: Path
    log_path: Path

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def ca(self) -> str:
        return str(self.confdir / "mitmproxy-ca-cert.pem")

    @property
    def ui_url(self) -> str:
        # The token query parameter logs the browser in (and sets mitmweb's auth cookie).
        return f"http://127.0.0.1:{self.web_port}/?token={self.password}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, path: str) -> Any:
        """GET a JSON resource of mitmweb's REST API (authenticated with the password)."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}{path}",
            headers={"Authorization": f"Bearer {self.password}"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_mitmweb(tmp: Path, env: dict[str, str], *args: str, timeout: float = 30) -> MitmWeb:
    """mitmweb -s addons/sigv4.py, proxy on a free port, web UI on 127.0.0.1:<free port>,
    protected by a random web_password (mitmweb 12 always requires a password or token)."""
    confdir = tmp / "mitm-conf"
    confdir.mkdir(exist_ok=True)
    log_path = tmp / "mitmweb.log"
    password = secrets.token_hex(16)
    for _attempt in range(3):
        proxy_port, web_port = _free_port(), _free_port()
        cmd = [
            str(MITMWEB),
            "-s",
            str(ROOT / "addons" / "sigv4.py"),
            "--set",
            f"confdir={confdir}",
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(proxy_port),
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(web_port),
            "--no-web-open-browser",
            "--set",
            f"web_password={password}",
            *args,
        ]
        with open(log_path, "wb") as fh:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(tmp))
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None:
            text = log_path.read_text(errors="replace")
            if "proxy listening at" in text and "Web server listening at" in text:
                return MitmWeb(proc, proxy_port, web_port, password, confdir, log_path)
            if "in use" in text:  # lost the race for a free port
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if "in use" not in log_path.read_text(errors="replace"):
            break  # a real failure, not a lost race for a free port: do not retry
    raise RuntimeError(f"mitmweb did not start:\n{log_path.read_text(errors='replace')}")


@pytest.fixture
def mitmweb_env(tmp_path: Path) -> Iterator[tuple[MitmWeb, fakeaws.FakeAWS]]:
    """fakeaws in-process and a mitmweb in front of it, with the example key as the
    user's default profile; both stopped afterwards."""
    (tmp_path / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {K1[0]}\naws_secret_access_key = {K1[1]}\n"
    )
    server = fakeaws.start_fakeaws(tmp_path / "fakeaws-certs", credentials=dict([K1]))
    web: MitmWeb | None = None
    try:
        web = start_mitmweb(
            tmp_path,
            clean_aws_env(tmp_path),
            # trust fakeaws's CA upstream (instead of ssl_insecure, which mitmweb flags)
            "--set",
            f"ssl_verify_upstream_trusted_ca={server.ca_path}",
            # the comment column puts the diagnosis into the flow list (a list option
            # takes one --set per item)
            *(a for col in WEB_COLUMNS for a in ("--set", f"web_columns={col}")),
        )
        yield web, server
    finally:
        if web is not None:
            web.stop()
        server.stop()


WEB_COLUMNS = ("tls", "icon", "path", "method", "status", "comment", "size", "time")


def _screenshot_path(tmp: Path, name: str) -> Path:
    """docs/NAME with SIGV4_SCREENSHOT=1 (the README's pictures), else the tmp dir."""
    if os.environ.get("SIGV4_SCREENSHOT") == "1":
        path = ROOT / "docs" / name
        path.parent.mkdir(exist_ok=True)
        return path
    return tmp / name


def _send_traffic(web: MitmWeb, server: fakeaws.FakeAWS) -> str:
    """A valid CreateBucket, then the presigned PUT without its signed Content-Type.
    Returns the failing request's path."""
    s3 = local_client(
        "s3",
        server.https_port,
        web.proxy_url,
        web.ca,
        key=K1[0],
        secret=K1[1],
        signature_version="s3v4",
    )
    s3.create_bucket(Bucket="reports")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "reports", "Key": "q3.csv", "ContentType": "text/csv"}
    )
    bad = requests.put(
        url, data=b"a,b\n", proxies={"https": web.proxy_url}, verify=web.ca, timeout=10
    )
    assert bad.status_code == 403, bad.text
    return "/reports/q3.csv"


def _wait_annotated(web: MitmWeb, path: str, timeout: float = 10) -> dict[str, Any]:
    """The failing flow as mitmweb's REST API has it, once the addon has commented it."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for fl in web.api("/flows"):
            if fl["request"]["path"].startswith(path) and fl.get("comment"):
                return dict(fl)
        time.sleep(0.1)
    raise AssertionError(f"no commented flow for {path}; mitmweb log:\n{web.output()[-3000:]}")


def _drag(page: Page, selector: str, to_x: float) -> None:
    """Drag an element (mitmweb's splitter, a column's resize handle) to x = ``to_x``."""
    box = page.locator(selector).bounding_box()
    if box is None:
        return
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(to_x, y, steps=8)
    page.mouse.up()


def _no_horizontal_overflow(page: Page, selector: str) -> None:
    """The element's text fits its width: nothing is cut off or hidden behind a scrollbar."""
    fits = page.eval_on_selector(selector, "el => el.scrollWidth <= el.clientWidth + 1")
    assert fits, f"{selector} is wider than its box (text cut off)"


def test_mitmweb_shows_diagnosis(
    mitmweb_env: tuple[MitmWeb, fakeaws.FakeAWS], tmp_path: Path
) -> None:
    """Flow list (comment column: code and fix first), Comment tab and the AWS Signature
    view (headline, fix, the canonical request as signed beside as received, the differing
    line marked), as the browser renders them at 1440 px."""
    from playwright.sync_api import expect, sync_playwright

    web, server = mitmweb_env
    path = _send_traffic(web, server)
    flow = _wait_annotated(web, path)
    comment: str = flow["comment"]
    assert comment.startswith("SIGNED_HEADER_MISSING -> Send the header Content-Type: text/csv")
    assert "| The presigned URL signed content-type: text/csv" in comment, comment
    assert flow["marked"] == "❌", flow["marked"]  # the API renders :x: as its emoji
    api_view = web.api(f"/flows/{flow['id']}/request/content/aws%20signature.json")
    assert api_view["view_name"] == "AWS Signature"
    text = api_view["text"]
    assert text.startswith("SIGNED_HEADER_MISSING (error)"), text[:200]
    assert "Canonical request compared:" in text and "Canonical request:" in text
    assert max(len(line) for line in text.splitlines()) <= 84  # wrapped: nothing cut off
    marked = [line for line in text.splitlines() if line.startswith("\u2260 ")]
    assert len(marked) == 1 and "content-type:text/csv" in marked[0], marked

    shot_list = _screenshot_path(tmp_path, "mitmweb.png")
    shot_view = _screenshot_path(tmp_path, "mitmweb-diff.png")
    browser_env: dict[str, str | float | bool] = {**clean_aws_env(tmp_path)}
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # fresh profile every run
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1120},
            env=browser_env,
        )
        try:
            ctx.set_default_timeout(UI_TIMEOUT_MS)
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.goto(web.ui_url)

            # Flow list: two flows; the failing one carries the marker, and the comment
            # column starts with the code and the fix.
            rows = page.locator(".flow-table tbody tr.has-request")
            expect(rows).to_have_count(2)
            bad_row = rows.filter(has_text=path)
            good_row = rows.filter(has_text="/reports").filter(has_not_text="q3.csv")
            expect(bad_row.locator(".marker")).to_have_text("❌")
            expect(bad_row.locator(".col-status")).to_have_text("403")
            expect(bad_row.locator(".col-comment")).to_contain_text(
                "SIGNED_HEADER_MISSING -> Send the header Content-Type: text/csv"
            )
            expect(good_row.locator(".col-comment")).to_have_text("SigV4 valid")
            expect(good_row).not_to_contain_text("❌")

            # Select the flow: its Comment tab shows the one-line diagnosis.
            bad_row.click()
            detail = page.locator(".flow-detail")
            expect(detail).to_be_visible()
            detail.locator("nav a", has_text="Comment").click()
            expect(detail.locator("section")).to_contain_text(comment)

            # Request tab: choose "aws signature" in the view dropdown.
            detail.locator("nav a", has_text="Request").click()
            view = detail.locator(".contentview")
            view.locator(".controls a", has_text="View:").click()
            view.locator("ul.dropdown-menu a", has_text="aws signature").click()
            expect(view.locator(".controls")).to_contain_text("View: aws signature")
            expect(view.locator(".controls h5")).to_have_text("AWS Signature")
            pre = view.locator("pre")
            lines = pre.locator("> div")
            expect(lines.first).to_have_text("SIGNED_HEADER_MISSING (error)")
            expect(pre).to_contain_text("Fix: Send the header Content-Type: text/csv")
            expect(pre).to_contain_text("Verdict:        invalid")
            expect(pre).to_contain_text("Canonical request compared:")
            expect(pre).to_contain_text("what the signature covers (as signed)")
            expect(pre).to_contain_text("as the proxy received it")
            expect(lines.filter(has_text="\u2260 content-type:text/csv")).to_have_count(1)
            expect(pre).to_contain_text("[error] SERVER_REJECTED")
            expect(pre).to_contain_text("content-type;host")  # the signed-headers line
            shown = pre.inner_text()
            assert K1[1] not in shown and K1[1] not in page.content()
            # at 1440 px with mitmweb's default split, the view's lines fit: no cut-offs
            _no_horizontal_overflow(page, ".flow-detail .contentview pre")

            # The view from its headline to the comparison, at mitmweb's default split.
            page.locator(".flow-detail section").evaluate(
                "(el) => { const m = el.querySelector('.contentview');"
                " el.scrollTop = m.offsetTop - el.offsetTop; }"
            )
            pane = detail.bounding_box()
            assert pane is not None
            page.screenshot(path=str(shot_view), clip={**pane, "height": min(pane["height"], 860)})
            # The list alone with the comment column widened, as a user drags it (cosmetic).
            detail.locator(".close-button").click()
            expect(detail).to_have_count(0)
            _drag(page, ".flow-table th.col-path .col-resize-handle", 420)
            _drag(page, ".flow-table th.col-comment .col-resize-handle", 1290)
            page.screenshot(
                path=str(shot_list), clip={"x": 0, "y": 0, "width": 1440, "height": 240}
            )
        finally:
            ctx.close()
    assert shot_list.stat().st_size > 10_000 and shot_view.stat().st_size > 10_000
