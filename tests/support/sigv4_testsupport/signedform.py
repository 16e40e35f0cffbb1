"""Which canonical form did a signer sign? Found from the request alone, independently of the
project's core: the canonical request is rebuilt with several readings of the path and the
query (AWS's own, the bytes as sent, '+' read as a space, ...) and the one whose signature
equals the signature the client sent names what the signer computed.

Used by tests/test_signer_matrix.py to check, from real traffic, what each signer signs for
each case (the evidence behind the matrix's expectations), and runnable by hand over a saved
flow file: ``python -m sigv4_testsupport.signedform FLOWS.mitm SECRET``.

AWS's form (the model the project follows, see the helper notes and docs): the query is split
on '&', each pair on the first '=', name and value percent-decoded (a raw '+' is a space, '%2B' a plus: docs/aws-canonicalization.md
E6; the one switch ``PLUS_IS_SPACE`` below), re-encoded outside
A-Za-z0-9-_.~ with uppercase hex, sorted by encoded name then value. An S3 path is decoded (a raw '+'
a space, E3) and re-encoded keeping '/', nothing normalised; any other service's path has dot and empty
segments removed and is then encoded once more as received (each '%' becomes '%25').
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

S3_SERVICES = frozenset({"s3", "s3-object-lambda", "s3-outposts", "s3express"})
#: How AWS reads a raw '+' in the query and in an S3 path: a space (docs/aws-canonicalization.md).
PLUS_IS_SPACE = True
_UNRESERVED = "-_.~"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)"
)
_MAX_PAIRS = 1000


def _enc(data: bytes | str, keep_slash: bool = False) -> str:
    return quote(data, safe=_UNRESERVED + ("/" if keep_slash else ""))


def _dec(value: str, plus_is_space: bool = False) -> bytes:
    if plus_is_space:
        value = value.replace("+", " ")
    return unquote_to_bytes(value)


def _pairs(query: str) -> list[tuple[str, str]]:
    out = []
    for part in query.split("&")[:_MAX_PAIRS]:
        if not part:
            continue
        name, _, value = part.partition("=")
        out.append((name, value))
    return out


def aws_query(query: str, plus_is_space: bool = PLUS_IS_SPACE) -> str:
    """The canonical query string as AWS computes it."""
    pairs = [(_enc(_dec(n, plus_is_space)), _enc(_dec(v, plus_is_space))) for n, v in _pairs(query)]
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal plus empty-segment removal, keeping a trailing '/'."""
    out: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    result = "/" + "/".join(out)
    if path.endswith("/") and result != "/":
        result += "/"
    return result


def aws_path(path: str, service: str) -> str:
    """The canonical URI as AWS computes it for ``service``."""
    if service in S3_SERVICES:
        return _enc(_dec(path, plus_is_space=PLUS_IS_SPACE), keep_slash=True)
    return _enc(remove_dot_segments(path), keep_slash=True)


def query_forms(query: str) -> dict[str, str]:
    """Named readings of a query string (first name wins when two readings agree)."""
    raw_pairs = _pairs(query)
    forms = {
        "aws": aws_query(query),
        "as-sent": "&".join(f"{n}={v}" for n, v in sorted(raw_pairs)),
        "as-sent-unsorted": "&".join(f"{n}={v}" for n, v in raw_pairs),
        "plus-as-space": aws_query(query, plus_is_space=True),
        "plus-as-literal": aws_query(query, plus_is_space=False),
        "encodeURIComponent": "&".join(
            f"{n}={v}"
            for n, v in sorted(
                (
                    quote(_dec(n), safe=_UNRESERVED + "!'()*"),
                    quote(_dec(v), safe=_UNRESERVED + "!'()*"),
                )
                for n, v in raw_pairs
            )
        ),
    }
    return _dedupe(forms)


def path_forms(path: str, service: str) -> dict[str, str]:
    """Named readings of a path."""
    forms = {
        "aws": aws_path(path, service),
        "as-sent": path,
        "s3-form (decoded, encoded once)": _enc(_dec(path), keep_slash=True),
        "double-encoded": _enc(path, keep_slash=True),
        "plus-as-space": _enc(_dec(path, plus_is_space=True), keep_slash=True),
        "encodeURIComponent": quote(_dec(path), safe=_UNRESERVED + "/!'()*"),
    }
    return _dedupe(forms)


