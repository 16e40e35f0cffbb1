"""The real signer matrix: each real signer library sends requests through one real
``mitmdump -s addons/sigv4.py`` to the local AWS-like endpoint (scripts/fakeaws.py, HTTPS),
and each JSONL record is matched to the case that produced it.

Signers (drivers in tests/clients/): boto3 with the CRT and with the pure-Python signer, the
AWS CLI, the AWS SDK for JavaScript v3 and v2, npm aws4 and aws4fetch, a hand-written
encodeURIComponent signer, the AWS SDK for Go v2 (over HTTP/2 to the proxy), Ruby aws-sdk-s3
and aws-sigv4, curl --aws-sigv4, requests-aws4auth, requests-auth-aws-sigv4,
aws-requests-auth, httpx-auth, httpx-aws-auth, opensearch-py's RequestsAWSV4SignerAuth and
botocore's own S3SigV4Auth applied to a pre-built URL. scripts/setup installs them; a signer
whose tool is missing is skipped with a reason naming what is missing.

Cases: for every signer well-formed requests (S3 PUT/GET/list with a safe prefix, DynamoDB
and/or STS where the signer supports them, a presigned GET where it supports one) whose
untouched traffic must come out ``valid`` with no error finding; plus each signer's known
signing bugs (issue 16), in the table ``BUGS`` below with a one-line reason each: the
expectation is ``invalid`` with ``QUERY_ENCODING`` (query) or ``URI_ENCODING`` (path) exactly
when what the signer signs differs from AWS's form, else ``valid``.

Two tests per case: ``test_traffic`` checks the harness and the evidence, independently of
the project's core: the driver ran the case, exactly one request reached the proxy for it,
and the reading under which its signature verifies (sigv4_testsupport.signedform) agrees with the
expectation. ``test_record`` checks the addon's record: verdict and finding codes.

Set ``MX_EVIDENCE=FILE`` to have the module write, per case, the signer's version, the
request target, the signer's canonical path and query (as found from its signature) and
AWS's form, as JSON.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sigv4_testsupport import fakeaws
from sigv4_testsupport.proxyharness import clean_aws_env, start_mitmdump
from sigv4_testsupport.signedform import SignedForm, find_signed_form

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "tests" / "clients"
JS = ROOT / "tests" / "js"
VENV_BIN = Path(sys.executable).parent
GO_BIN = ROOT / ".venv" / "mx-go" / "go_signer"
K1 = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
REGION = "us-east-1"
DRIVER_TIMEOUT = 300
MARK = "x-mx-case"

VALID = "valid"
BAD_QUERY = "invalid:QUERY_ENCODING"
BAD_PATH = "invalid:URI_ENCODING"
#: A raw '+' signed as a space: valid by AWS's reading (docs/aws-canonicalization.md E3, E6),
#: which other servers do not share, so the record carries ENCODING_AMBIGUOUS.
AMBIGUOUS = "valid:ENCODING_AMBIGUOUS"


# -- signers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """One signer: how to run its driver, what it supports, and how to tell it is missing."""

    name: str
    kind: str  # "sdk": operations (bucket/key/prefix); "generic": method, path, query, headers
    argv: Callable[[Path], list[str]]
    missing: Callable[[], str | None]
    presign: bool = False
    non_s3: tuple[str, ...] = ("dynamodb", "sts")
    env: dict[str, str] = field(default_factory=dict)


def _py_missing(*modules: str) -> Callable[[], str | None]:
    def check() -> str | None:
        gone = [m for m in modules if importlib.util.find_spec(m) is None]
        return (
            f"Python package(s) not installed: {', '.join(gone)} (run scripts/setup)"
            if gone
            else None
        )

    return check


def _cli_missing() -> str | None:
    return None if (VENV_BIN / "aws").exists() else "the AWS CLI (pip awscli) is not in the venv"


def _node_missing(*packages: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if not shutil.which("node"):
            return "node is not installed"
        gone = [p for p in packages if not (JS / "node_modules" / p / "package.json").exists()]
        if gone:
            return (
                f"npm package(s) not installed in tests/js: {', '.join(gone)} (run scripts/setup)"
            )
        return None

    return check


def _go_missing() -> str | None:
    out = subprocess.run(
        ["bash", str(CLIENTS / "build_go.sh")], capture_output=True, text=True, timeout=600
    )
    if out.returncode != 0 or not GO_BIN.exists():
        return f"the Go driver could not be built: {out.stderr.strip()[-400:]}"
    return None


def _ruby_missing(lib: str, deb: str) -> Callable[[], str | None]:
    def check() -> str | None:
        if not shutil.which("ruby"):
            return f"ruby is not installed (Debian package {deb})"
        out = subprocess.run(["ruby", "-e", f"require '{lib}'"], capture_output=True, timeout=60)
        return None if out.returncode == 0 else f"Ruby library {lib} missing (Debian package {deb})"

    return check


def _curl_missing() -> str | None:
    if not shutil.which("curl"):
        return "curl is not installed"
    if not shutil.which("jq"):
        return "jq is not installed (the curl driver reads its cases with it)"
    help_all = subprocess.run(["curl", "--help", "all"], capture_output=True, text=True).stdout
    return None if "--aws-sigv4" in help_all else "this curl has no --aws-sigv4"


def _py(signer: str) -> Callable[[Path], list[str]]:
    return lambda f: [sys.executable, str(CLIENTS / "py_signers.py"), signer, str(f)]


def _js(signer: str) -> Callable[[Path], list[str]]:
    return lambda f: ["node", str(CLIENTS / "js_signers.mjs"), signer, str(f)]


def _rb(signer: str) -> Callable[[Path], list[str]]:
    return lambda f: ["ruby", str(CLIENTS / "ruby_signers.rb"), signer, str(f)]


SIGNERS: dict[str, Signer] = {
    s.name: s
    for s in [
        Signer(
            "boto3-crt",
            "sdk",
            _py("boto3"),
            _py_missing("boto3", "awscrt"),
            presign=True,
            env={"BOTO_DISABLE_CRT": "false"},
        ),
        Signer(
            "boto3-python",
            "sdk",
            _py("boto3"),
            _py_missing("boto3"),
            presign=True,
            env={"BOTO_DISABLE_CRT": "true"},
        ),
        Signer("awscli", "sdk", _py("awscli"), _cli_missing, presign=True),
        Signer(
            "js-sdk-v3",
            "sdk",
            _js("sdk-v3"),
            _node_missing(
                "@aws-sdk/client-s3",
                "@aws-sdk/client-dynamodb",
                "@aws-sdk/s3-request-presigner",
                "https-proxy-agent",
            ),
            presign=True,
            non_s3=("dynamodb",),
        ),
        Signer(
            "js-sdk-v2",
            "sdk",
            _js("sdk-v2"),
            _node_missing("aws-sdk", "https-proxy-agent"),
            presign=True,
        ),
        Signer(
            "aws4", "generic", _js("aws4"), _node_missing("aws4", "https-proxy-agent"), presign=True
        ),
        Signer(
            "aws4fetch",
            "generic",
            _js("aws4fetch"),
            _node_missing("aws4fetch", "undici"),
            presign=True,
        ),
        Signer("encodeuri", "generic", _js("encodeuri"), _node_missing("https-proxy-agent")),
        Signer("go-sdk-v2", "sdk", lambda f: [str(GO_BIN), str(f)], _go_missing, presign=True),
        Signer(
            "ruby-aws-sdk-s3",
            "sdk",
            _rb("aws-sdk-s3"),
            _ruby_missing("aws-sdk-s3", "ruby-aws-sdk-s3"),
            presign=True,
            non_s3=("sts",),
        ),
        Signer(
            "ruby-aws-sigv4",
            "generic",
            _rb("aws-sigv4"),
            _ruby_missing("aws-sigv4", "ruby-aws-sigv4"),
            presign=True,
        ),
        Signer(
            "curl",
            "generic",
            lambda f: ["bash", str(CLIENTS / "curl_signer.sh"), str(f)],
            _curl_missing,
        ),
        Signer(
            "requests-aws4auth",
            "generic",
            _py("requests-aws4auth"),
            _py_missing("requests_aws4auth"),
        ),
        Signer(
            "requests-auth-aws-sigv4",
            "generic",
            _py("requests-auth-aws-sigv4"),
            _py_missing("requests_auth_aws_sigv4"),
        ),
        Signer(
            "aws-requests-auth",
            "generic",
            _py("aws-requests-auth"),
            _py_missing("aws_requests_auth"),
        ),
        Signer("httpx-auth", "generic", _py("httpx-auth"), _py_missing("httpx", "httpx_auth")),
        Signer(
            "httpx-aws-auth",
            "generic",
            _py("httpx-aws-auth"),
            _py_missing("httpx", "httpx_aws_auth"),
        ),
        Signer("opensearch-py", "generic", _py("opensearch-py"), _py_missing("opensearchpy")),
        Signer(
            "botocore-s3sigv4auth",
            "generic",
            _py("botocore-s3sigv4auth"),
            _py_missing("botocore"),
            non_s3=(),
        ),
    ]
}


# -- cases --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    signer: str
    service: str
    method: str = "GET"
    path: str = "/"
    query: str = ""
    params: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    presign: bool = False
    op: dict[str, str] | None = None
    expect: str = VALID
    reason: str = ""
    region: str = REGION

    def spec(self) -> dict[str, Any]:
        d = asdict(self)
        del d["expect"], d["reason"], d["signer"]
        return d


def bucket_of(signer: str) -> str:
    return "mx-" + signer.lower().replace("_", "-")[:50]


def well_formed(s: Signer) -> list[Case]:
    b = bucket_of(s.name)
    out: list[Case] = []

    def add(name: str, service: str, **kw: Any) -> None:
        out.append(Case(f"{s.name}.{name}", s.name, service, **kw))

    if s.kind == "sdk":

        def op(name: str, **kw: str) -> dict[str, str]:
            return {"name": name, "bucket": b, **kw}

        add("s3-put", "s3", method="PUT", op=op("put_object", key="ok/hello.txt", body="hello"))
        add("s3-get", "s3", op=op("get_object", key="ok/hello.txt"))
        add("s3-list", "s3", op=op("list_objects_v2", prefix="ok/"))
        # Characters that hand-written signers get wrong, through the SDK's own encoding.
        add(
            "s3-put-tricky-key",
            "s3",
            method="PUT",
            op=op("put_object", key="ok/mix !'()*+=:@,$.txt", body="tricky"),
        )
        add("s3-list-tricky-prefix", "s3", op=op("list_objects_v2", prefix="a:b/c mix !'()*+"))
        if "dynamodb" in s.non_s3:
            add("ddb-list-tables", "dynamodb", method="POST", op={"name": "list_tables"})
        if "sts" in s.non_s3:
            add("sts-caller-identity", "sts", method="POST", op={"name": "get_caller_identity"})
        if s.presign:
            add("s3-presign-get", "s3", presign=True, op=op("presign_get", key="ok/hello.txt"))
        return out
    add(
        "s3-put",
        "s3",
        method="PUT",
        path=f"/{b}/ok/hello.txt",
        body="hello",
        headers={"content-type": "text/plain"},
    )
    add("s3-get", "s3", path=f"/{b}/ok/hello.txt")
    add("s3-list", "s3", path=f"/{b}", query="list-type=2&prefix=ok")
    if "dynamodb" in s.non_s3:
        add(
            "ddb-list-tables",
            "dynamodb",
            method="POST",
            path="/",
            body="{}",
            headers={
                "content-type": "application/x-amz-json-1.0",
                "x-amz-target": "DynamoDB_20120810.ListTables",
            },
        )
    if "sts" in s.non_s3:
        add(
            "sts-caller-identity",
            "sts",
            path="/",
            query="Action=GetCallerIdentity&Version=2011-06-15",
        )
    if s.presign:
        add("s3-presign-get", "s3", path=f"/{b}/ok/hello.txt", presign=True)
    return out


def _bug(signer: str, name: str, expect: str, reason: str, **kw: Any) -> Case:
    kw.setdefault("service", "s3")
    b = bucket_of(signer)
    if "key" in kw:
        kw["path"] = f"/{b}/{kw.pop('key')}"
        kw.setdefault("method", "PUT")
        kw.setdefault("body", "bug")
    else:
        kw.setdefault("path", f"/{b}")
    return Case(f"{signer}.{name}", signer, expect=expect, reason=reason, **kw)


MIX = "prefix=mix%20!'()*"
COLON = "prefix=a:b/c"
STAR = "prefix=star*"

#: Each signer's known signing bugs (issue 16), and the contrast cases that look alike but
#: are signed in AWS's form. What each signs was read in its code and is checked from the
#: traffic by test_traffic.
BUGS: list[Case] = [
    # requests-auth-aws-sigv4 0.7: canonical path = urlparse(url).path, canonical query =
    # the pairs as sent, sorted ("&".join("=".join(p))): nothing is re-encoded.
    _bug(
        "requests-auth-aws-sigv4",
        "q-mix",
        BAD_QUERY,
        "signs the query as sent: ! ' ( ) * raw where AWS has %21 %27 %28 %29 %2A",
        query=MIX,
    ),
    _bug(
        "requests-auth-aws-sigv4",
        "q-colon",
        BAD_QUERY,
        "signs the query as sent: ':' '/' raw where AWS has %3A %2F",
        query=COLON,
    ),
    _bug(
        "requests-auth-aws-sigv4",
        "p-bang",
        BAD_PATH,
        "signs the path as sent: '!' raw where S3 has %21",
        key="bang!.txt",
    ),
    # aws-requests-auth 0.4.3: canonical query = the pairs as sent, sorted; canonical path =
    # quote(path as sent, safe='/-_.~').
    _bug(
        "aws-requests-auth",
        "q-mix",
        BAD_QUERY,
        "signs the query as sent: ! ' ( ) * raw where AWS has %21 %27 %28 %29 %2A",
        query=MIX,
    ),
    _bug(
        "aws-requests-auth",
        "q-colon",
        BAD_QUERY,
        "signs the query as sent: ':' '/' raw where AWS has %3A %2F",
        query=COLON,
    ),
    _bug(
        "aws-requests-auth",
        "p-bang",
        VALID,
        "quote(path, safe='/-_.~') turns '!' into %21: S3's form",
        key="bang!.txt",
    ),
    _bug(
        "aws-requests-auth",
        "p-space",
        BAD_PATH,
        "quotes the already-encoded path again: %20 becomes %2520, S3 decodes first",
        key="sp%20ace.txt",
    ),
    # httpx-aws-auth 4.2.0: the same query code as aws-requests-auth on httpx's URL, which
    # keeps ! ' ( ) * : / raw in a query it is given raw.
    _bug(
        "httpx-aws-auth",
        "q-mix",
        BAD_QUERY,
        "signs the raw query as httpx sends it: ! ' ( ) * raw",
        query=MIX,
    ),
    _bug(
        "httpx-aws-auth",
        "q-colon",
        BAD_QUERY,
        "signs the raw query as httpx sends it: ':' '/' raw",
        query=COLON,
    ),
    _bug(
        "httpx-aws-auth",
        "p-bang",
        VALID,
        "quote(decoded path, safe='/-_.~') is S3's form",
        key="bang!.txt",
    ),
    # opensearch-py 3.2.0 RequestsAWSV4SignerAuth: requests encodes params= with quote_plus
    # (space -> '+'); the signer re-urlencodes the same way and botocore's SigV4Auth signs the
    # query string as is.
    _bug(
        "opensearch-py",
        "params-mix",
        BAD_QUERY,
        "params= sends a space as '+' and signs that '+' raw; AWS reads %2B (or %20), never '+'",
        params={"prefix": "mix !'()*"},
    ),
    _bug(
        "opensearch-py",
        "params-colon",
        VALID,
        "params= gives %3A %2F, signed as sent: AWS's form",
        params={"prefix": "a:b/c"},
    ),
    # curl 7.88.1 --aws-sigv4 (Debian 12): signs the path and the query as given.
    _bug(
        "curl",
        "p-eq",
        BAD_PATH,
        "signs the path as sent: '=' raw where S3 has %3D",
        key="eq=key.txt",
    ),
    _bug(
        "curl",
        "p-bang",
        BAD_PATH,
        "signs the path as sent: '!' raw where S3 has %21",
        key="bang!.txt",
    ),
    _bug(
        "curl",
        "p-star",
        BAD_PATH,
        "signs the path as sent: '*' raw where S3 has %2A",
        key="star*.txt",
    ),
    _bug(
        "curl",
        "q-star",
        BAD_QUERY,
        "signs the query as sent: '*' raw where AWS has %2A",
        query=STAR,
    ),
    _bug(
        "curl",
        "q-colon",
        BAD_QUERY,
        "signs the query as sent: ':' '/' raw where AWS has %3A %2F",
        query=COLON,
    ),
    # botocore S3SigV4Auth on a pre-built URL: the path is signed as is (S3: no
    # normalisation) and a query in the URL goes through _canonical_query_string_url, which
    # only splits and sorts.
    _bug(
        "botocore-s3sigv4auth",
        "p-bang",
        BAD_PATH,
        "signs the pre-built URL's path as is: '!' raw where S3 has %21",
        key="bang!.txt",
    ),
    _bug(
        "botocore-s3sigv4auth",
        "q-star",
        BAD_QUERY,
        "signs the pre-built URL's query as is: '*' raw where AWS has %2A",
        query=STAR,
    ),
    _bug(
        "botocore-s3sigv4auth",
        "q-colon",
        BAD_QUERY,
        "signs the pre-built URL's query as is: ':' '/' raw",
        query=COLON,
    ),
    _bug(
        "botocore-s3sigv4auth",
        "p-bang-encoded",
        VALID,
        "a pre-built URL already in AWS's form is signed in AWS's form",
        key="bang%21.txt",
    ),
    _bug(
        "botocore-s3sigv4auth",
        "q-colon-encoded",
        VALID,
        "a pre-built query already in AWS's form is signed in AWS's form",
        query="prefix=a%3Ab%2Fc",
    ),
    # The hand-written encodeURIComponent signer: sends and signs encodeURIComponent(x).
    _bug(
        "encodeuri",
        "q-mix",
        BAD_QUERY,
        "encodeURIComponent leaves ! ' ( ) * raw in the value",
        query=MIX,
    ),
    _bug(
        "encodeuri",
        "p-bang",
        BAD_PATH,
        "encodeURIComponent leaves '!' raw in the key",
        key="bang!.txt",
    ),
    _bug(
        "encodeuri",
        "q-colon",
        VALID,
        "encodeURIComponent encodes ':' '/' as %3A %2F, like AWS",
        query=COLON,
    ),
    # aws4fetch 1.0.20: a presigned URL's query is signed from searchParams with %20 for a
    # space, then sent as URLSearchParams serialises it, with '+'. AWS reads a raw '+' in
    # the query as a space (E6): valid, with the warning.
    _bug(
        "aws4fetch",
        "presign-space",
        AMBIGUOUS,
        "signed prefix=sp%20ace, sent prefix=sp+ace: valid by AWS's reading of '+' as a space",
        query="prefix=sp%20ace",
        presign=True,
    ),
    # aws4 and aws4fetch decode an S3 path with '+' as a space
    # (decodeURIComponent(p.replace(/\+/g, ' '))), as S3 itself does (E3: three S3 echoes):
    # valid, with the warning (S3-compatible servers read a literal plus).
    _bug(
        "aws4fetch",
        "p-plus",
        AMBIGUOUS,
        "signs a raw '+' in the S3 path as %20, S3's own reading",
        key="a+b.txt",
    ),
    _bug(
        "aws4",
        "p-plus",
        AMBIGUOUS,
        "signs a raw '+' in the S3 path as %20, S3's own reading",
        key="a+b.txt",
    ),
    # Found here, beyond issue 16: Ruby aws-sigv4 1.5.1's normalized_querystring sorts the
    # pairs as sent, re-encoding nothing.
    _bug(
        "ruby-aws-sigv4",
        "q-star",
        BAD_QUERY,
        "normalized_querystring signs the query as sent: '*' raw where AWS has %2A",
        query=STAR,
    ),
]

CASES: list[Case] = [c for s in SIGNERS.values() for c in well_formed(s)]
CASES += [c for c in BUGS if c.signer in SIGNERS]
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# -- one proxy, every driver --------------------------------------------------------------------


@dataclass
class Outcome:
    """What one case produced: the driver's line, the flows and records that carry its id."""

    case: Case
    result: dict[str, Any] | None = None
    flows: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    form: SignedForm | None = None


