#!/usr/bin/env python3
"""The demo: real SDK clients, a real mitmdump with the addon, a local AWS-like endpoint
(scripts/fakeaws.py) and a misbehaving hop (scripts/badhop.py), reproducing the failure
cases of knowledge.md plus a healthy baseline. No AWS account and no network needed.

    bash scripts/demo            # sets up, runs, prints the table, leaves flows + report
    .venv/bin/python scripts/demo.py --out DIR

Exit status: 0 when every scenario was diagnosed with the expected finding code.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import botocore.config
import requests
from rich.console import Console
from rich.table import Table

from sigv4_testsupport import badhop, fakeaws
from sigv4_testsupport.paths import ROOT
from sigv4_testsupport.proxyharness import Proxy, clean_aws_env, start_mitmdump

K1 = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


@dataclass
class Scenario:
    name: str
    run: Callable[[Demo], None]
    expect: set[str]  # finding codes one of which must appear (empty: no errors allowed)
    proxy: str = "main"
    records: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""  # what the server answered, filled in by the run
    fix: str = ""  # the fix printed for it, filled in by the run


class Demo:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.console = Console(width=None if sys.stdout.isatty() else 160)
        self.server: Any = None
        self.hop: Any = None
        self.proxies: dict[str, Proxy] = {}
        self.answer = ""  # what the server answered the scenario's last call

    # -- infrastructure ------------------------------------------------------------------
    def start(self) -> None:
        (self.out / "aws-credentials").write_text(
            f"[default]\naws_access_key_id = {K1[0]}\naws_secret_access_key = {K1[1]}\n"
        )
        self.server = fakeaws.start_fakeaws(self.out / "fakeaws-certs", credentials=dict([K1]))
        self.hop = badhop.start_badhop(
            self.out / "badhop-certs", upstream_ca=self.server.ca_path, strip_transfer_encoding=True
        )
        env = clean_aws_env(self.out)
        main_dir, hop_dir = self.out / "proxy", self.out / "proxy-via-cdn"
        main_dir.mkdir(exist_ok=True)
        hop_dir.mkdir(exist_ok=True)
        for d in (main_dir, hop_dir):
            shutil.copy(self.out / "aws-credentials", d / "aws-credentials")
        self.proxies["main"] = start_mitmdump(main_dir, env=clean_aws_env(main_dir))
        self.proxies["cdn"] = start_mitmdump(
            hop_dir,
            "--mode",
            f"upstream:http://127.0.0.1:{self.hop.port}",
            "--set",
            f"ssl_verify_upstream_trusted_ca={self.hop.ca_path}",
            env=clean_aws_env(hop_dir),
        )
        del env

    def stop(self) -> None:
        for p in self.proxies.values():
            p.stop()
        for x in (self.hop, self.server):
            if x is not None:
                x.stop()

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.server.https_port}"

    def client(
        self,
        service: str,
        *,
        key: tuple[str, str] = K1,
        token: str | None = None,
        region: str = "us-east-1",
        proxy: str = "main",
        **cfg: Any,
    ) -> Any:
        p = self.proxies[proxy]
        return boto3.client(
            service,
            region_name=region,
            aws_access_key_id=key[0],
            aws_secret_access_key=key[1],
            aws_session_token=token,
            endpoint_url=self.endpoint,
            verify=p.ca,
            config=botocore.config.Config(
                proxies={"https": p.url},
                retries={"max_attempts": 1},
                s3={"addressing_style": "path"},
                **cfg,
            ),
        )

    def requests_kw(self) -> dict[str, Any]:
        p = self.proxies["main"]
        return {"proxies": {"https": p.url}, "verify": p.ca, "timeout": 15}


def quietly(fn: Callable[[], Any]) -> str:
    """Run one client call; return what the server answered."""
    try:
        r = fn()
        if isinstance(r, requests.Response):
            return f"{r.status_code}" + (
                ""
                if r.ok
                else f" {r.text.split('<Code>')[1].split('<')[0]}"
                if "<Code>" in r.text
                else ""
            )
        return "200 OK"
    except Exception as exc:  # botocore ClientError and friends
        resp = getattr(exc, "response", None) or {}
        err = resp.get("Error", {})
        status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        return f"{status} {err.get('Code') or type(exc).__name__}".strip()


# -- scenarios -----------------------------------------------------------------------------
def healthy(d: Demo) -> None:
    s3 = d.client("s3")
    s3.create_bucket(Bucket="demo")
    s3.put_object(Bucket="demo", Key="reports/2026 q4+final.csv", Body=b"a,b\n1,2\n")
    s3.get_object(Bucket="demo", Key="reports/2026 q4+final.csv")["Body"].read()
    s3.list_objects_v2(Bucket="demo", Prefix="reports/", Delimiter="/")
    d.client("dynamodb").put_item(TableName="demo", Item={"id": {"S": "1"}})
    d.client("sts", region="eu-west-1").get_caller_identity()


def aws_cli(d: Demo) -> None:
    p = d.proxies["main"]
    env = clean_aws_env(
        d.out,
        HTTPS_PROXY=p.url,
        AWS_CA_BUNDLE=p.ca,
        AWS_ACCESS_KEY_ID=K1[0],
        AWS_SECRET_ACCESS_KEY=K1[1],
        AWS_DEFAULT_REGION="us-east-1",
    )
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or "aws"
    for args in (["s3", "ls", "s3://demo/reports/"], ["sts", "get-caller-identity"]):
        subprocess.run(
            [aws, *args, "--endpoint-url", d.endpoint], env=env, capture_output=True, timeout=60
        )


def presigned_put_no_content_type(d: Demo) -> None:
    s3 = d.client("s3", signature_version="s3v4")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "demo", "Key": "up.csv", "ContentType": "text/csv"}
    )
    d.answer = quietly(lambda: requests.put(url, data=io.BytesIO(b"x,y\n"), **d.requests_kw()))


def clock_skew(d: Demo) -> None:
    d.server.clock_offset = 20 * 60
    try:
        d.answer = quietly(lambda: d.client("s3").list_objects_v2(Bucket="demo"))
    finally:
        d.server.clock_offset = 0


def wrong_region(d: Demo) -> None:
    d.server.ip_region = "us-east-1"  # the endpoint lives in us-east-1
    try:
        d.answer = quietly(lambda: d.client("dynamodb", region="eu-west-1").list_tables())
    finally:
        d.server.ip_region = None


def sigv2(d: Demo) -> None:
    d.answer = quietly(lambda: d.client("s3", signature_version="s3").list_objects(Bucket="demo"))


def temp_key_without_token(d: Demo) -> None:
    c = d.client("sts", region="eu-west-1").get_session_token()["Credentials"]
    s3 = d.client("s3", key=(c["AccessKeyId"], c["SecretAccessKey"]))  # the token forgotten
    d.answer = quietly(lambda: s3.list_objects_v2(Bucket="demo"))


def wrong_secret(d: Demo) -> None:
    d.answer = quietly(lambda: d.client("dynamodb", key=(K1[0], K1[1][:-4] + "XXXX")).list_tables())


def sigv4a_global_token(d: Demo) -> None:
    d.server.ip_sts_global = True
    try:
        c = d.client("sts").get_session_token()["Credentials"]
    finally:
        d.server.ip_sts_global = False
    s3a = d.client(
        "s3",
        key=(c["AccessKeyId"], c["SecretAccessKey"]),
        token=c["SessionToken"],
        signature_version="s3v4a",
    )
    d.answer = quietly(lambda: s3a.list_objects_v2(Bucket="demo"))


def sigv4a_regional_token(d: Demo) -> None:
    c = d.client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/demo", RoleSessionName="demo"
    )["Credentials"]
    s3a = d.client(
        "s3",
        key=(c["AccessKeyId"], c["SecretAccessKey"]),
        token=c["SessionToken"],
        signature_version="s3v4a",
    )
    d.answer = quietly(lambda: s3a.list_objects_v2(Bucket="demo"))


@contextlib.contextmanager
def botocore_1_36_0() -> Iterator[None]:
    """Sign transfer-encoding, as botocore 1.36.0-1.36.5 did."""
    # aws-c-auth (botocore's CRT signer) never signs transfer-encoding itself: use the
    # pure-Python S3 signer with its header blacklist minus transfer-encoding.
    saved = list(botocore.auth.SIGNED_HEADERS_BLACKLIST)
    saved_cls = botocore.auth.AUTH_TYPE_MAPS["s3v4"]
    botocore.auth.SIGNED_HEADERS_BLACKLIST[:] = [h for h in saved if h != "transfer-encoding"]
    botocore.auth.AUTH_TYPE_MAPS["s3v4"] = botocore.auth.S3SigV4Auth
    try:
        yield
    finally:
        botocore.auth.SIGNED_HEADERS_BLACKLIST[:] = saved
        botocore.auth.AUTH_TYPE_MAPS["s3v4"] = saved_cls


def te_stripped_by_cdn(d: Demo) -> None:
    with botocore_1_36_0():
        s3 = d.client("s3", proxy="cdn")
        d.answer = quietly(
            lambda: s3.put_object(Bucket="demo", Key="accelerated.bin", Body=b"z" * 4096)
        )


def checksum_defaults_to_compatible_store(d: Demo) -> None:
    d.server.reject_checksum_trailers = True
    try:
        d.answer = quietly(
            lambda: d.client("s3").put_object(Bucket="demo", Key="minio.txt", Body=b"hi")
        )
    finally:
        d.server.reject_checksum_trailers = False


def presign_expired(d: Demo) -> None:
    url = d.client("s3", signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": "demo", "Key": "reports/2026 q4+final.csv"}, ExpiresIn=1
    )
    time.sleep(2.1)
    d.answer = quietly(lambda: requests.get(url, **d.requests_kw()))


def post_form_content_type(d: Demo) -> None:
    """A browser upload (S3 POST policy): the page generated the policy for image/png,
    the form sends the file's own type."""
    s3 = d.client("s3", signature_version="s3v4")
    post = s3.generate_presigned_post(
        "demo",
        "uploads/${filename}",
        Fields={"Content-Type": "image/png"},
        Conditions=[{"Content-Type": "image/png"}, ["content-length-range", 1, 1 << 20]],
    )
    fields = {**post["fields"], "Content-Type": "image/jpeg"}
    photo = ("cat.jpg", b"\xff\xd8\xff" + b"jpeg" * 64, "image/jpeg")
    d.answer = quietly(
        lambda: requests.post(post["url"], data=fields, files={"file": photo}, **d.requests_kw())
    )