def _dedupe(forms: dict[str, str]) -> dict[str, str]:
    seen: set[str] = set()
    out = {}
    for name, value in forms.items():
        if value not in seen:
            seen.add(value)
            out[name] = value
    return out


@dataclass(frozen=True)
class SignedForm:
    """What a signer signed: the matching path and query readings (names and strings)."""

    path_form: str
    path: str
    query_form: str
    query: str
    aws_path: str
    aws_query: str

    @property
    def matches_aws(self) -> bool:
        return self.path == self.aws_path and self.query == self.aws_query


def _header_map(headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in headers:
        out.setdefault(k.lower(), []).append(v)
    return out


def _canon_value(values: Sequence[str]) -> str:
    return ",".join(" ".join(v.split()) for v in values)


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def find_signed_form(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    secret: str,
) -> SignedForm | None:
    """The path and query readings under which the request's SigV4 signature verifies with
    ``secret`` (None when no reading does, or the request is not SigV4)."""
    path, _, query = target.partition("?")
    hmap = _header_map(headers)
    auth = (hmap.get("authorization") or [""])[0]
    m = _AUTH.search(auth)
    if m:
        credential, signed, signature = m.group(1), m.group(2).split(";"), m.group(3)
        amz_date = (hmap.get("x-amz-date") or [""])[0]
        payload = (hmap.get("x-amz-content-sha256") or [""])[0] or hashlib.sha256(body).hexdigest()
        signed_query = query
    else:
        qp = {n: v for n, v in _pairs(query)}
        if qp.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            return None
        credential = unquote_to_bytes(qp.get("X-Amz-Credential", "")).decode()
        signed = unquote_to_bytes(qp.get("X-Amz-SignedHeaders", "")).decode().split(";")
        signature = qp.get("X-Amz-Signature", "")
        amz_date = qp.get("X-Amz-Date", "")
        signed_query = "&".join(
            p for p in query.split("&") if p.partition("=")[0] != "X-Amz-Signature"
        )
        scope_service = credential.split("/")[3] if credential.count("/") >= 4 else ""
        payload = unquote_to_bytes(qp.get("X-Amz-Content-Sha256", "")).decode() or (
            "UNSIGNED-PAYLOAD" if scope_service in S3_SERVICES else hashlib.sha256(body).hexdigest()
        )
    parts = credential.split("/")
    if len(parts) != 5:
        return None
    _, date, region, service, _ = parts
    canon_headers = "".join(f"{h}:{_canon_value(hmap.get(h, []))}\n" for h in signed)
    key = _signing_key(secret, date, region, service)
    pforms = path_forms(path, service)
    qforms = query_forms(signed_query)
    for pname, p in pforms.items():
        for qname, q in qforms.items():
            creq = "\n".join([method, p, q, canon_headers, ";".join(signed), payload])
            sts = "\n".join(
                [
                    "AWS4-HMAC-SHA256",
                    amz_date,
                    f"{date}/{region}/{service}/aws4_request",
                    hashlib.sha256(creq.encode()).hexdigest(),
                ]
            )
            if hmac.compare_digest(
                hmac.new(key, sts.encode(), hashlib.sha256).hexdigest(), signature
            ):
                return SignedForm(pname, p, qname, q, pforms["aws"], qforms["aws"])
    return None


def main(argv: list[str]) -> int:
    """Print, for each flow in a saved file, the readings its signature verifies under."""
    from mitmproxy import io

    if len(argv) != 2:
        print("usage: python -m sigv4_testsupport.signedform FLOWS.mitm SECRET", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as fh:
        for flow in io.FlowReader(fh).stream():
            req = getattr(flow, "request", None)
            if req is None:
                continue
            headers = list(req.headers.items(multi=True))
            if "host" not in req.headers:
                headers.append(("host", req.host_header or ""))
            form = find_signed_form(req.method, req.path, headers, req.raw_content or b"", argv[1])
            print(req.method, req.path, "->", form)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
