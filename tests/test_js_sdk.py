"""The AWS SDK for JavaScript v3 (from the npm registry) through a real mitmdump to the
local endpoint: its SigV4 (and presigned URLs, which carry X-Amz-Content-Sha256 in the
query) verifies. Skipped when node or tests/js/node_modules is missing (scripts/setup
installs them when node and npm are present)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sigv4_testsupport import fakeaws
from sigv4_testsupport.proxyharness import clean_aws_env, start_mitmdump

JS = Path(__file__).resolve().parent / "js"
K1 = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

pytestmark = pytest.mark.skipif(
    not shutil.which("node") or not (JS / "node_modules" / "@aws-sdk" / "client-s3").is_dir(),
    reason="node or tests/js/node_modules missing (run scripts/setup with node and npm installed)",
)


def test_js_sdk_v3_requests_verify(tmp_path: Path) -> None:
    (tmp_path / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {K1[0]}\naws_secret_access_key = {K1[1]}\n"
    )
    server = fakeaws.start_fakeaws(tmp_path / "certs", credentials=dict([K1]))
    proxy = start_mitmdump(tmp_path, env=clean_aws_env(tmp_path), save=False)
    try:
        env = clean_aws_env(
            tmp_path,
            PROXY_URL=proxy.url,
            NODE_EXTRA_CA_CERTS=proxy.ca,
            ENDPOINT=f"https://127.0.0.1:{server.https_port}",
            AWS_ACCESS_KEY_ID=K1[0],
            AWS_SECRET_ACCESS_KEY=K1[1],
        )
        out = subprocess.run(
            ["node", str(JS / "client.mjs")], env=env, capture_output=True, text=True, timeout=60
        )
        results = json.loads(out.stdout.strip().splitlines()[-1])
        assert all(v == "ok" for v in results.values()), results
        recs = proxy.wait_records(6)
        assert len(recs) >= 6
        for r in recs:
            assert r["verdict"] == "valid", (r["method"], r["url"], r["findings"])
        presign = [r for r in recs if r["auth"]["location"] == "query"]
        assert presign and presign[0]["auth"]["scheme"] == "sigv4"
    finally:
        proxy.stop()
        server.stop()