@dataclass(repr=False)
class Matrix:
    """Everything the module's one run produced (skips, driver failures, versions, cases)."""

    skipped: dict[str, str]
    failed: dict[str, str]
    versions: dict[str, str]
    outcomes: dict[str, Outcome]
    unmatched_records: list[dict[str, Any]]

    def __repr__(self) -> str:
        return f"Matrix({len(self.outcomes)} cases, skipped={list(self.skipped)})"


def _case_of(headers: list[tuple[str, str]]) -> str | None:
    for k, v in headers:
        if k.lower() == MARK:
            return v
    for k, v in headers:
        if k.lower() == "user-agent" and "mxcase-" in v:
            return v.split("mxcase-", 1)[1].split()[0]
    return None


def _run_driver(
    s: Signer, cases: list[Case], tmp: Path, env: dict[str, str]
) -> tuple[str | None, dict[str, dict[str, Any]], str | None]:
    cases_file = tmp / f"cases-{s.name}.json"
    cases_file.write_text(json.dumps([c.spec() for c in cases]))
    try:
        out = subprocess.run(
            s.argv(cases_file),
            env={**env, **s.env},
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT,
        )
    except subprocess.TimeoutExpired as e:
        return None, {}, f"driver timed out after {DRIVER_TIMEOUT}s: {str(e.stderr)[-600:]}"
    version = None
    results: dict[str, dict[str, Any]] = {}
    for line in out.stdout.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "version" in obj:
            version = str(obj["version"])
        elif isinstance(obj, dict) and "id" in obj:
            results[obj["id"]] = obj
    error = None
    if out.returncode != 0 or len(results) != len(cases):
        error = (
            f"driver exit {out.returncode}, {len(results)}/{len(cases)} results; "
            f"stderr: {out.stderr[-1500:]}"
        )
    return version, results, error


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    from mitmproxy import io as mio

    tmp = tmp_path_factory.mktemp("matrix")
    (tmp / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {K1[0]}\naws_secret_access_key = {K1[1]}\n"
    )
    server = fakeaws.start_fakeaws(tmp / "fakeaws-certs", credentials=dict([K1]))
    # connection_strategy=lazy: the proxy answers the client's TLS handshake before it has an
    # upstream connection, so it offers HTTP/2 (fakeaws speaks HTTP/1.1 only; with the eager
    # default the proxy mirrors that and the Go SDK would fall back to HTTP/1.1).
    proxy = start_mitmdump(
        tmp, "--set", "connection_strategy=lazy", env=clean_aws_env(tmp), save=True
    )
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    versions: dict[str, str] = {}
    outcomes = {c.id: Outcome(c) for c in CASES}
    try:
        endpoint = f"https://127.0.0.1:{server.https_port}"
        env = clean_aws_env(
            tmp,
            HTTPS_PROXY=proxy.url,
            MX_CA_BUNDLE=proxy.ca,
            NODE_EXTRA_CA_CERTS=proxy.ca,
            MX_ENDPOINT=endpoint,
            AWS_ACCESS_KEY_ID=K1[0],
            AWS_SECRET_ACCESS_KEY=K1[1],
            PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        )
        deb = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "golang-github-aws-aws-sdk-go-v2-dev"],
            capture_output=True,
            text=True,
        )
        if deb.returncode == 0:
            env["MX_GO_SDK_VERSION"] = deb.stdout.strip() + " (Debian)"
        for s in SIGNERS.values():
            reason = s.missing()
            if reason:
                skipped[s.name] = reason
                continue
            cases = [c for c in CASES if c.signer == s.name]
            version, results, error = _run_driver(s, cases, tmp, env)
            versions[s.name] = version or "?"
            if error:
                failed[s.name] = error
            for cid, res in results.items():
                if cid in outcomes:
                    outcomes[cid].result = res
    finally:
        proxy.stop()
        server.stop()
    records = {r["flow_id"]: r for r in proxy.records()}
    unmatched = dict(records)
    assert proxy.flows_path is not None
    with open(proxy.flows_path, "rb") as fh:
        for flow in mio.FlowReader(fh).stream():
            req = getattr(flow, "request", None)
            if req is None:
                continue
            headers = list(req.headers.items(multi=True))
            case_id = _case_of(headers)
            if case_id is None or case_id not in outcomes:
                continue
            if "host" not in req.headers:
                headers.append(("host", req.host_header or ""))
            body = req.raw_content or b""
            outcomes[case_id].flows.append(
                {
                    "id": flow.id,
                    "http_version": req.http_version,
                    "method": req.method,
                    "target": req.path,
                    "body_sha256": hashlib.sha256(body).hexdigest(),
                }
            )
            outcomes[case_id].form = find_signed_form(req.method, req.path, headers, body, K1[1])
            if flow.id in records:
                outcomes[case_id].records.append(unmatched.pop(flow.id))
    m = Matrix(skipped, failed, versions, outcomes, list(unmatched.values()))
    if os.environ.get("MX_EVIDENCE"):
        _write_evidence(Path(os.environ["MX_EVIDENCE"]), m)
    yield m