SCENARIOS = [
    Scenario("Healthy baseline (boto3: S3, DynamoDB, STS)", healthy, set()),
    Scenario("Healthy baseline (AWS CLI)", aws_cli, set()),
    Scenario(
        "Presigned PUT sent without its signed Content-Type",
        presigned_put_no_content_type,
        {"SIGNED_HEADER_MISSING"},
    ),
    Scenario("Client clock 20 min behind the server", clock_skew, {"CLOCK_SKEW"}),
    Scenario("Client signs for the wrong region", wrong_region, {"SCOPE_REGION_MISMATCH"}),
    Scenario("SigV2 (signature_version='s3')", sigv2, {"SIGV2_DEPRECATED"}),
    Scenario(
        "Temporary key (ASIA...) without its session token",
        temp_key_without_token,
        {"SECURITY_TOKEN_MISSING"},
    ),
    Scenario("Secret key does not match (rotated key)", wrong_secret, {"SECRET_MISMATCH"}),
    Scenario(
        "SigV4a with a global-endpoint (v1) STS token",
        sigv4a_global_token,
        {"STS_GLOBAL_TOKEN_SIGV4A"},
    ),
    Scenario("SigV4a with a regional (v2) STS token", sigv4a_regional_token, set()),
    Scenario(
        "botocore 1.36.0 signs Transfer-Encoding; a CDN hop strips it",
        te_stripped_by_cdn,
        {"HEADER_MODIFIED"},
        proxy="cdn",
    ),
    Scenario(
        "2025 checksum defaults sent to an S3-compatible store",
        checksum_defaults_to_compatible_store,
        {"CHECKSUM_DEFAULTS_UNSUPPORTED"},
    ),
    Scenario("Presigned URL used after it expired", presign_expired, {"PRESIGN_EXPIRED"}),
    Scenario(
        "S3 POST upload: the upload form sent image/jpeg; the policy allows only image/png",
        post_form_content_type,
        {"POST_POLICY_CONDITION_FAILED"},
    ),
]


