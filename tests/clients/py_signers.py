"""Python signer driver for tests/test_signer_matrix.py.

``python py_signers.py SIGNER CASES.json`` performs each case (see the test module for the
case format) with one real Python signer, through the proxy in ``HTTPS_PROXY``, trusting the
CA bundle in ``MX_CA_BUNDLE``, against ``MX_ENDPOINT``. Credentials come from
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``. Every request carries the case id in the
header ``x-mx-case`` (the AWS CLI, which cannot add a header, carries it in its User-Agent as
``exec-env/mxcase-<id>``) so the test can match the proxy's records to cases.

Prints one JSON line ``{"version": ...}`` first, then one per case:
``{"id", "status", "error", "canonical"}`` (``canonical``: the canonical request the signer
itself computed, when the library exposes it, else null).

Signers: boto3 (CRT or pure-Python signer: the caller sets ``BOTO_DISABLE_CRT``), awscli,
requests-aws4auth, requests-auth-aws-sigv4, aws-requests-auth, httpx-auth, httpx-aws-auth,
opensearch-py, botocore-s3sigv4auth.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ENDPOINT = os.environ.get("MX_ENDPOINT", "")
PROXY = os.environ.get("HTTPS_PROXY", "")
CA = os.environ.get("MX_CA_BUNDLE", "")
AKID = os.environ.get("AWS_ACCESS_KEY_ID", "")
SECRET = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
HOSTPORT = ENDPOINT.split("://", 1)[-1]
TIMEOUT = 30


class _Canon(logging.Handler):
    """Keeps the last canonical request a library logged at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        for marker in ("CanonicalRequest:\n", "Canonical Request: '"):
            if msg.startswith(marker):
                self.last = msg[len(marker) :].rstrip("'")


CANON = _Canon()
for _name in ("botocore.auth", "requests_auth_aws_sigv4"):
    _lg = logging.getLogger(_name)
    _lg.setLevel(logging.DEBUG)
    _lg.addHandler(CANON)
    _lg.propagate = False


def url_of(case: dict[str, Any]) -> str:
    q = case.get("query") or ""
    path: str = case["path"]
    return ENDPOINT + path + (f"?{q}" if q else "")


def body_of(case: dict[str, Any]) -> bytes:
    return (case.get("body") or "").encode()


def headers_of(case: dict[str, Any]) -> dict[str, str]:
    return {**(case.get("headers") or {}), "x-mx-case": case["id"]}


# -- boto3 (CRT or pure-Python signers) and the AWS CLI ---------------------------------------


def boto3_driver() -> tuple[str, Callable[[dict[str, Any]], int]]:
    import boto3
    import botocore.config

    clients: dict[tuple[str, str], Any] = {}
    current = {"id": ""}

    def client(service: str, region: str) -> Any:
        if (service, region) not in clients:
            c = boto3.client(
                service,
                region_name=region,
                endpoint_url=ENDPOINT,
                aws_access_key_id=AKID,
                aws_secret_access_key=SECRET,
                verify=CA,
                config=botocore.config.Config(
                    proxies={"https": PROXY},
                    retries={"max_attempts": 1, "mode": "standard"},
                    s3={"addressing_style": "path"},
                    signature_version="s3v4" if service == "s3" else None,
                ),
            )

            def tag(request: Any, **_: Any) -> None:
                request.headers["x-mx-case"] = current["id"]

            c.meta.events.register("before-send", tag)
            clients[(service, region)] = c
        return clients[(service, region)]

    def run(case: dict[str, Any]) -> int:
        current["id"] = case["id"]
        op = case["op"]
        c = client(case["service"], case["region"])
        name = op["name"]
        if name == "put_object":
            r = c.put_object(Bucket=op["bucket"], Key=op["key"], Body=op["body"].encode())
        elif name == "get_object":
            r = c.get_object(Bucket=op["bucket"], Key=op["key"])
            r["Body"].read()
        elif name == "list_objects_v2":
            r = c.list_objects_v2(Bucket=op["bucket"], Prefix=op["prefix"])
        elif name == "list_tables":
            r = c.list_tables()
        elif name == "get_caller_identity":
            r = c.get_caller_identity()
        elif name == "presign_get":
            url = c.generate_presigned_url(
                "get_object", Params={"Bucket": op["bucket"], "Key": op["key"]}, ExpiresIn=300
            )
            return fetch(url, case["id"])
        else:
            raise ValueError(f"unknown op {name}")
        return int(r["ResponseMetadata"]["HTTPStatusCode"])

    version = f"boto3 {metadata.version('boto3')} botocore {metadata.version('botocore')}"
    if os.environ.get("BOTO_DISABLE_CRT", "").lower() != "true":
        version += f" awscrt {metadata.version('awscrt')}"
    return version, run