def _write_evidence(path: Path, m: Matrix) -> None:
    rows = []
    for o in m.outcomes.values():
        c = o.case
        r = o.records[0] if o.records else {}
        rows.append(
            {
                "case": c.id,
                "signer": c.signer,
                "version": m.versions.get(c.signer),
                "expect": c.expect,
                "reason": c.reason,
                "target": o.flows[0]["target"] if o.flows else None,
                "http_version": o.flows[0]["http_version"] if o.flows else None,
                "status": (o.result or {}).get("status"),
                "driver_error": (o.result or {}).get("error"),
                "signed": asdict(o.form) if o.form else None,
                "signer_canonical": (o.result or {}).get("canonical"),
                "verdict": r.get("verdict"),
                "codes": [f["code"] for f in r.get("findings", [])],
            }
        )
    path.write_text(json.dumps({"skipped": m.skipped, "failed": m.failed, "cases": rows}, indent=1))


def _skip_if_unavailable(m: Matrix, case: Case) -> None:
    if case.signer in m.skipped:
        pytest.skip(f"{case.signer}: {m.skipped[case.signer]}")


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_traffic(matrix: Matrix, case: Case) -> None:
    """The driver ran the case, one request reached the proxy, and what the signer signed
    (found from its signature) agrees with the expectation."""
    _skip_if_unavailable(matrix, case)
    o = matrix.outcomes[case.id]
    assert o.result is not None, f"no driver result: {matrix.failed.get(case.signer)}"
    assert len(o.flows) == 1, f"{len(o.flows)} flows carry {case.id}: {o.flows}"
    if case.expect == VALID and not case.reason:
        # well-formed: the endpoint accepted it
        assert o.result["error"] is None and (o.result["status"] or 0) < 300, o.result
    form = o.form
    assert form is not None, (
        f"no reading of {o.flows[0]['target']!r} reproduces the signature "
        f"(signer's own canonical request: {o.result.get('canonical')!r})"
    )
    if case.expect == VALID:
        assert form.matches_aws, form
    elif case.expect == BAD_QUERY:
        assert form.query != form.aws_query and form.path == form.aws_path, form
    elif case.expect == BAD_PATH:
        assert form.path != form.aws_path and form.query == form.aws_query, form
    elif case.expect == AMBIGUOUS:
        assert form.matches_aws, form


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_record(matrix: Matrix, case: Case) -> None:
    """The addon's record for the case: verdict and finding codes."""
    _skip_if_unavailable(matrix, case)
    o = matrix.outcomes[case.id]
    assert len(o.records) == 1, f"{len(o.records)} records for {case.id} (flows: {o.flows})"
    r = o.records[0]
    codes = [f["code"] for f in r["findings"]]
    errors = [f["code"] for f in r["findings"] if f["severity"] == "error"]
    summary = (r["verdict"], codes, r["url"])
    if case.expect == VALID:
        assert r["verdict"] == "valid", summary
        assert not errors, summary
        assert "QUERY_ENCODING" not in codes and "URI_ENCODING" not in codes, summary
    elif case.expect in (BAD_QUERY, BAD_PATH):
        want = case.expect.split(":", 1)[1]
        other = "URI_ENCODING" if want == "QUERY_ENCODING" else "QUERY_ENCODING"
        assert r["verdict"] == "invalid", summary
        assert want in codes, summary
        assert other not in codes, summary
    elif case.expect == AMBIGUOUS:
        assert r["verdict"] == "valid", summary
        assert "ENCODING_AMBIGUOUS" in codes, summary


def test_go_sdk_uses_http2(matrix: Matrix) -> None:
    """The Go SDK's requests reach the proxy over HTTP/2 (read from the saved flows)."""
    if "go-sdk-v2" in matrix.skipped:
        pytest.skip(f"go-sdk-v2: {matrix.skipped['go-sdk-v2']}")
    versions = {
        f["http_version"]
        for o in matrix.outcomes.values()
        if o.case.signer == "go-sdk-v2"
        for f in o.flows
    }
    assert versions == {"HTTP/2.0"}, versions


def test_every_record_belongs_to_a_case(matrix: Matrix) -> None:
    """No record is left over: every request the drivers sent carried its case id."""
    assert not matrix.unmatched_records, [(r["method"], r["url"]) for r in matrix.unmatched_records]


def test_no_driver_failed(matrix: Matrix) -> None:
    """Every installed signer's driver ran all its cases (a skipped signer is named)."""
    assert not matrix.failed, matrix.failed