def pick(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The record that tells the scenario's story: the first with an error, else the last."""
    for r in records:
        if any(f["severity"] == "error" for f in r["findings"]):
            return r
    return records[-1] if records else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for flows and the report (default: out/demo-<time>)",
    )
    args = ap.parse_args()
    out = (args.out or ROOT / "out" / f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    for k in [
        k
        for k in os.environ
        if k.startswith("AWS_") or k in ("REQUESTS_CA_BUNDLE", "HTTPS_PROXY", "https_proxy")
    ]:
        os.environ.pop(k)
    os.environ["AWS_CONFIG_FILE"] = str(out / "no-aws-config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(out / "no-aws-credentials")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    d = Demo(out)
    console = d.console
    t0 = time.time()
    console.print(
        f"[bold]sigv4-inspector demo[/] - local AWS-like endpoint, real boto3 / AWS CLI, real mitmdump (output: {out})"
    )
    ok = True
    try:
        d.start()
        for sc in SCENARIOS:
            p = d.proxies[sc.proxy]
            before = len(p.records())
            d.answer = ""
            try:
                sc.run(d)
            except Exception as exc:
                d.answer = f"demo error: {type(exc).__name__}: {exc}"
            time.sleep(0.3)
            recs = p.wait_records(before + 1, timeout=10)[before:]
            sc.records = recs
            sc.answer = d.answer or (
                ", ".join(sorted({str(r["response"]["status"]) for r in recs if r.get("response")}))
                or "-"
            )
    finally:
        d.stop()

    # The fixes are printed after the table, each whole on its own line: inside a table
    # cell, a fix without spaces (AWS_REQUEST_CHECKSUM_CALCULATION=when_required) would be
    # folded mid-word and could not be copied.
    table = Table(title="What the proxy saw and said", show_lines=True)
    for col in ("scenario", "AWS answered", "verdict", "findings"):
        table.add_column(col, overflow="fold")
    fixes: list[tuple[str, str, str]] = []  # scenario, code, fix
    for sc in SCENARIOS:
        rec = pick(sc.records)
        codes = sorted(
            {f["code"] for r in sc.records for f in r["findings"] if f["severity"] != "info"}
        )
        passed = (
            bool(sc.expect & set(codes))
            if sc.expect
            else (
                bool(sc.records)
                and all(
                    r["verdict"] == "valid"
                    and not [f for f in r["findings"] if f["severity"] == "error"]
                    for r in sc.records
                )
            )
        )
        ok &= passed
        fix = ""
        if rec:
            wanted = [
                f for r in sc.records for f in r["findings"] if f["code"] in sc.expect and f["fix"]
            ]
            main_f = (
                wanted[0]
                if wanted
                else next((f for f in rec["findings"] if f["severity"] == "error"), None)
            )
            if main_f and main_f["fix"]:
                fix = main_f["fix"]
                fixes.append((sc.name, main_f["code"], fix))
        sc.fix = fix
        verdicts = ", ".join(sorted({r["verdict"] for r in sc.records})) or "no record"
        mark = "[green]ok[/]" if passed else "[red]MISSED[/]"
        table.add_row(
            f"{mark} {sc.name}",
            sc.answer,
            verdicts,
            ", ".join(codes) or "-",
        )
    console.print(table)
    if fixes:
        console.print("[bold]Fixes[/] (each whole on one line, so it can be copied):")
        for name, code, fix in fixes:
            # soft_wrap: never wrapped or cut by rich (the terminal may fold it on screen,
            # but copying it gives the whole line); markup/emoji off: printed as written
            for text in (f"- {name}", f"  {code} -> {fix}"):
                console.print(text, soft_wrap=True, markup=False, emoji=False, highlight=False)
    for name, p in d.proxies.items():
        console.print(f"[dim]{name}: flows {p.flows_path}, report {p.report}[/]")
    console.print(
        f"done in {time.time() - t0:.0f} s; "
        + (
            "[green]every scenario diagnosed as expected[/]"
            if ok
            else "[red]some scenarios were not diagnosed as expected[/]"
        )
    )
    summary = [
        {
            "scenario": sc.name,
            "expect": sorted(sc.expect),
            "codes": sorted({f["code"] for r in sc.records for f in r["findings"]}),
            "verdicts": sorted({r["verdict"] for r in sc.records}),
            "fix": sc.fix,  # printed whole under the table
        }
        for sc in SCENARIOS
    ]
    (out / "demo-summary.json").write_text(json.dumps(summary, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