def fetch(url: str, case_id: str) -> int:
    """GET a presigned URL through the proxy, byte for byte as given."""
    import requests

    s = requests.Session()
    req = requests.Request("GET", url, headers={"x-mx-case": case_id}).prepare()
    req.url = url
    return s.send(req, proxies={"https": PROXY}, verify=CA, timeout=TIMEOUT).status_code


def awscli_driver() -> tuple[str, Callable[[dict[str, Any]], int]]:
    aws = str(Path(sys.executable).parent / "aws")
    tmp = Path(tempfile.mkdtemp(prefix="mx-awscli-"))
    # The CLI v1 presigns S3 URLs with SigV2 unless told otherwise.
    config = tmp / "config"
    config.write_text("[default]\ns3 =\n    signature_version = s3v4\n")

    def cli(case: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "AWS_EXECUTION_ENV": f"mxcase-{case['id']}",
            "AWS_CONFIG_FILE": str(config),
            "AWS_DEFAULT_REGION": case["region"],
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
        }
        cmd = [aws, "--endpoint-url", ENDPOINT, "--ca-bundle", CA, "--output", "json", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    def run(case: dict[str, Any]) -> int:
        op = case["op"]
        name = op["name"]
        if name == "put_object":
            body = tmp / "body"
            body.write_text(op["body"])
            p = cli(
                case,
                "s3api",
                "put-object",
                "--bucket",
                op["bucket"],
                "--key",
                op["key"],
                "--body",
                str(body),
            )
        elif name == "get_object":
            p = cli(
                case,
                "s3api",
                "get-object",
                "--bucket",
                op["bucket"],
                "--key",
                op["key"],
                str(tmp / "out"),
            )
        elif name == "list_objects_v2":
            p = cli(
                case, "s3api", "list-objects-v2", "--bucket", op["bucket"], "--prefix", op["prefix"]
            )
        elif name == "list_tables":
            p = cli(case, "dynamodb", "list-tables")
        elif name == "get_caller_identity":
            p = cli(case, "sts", "get-caller-identity")
        elif name == "presign_get":
            p = cli(
                case, "s3", "presign", f"s3://{op['bucket']}/{op['key']}", "--expires-in", "300"
            )
            if p.returncode != 0:
                raise RuntimeError(p.stderr.strip()[-300:])
            return fetch(p.stdout.strip(), case["id"])
        else:
            raise ValueError(f"unknown op {name}")
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip()[-300:])
        return 200

    out = subprocess.run([aws, "--version"], capture_output=True, text=True, timeout=60)
    return (out.stdout or out.stderr).strip(), run


# -- generic signers on requests ----------------------------------------------------------------


def requests_send(auth: Any, case: dict[str, Any], params: dict[str, str] | None = None) -> int:
    import requests

    r = requests.request(
        case["method"],
        url_of(case),
        params=params,
        data=body_of(case) or None,
        headers=headers_of(case),
        auth=auth,
        proxies={"https": PROXY},
        verify=CA,
        timeout=TIMEOUT,
    )
    return r.status_code


def partial_canonical(method: str, path: str, query: str) -> str:
    """The first three lines of a canonical request, for signers that expose only those."""
    return f"{method}\n{path}\n{query}\n(path and query lines only)"


def requests_aws4auth_driver() -> tuple[str, Callable[[dict[str, Any]], int]]:
    from requests_aws4auth import AWS4Auth

    class Capturing(AWS4Auth):  # type: ignore[misc]
        def __call__(self, r: Any) -> Any:
            out = super().__call__(r)
            path, _, query = r.path_url.partition("?")
            CANON.last = partial_canonical(
                r.method, self.amz_cano_path(path), self.amz_cano_querystring(query)
            )
            return out

    def run(case: dict[str, Any]) -> int:
        return requests_send(Capturing(AKID, SECRET, case["region"], case["service"]), case)

    return f"requests-aws4auth {metadata.version('requests-aws4auth')}", run


def requests_auth_aws_sigv4_driver() -> tuple[str, Callable[[dict[str, Any]], int]]:
    from requests_auth_aws_sigv4 import AWSSigV4

    def run(case: dict[str, Any]) -> int:
        auth = AWSSigV4(
            case["service"],
            region=case["region"],
            aws_access_key_id=AKID,
            aws_secret_access_key=SECRET,
        )
        return requests_send(auth, case)

    return f"requests-auth-aws-sigv4 {metadata.version('requests-auth-aws-sigv4')}", run


def aws_requests_auth_driver() -> tuple[str, Callable[[dict[str, Any]], int]]:
    from aws_requests_auth.aws_auth import AWSRequestsAuth

    class Capturing(AWSRequestsAuth):  # type: ignore[misc]
        def __call__(self, r: Any) -> Any:
            out = super().__call__(r)
            CANON.last = partial_canonical(
                r.method, self.get_canonical_path(r), self.get_canonical_querystring(r)
            )
            return out

    def run(case: dict[str, Any]) -> int:
        auth = Capturing(
            aws_access_key=AKID,
            aws_secret_access_key=SECRET,
            aws_host=HOSTPORT,
            aws_region=case["region"],
            aws_service=case["service"],
        )
        return requests_send(auth, case)

    return f"aws-requests-auth {metadata.version('aws-requests-auth')}", run


def opensearch_driver() -> tuple[str, Callable[[dict[str, Any]], int]]:
    from botocore.credentials import Credentials
    from opensearchpy import RequestsAWSV4SignerAuth

    def run(case: dict[str, Any]) -> int:
        auth = RequestsAWSV4SignerAuth(Credentials(AKID, SECRET), case["region"], case["service"])
        return requests_send(auth, case, params=case.get("params"))

    return f"opensearch-py {metadata.version('opensearch-py')}", run


# -- generic signers on httpx -------------------------------------------------------------------


def httpx_send(auth: Any, case: dict[str, Any]) -> int:
    import httpx

    ctx = ssl.create_default_context(cafile=CA)
    with httpx.Client(proxy=PROXY, verify=ctx, timeout=TIMEOUT) as c:
        r = c.request(
            case["method"],
            url_of(case),
            content=body_of(case) or None,
            headers=headers_of(case),
            auth=auth,
        )
        return r.status_code


def httpx_auth_driver() -> tuple[str, Callable[[dict[str, Any]], int]]:
    from httpx_auth import AWS4Auth
    from httpx_auth._aws import canonical_query_string, canonical_uri

    class Capturing(AWS4Auth):
        def auth_flow(self, request: Any) -> Any:
            CANON.last = partial_canonical(
                request.method,
                canonical_uri(request.url, is_s3=self.service.lower() == "s3"),
                canonical_query_string(request.url),
            )
            return super().auth_flow(request)

    def run(case: dict[str, Any]) -> int:
        return httpx_send(Capturing(AKID, SECRET, case["region"], case["service"]), case)

    return f"httpx-auth {metadata.version('httpx-auth')} httpx {metadata.version('httpx')}", run


def httpx_aws_auth_driver() -> tuple[str, Callable[[dict[str, Any]], int]]:
    from httpx_aws_auth import AwsCredentials, AwsSigV4Auth

    class Capturing(AwsSigV4Auth):
        def auth_flow(self, request: Any) -> Any:
            signer = self._signer
            CANON.last = partial_canonical(
                request.method,
                signer._get_canonical_path(request),
                signer._get_canonical_querystring(request),
            )
            return super().auth_flow(request)

    def run(case: dict[str, Any]) -> int:
        auth = Capturing(AwsCredentials(AKID, SECRET), case["region"], case["service"])
        return httpx_send(auth, case)

    version = (
        f"httpx-aws-auth {metadata.version('httpx-aws-auth')} httpx {metadata.version('httpx')}"
    )
    return version, run


# -- botocore's S3SigV4Auth on a pre-built URL -------------------------------------------------


def botocore_s3sigv4auth_driver() -> tuple[str, Callable[[dict[str, Any]], int]]:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.httpsession import URLLib3Session

    session = URLLib3Session(proxies={"https": PROXY}, verify=CA, timeout=TIMEOUT)

    def run(case: dict[str, Any]) -> int:
        req = AWSRequest(
            method=case["method"], url=url_of(case), data=body_of(case), headers=headers_of(case)
        )
        S3SigV4Auth(Credentials(AKID, SECRET), case["service"], case["region"]).add_auth(req)
        resp = session.send(req.prepare())
        return int(resp.status_code)

    return f"botocore {metadata.version('botocore')} (S3SigV4Auth, pure Python)", run


DRIVERS: dict[str, Callable[[], tuple[str, Callable[[dict[str, Any]], int]]]] = {
    "boto3": boto3_driver,
    "awscli": awscli_driver,
    "requests-aws4auth": requests_aws4auth_driver,
    "requests-auth-aws-sigv4": requests_auth_aws_sigv4_driver,
    "aws-requests-auth": aws_requests_auth_driver,
    "opensearch-py": opensearch_driver,
    "httpx-auth": httpx_auth_driver,
    "httpx-aws-auth": httpx_aws_auth_driver,
    "botocore-s3sigv4auth": botocore_s3sigv4auth_driver,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in DRIVERS:
        print(f"usage: py_signers.py {{{'|'.join(DRIVERS)}}} CASES.json", file=sys.stderr)
        return 2
    cases = json.loads(Path(argv[1]).read_text())
    version, run = DRIVERS[argv[0]]()
    print(json.dumps({"version": version}), flush=True)
    for case in cases:
        CANON.last = None
        status: int | None = None
        error: str | None = None
        try:
            status = run(case)
        except Exception as e:  # report and go on with the next case
            error = f"{type(e).__name__}: {e}"[:400]
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status is None:
                meta = getattr(e, "response", None)
                if isinstance(meta, dict):
                    status = meta.get("ResponseMetadata", {}).get("HTTPStatusCode")
        out = {"id": case["id"], "status": status, "error": error, "canonical": CANON.last}
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
