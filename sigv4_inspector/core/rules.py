"""Diagnosis rules: each finding code of report.md is produced here by exactly one rule,
with its message and fix beside it.

A rule reads a :class:`Context` (the request as the client sent it, the verification, the
proxy's clock, what the proxy changed, the server's answer, the variant search) and says
what it sees. Rules never read each other's findings: :func:`diagnose` runs them all, and
one final pass (:mod:`sigv4_inspector.core.rank`) orders the findings, most specific cause first, and
drops what a more specific finding already says. Adding a diagnosis means adding one rule
here and one test; the addon never changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sigv4_inspector.core import awsmodel
from sigv4_inspector.core.canonical_diff import DiffEntry, canonical_diff
from sigv4_inspector.core.codes import Code
from sigv4_inspector.core.dates import parse_amz_date
from sigv4_inspector.core.endpoints import DEFAULT, Endpoints, HostInfo, is_aws_host
from sigv4_inspector.core.errorclass import ErrorClass, classify
from sigv4_inspector.core.learn import is_global_sts_host
from sigv4_inspector.core.model import (
    Finding,
    HeaderIndex,
    ParsedAuth,
    Reason,
    Scope,
    Severity,
    Verdict,
    Verification,
    WireRequest,
    fingerprint,
    header_index,
    index_joined,
)
from sigv4_inspector.core.postpolicy import (
    ConditionKind,
    ConditionResult,
    Outcome,
    PolicyErrorKind,
    PolicyErrorMessage,
    PolicyEvaluation,
    PostUpload,
    find_condition,
    parse_policy_error,
)
from sigv4_inspector.core.redact import (
    redact_echoed_request,
    replace_known,
    signature_mark,
    token_mark,
)
from sigv4_inspector.core.tokens import describe_token, token_format

if TYPE_CHECKING:
    from sigv4_inspector.core.forensics import ForensicResult
    from sigv4_inspector.core.servererror import ServerError

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "proxy-authorization",
        "proxy-authenticate",
        "proxy-connection",
    }
)
VOLATILE = frozenset(
    {
        "accept-encoding",
        "via",
        "x-amzn-trace-id",
        "traceparent",
        "tracestate",
        "baggage",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-real-ip",
        "forwarded",
        "cdn-loop",
        "x-request-id",
    }
)
S3_SKEW = timedelta(minutes=15)
DEFAULT_SKEW = timedelta(minutes=5)
MAX_PRESIGN = 604800
S3_SERVICES = ("s3", "s3-object-lambda", "s3express", "s3-outposts")
MAX_PER_RULE = 20  # findings one rule makes per flow at most (the record holds 50)
ENCODE_FIX = "percent-encode every byte outside A-Z a-z 0-9 -_.~"


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    server_error: ServerError | None = None  # when the body is an AWS error
    has_body: bool = True
    _index: HeaderIndex | None = field(default=None, compare=False, repr=False)

    def header(self, name: str) -> str | None:
        """The values of a header joined with ',' (case-insensitive), or None if absent."""
        if self._index is None:  # several rules ask; the headers are lower-cased once
            self._index = header_index(self.headers)
        return index_joined(self._index, name.lower())


@dataclass
class ProxyChange:
    """A difference between the request as the client sent it and as sent upstream."""

    part: str  # "header", "host", "path", "query", "body"
    name: str | None
    client: str | None
    upstream: str | None
    cause: str  # "modify_headers option", "anticomp option", "another addon", ...
    signed: bool


@dataclass
class Context:
    req: WireRequest
    v: Verification
    now: datetime
    response: Response | None = None
    proxy_changes: list[ProxyChange] = field(default_factory=list)
    token_issuer: str | None = None  # host that issued the session token, when learned
    client_clock_ok: bool | None = None  # other recent flows of this client were current
    forensic: ForensicResult | None = None  # the variant search's result, when run
    input_source: str = "live"  # "live", "file" (a .mitm replay) or "har"
    limits: list[str] = field(default_factory=list)  # analysis bounds that were hit
    endpoints: Endpoints = DEFAULT  # what host names say (botocore's data, from the runtime)
    credentials_problem: str | None = None  # why the user's credentials are not loaded
    _echo_diff: list[DiffEntry] | None = field(default=None, repr=False)
    _error_class: ErrorClass | None = field(default=None, repr=False)
    _host: HostInfo | None = field(default=None, repr=False)

    @property
    def host(self) -> HostInfo:
        if self._host is None:
            self._host = self.endpoints.host_info(self.req.host)
        return self._host

    @property
    def auth(self) -> ParsedAuth:
        return self.v.auth

    @property
    def service(self) -> str | None:
        return self.auth.scope.service if self.auth.scope else None


Rule = Callable[[Context], Iterable[Finding]]
#: Each rule with the facts it can fire on (empty: every flow). :func:`diagnose` runs a rule
#: only when one of its facts holds, so a healthy flow pays for a third of the rules; the
#: facts are cheap tests on the inputs, never on other rules' findings.
RULES: list[tuple[Rule, frozenset[str]]] = []


def rule(*needs: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES.append((fn, frozenset(needs)))
        return fn

    return register


def facts(ctx: Context) -> set[str]:
    """What this flow offers the rules: the failed check, changes in the proxy, a response,
    an error answer, the variant search, checksums, contested readings, a presigned URL, a
    session token or temporary credentials, SigV2, no signature, bounds hit, a HAR file."""
    v, auth, resp = ctx.v, ctx.v.auth, ctx.response
    out = set()
    if v.verdict is not Verdict.VALID or v.reason:
        out.add("failed")
    if ctx.proxy_changes:
        out.add("changes")
    if resp is not None:
        out.add("response")
        if resp.server_error is not None or resp.status >= 300:
            out.add("error")
    if ctx.forensic is not None:
        out.add("forensic")
    if v.checksums:
        out.add("checksums")
    if v.ambiguity:
        out.add("ambiguity")
    if v.body_unchecked:
        out.add("body_unchecked")
    if auth.location == "query":
        out.add("presigned")
    if auth.session_token or (v.credential is not None and v.credential.expiry is not None):
        out.add("temporary")
    if auth.scheme == "sigv2":
        out.add("sigv2")
    if auth.scheme == "none":
        out.add("unsigned")
    if ctx.limits:
        out.add("limits")
    if ctx.input_source == "har":
        out.add("har")
    if v.post_upload is not None:
        out.add("post")
    return out


def _f(code: Code, severity: str, message: str, fix: str = "", **evidence: Any) -> Finding:
    return Finding(str(code), severity, message, fix, evidence)  # type: ignore[arg-type]


def check_unavailable_finding(
    severity: Severity, message: str, fix: str = "", **evidence: Any
) -> Finding:
    """The one maker of CHECK_UNAVAILABLE: a check that could not run (the rule
    :func:`check_unavailable`), a rule that failed (:func:`diagnose`) and a flow the
    inspector failed on (:func:`sigv4_inspector.core.inspect.fallback_inspection`)."""
    return _f(Code.CHECK_UNAVAILABLE, severity, message, fix, **evidence)


def _user_agent(ctx: Context) -> str:
    return ctx.req.header("user-agent") or ""


def _label(name: str) -> str:
    return "-".join(p.capitalize() for p in name.split("-"))


def _reasons(v: Verification) -> list[Reason]:
    return [r for r in [v.reason, *v.detail.get("also", [])] if r]


def _server_error(ctx: Context) -> ServerError | None:
    return ctx.response.server_error if ctx.response else None


def _classify(ctx: Context, se: ServerError) -> ErrorClass:
    """What the server's error (``se``, this flow's) names (computed once per flow; several
    rules read it)."""
    if ctx._error_class is None:
        try:
            ctx._error_class = classify(se)
        except Exception:
            ctx._error_class = ErrorClass.OTHER
    return ctx._error_class


def _echo_diff(ctx: Context) -> list[DiffEntry]:
    """The parts in which the server's echoed canonical request differs from the local one
    (computed once per flow; several rules read it)."""
    if ctx._echo_diff is None:
        ctx._echo_diff = _compute_echo_diff(ctx)
    return ctx._echo_diff


def _compute_echo_diff(ctx: Context) -> list[DiffEntry]:
    se = _server_error(ctx)
    server_creq = getattr(se, "canonical_request", None) if se else None
    local = ctx.v.canonical_request
    if not server_creq or not local or server_creq == local:
        return []
    try:
        return canonical_diff(local, server_creq)
    except Exception:
        return []


def _hop_name(ctx: Context) -> str | None:
    if ctx.response is None:
        return None
    if ctx.response.header("cf-ray"):
        return "Cloudflare"
    return ctx.response.header("via") or None


def _forensic(ctx: Context, kind: str) -> ForensicResult | None:
    fz = ctx.forensic
    if fz is not None and fz.explained and fz.kind == kind:
        return fz
    return None


# --- the verification's own outcome -------------------------------------------------------


@rule("failed", "post")
def malformed_authorization(ctx: Context) -> Iterable[Finding]:
    """The Authorization header, presigned query or S3 POST form's signing fields cannot be
    parsed; or a POST policy S3 cannot use at all (InvalidPolicyDocument: "Invalid Policy")."""
    post = _post(ctx)
    if post is not None and post[0].policy_b64:
        for problem in post[1].policy_problems[:4]:
            yield _f(
                Code.MALFORMED_AUTHORIZATION,
                "error",
                f"The POST policy cannot be used: {_scrub(ctx, problem, POST_TEXT_CHARS)} "
                "(S3 answers 400 InvalidPolicyDocument).",
                f"Generate the policy with an SDK ({POST_GENERATORS}) rather than by hand; the "
                "policy is base64 JSON with an ISO 8601 UTC expiration and a list of conditions.",
                problem=_scrub(ctx, problem, POST_TEXT_CHARS),
            )
    if ctx.v.reason is not Reason.MALFORMED_AUTHORIZATION:
        return
    d = ctx.v.detail
    if ctx.auth.location == "form":
        yield _f(
            Code.MALFORMED_AUTHORIZATION,
            "error",
            f"The S3 POST form's signing fields cannot be used: {d.get('error')}",
            "Send every field the presigned POST returns (url and fields), unchanged and before "
            f"the file; generate it with an SDK ({POST_GENERATORS}).",
            problems=d.get("problems"),
        )
        return
    yield _f(
        Code.MALFORMED_AUTHORIZATION,
        "error",
        f"The {'Authorization header' if ctx.auth.location == 'header' else 'presigned query'} cannot be parsed: {d.get('error')}",
        "Sign the request with an AWS SDK or a maintained signer instead of building the Authorization value by hand.",
        authorization_sha256_b64=d.get("authorization_sha256_b64"),
        problems=d.get("problems"),
    )


@rule("failed")
def signed_header_missing(ctx: Context) -> Iterable[Finding]:
    missing = ctx.v.missing_headers
    if not missing or ctx.v.verdict is Verdict.VALID:
        return
    values = dict(ctx.v.detail.get("values", {}))
    fz = _forensic(ctx, "header")
    if fz is not None and fz.evidence.get("header") in missing and fz.evidence.get("signed_value"):
        values[fz.evidence["header"]] = fz.evidence["signed_value"]
    if len(missing) > MAX_PER_RULE:  # thousands of signed headers absent: name a few, count all
        yield _f(
            Code.SIGNED_HEADER_MISSING,
            "error",
            f"SignedHeaders lists {len(missing)} headers the request does not carry "
            f"(the first: {', '.join(missing[:5])}).",
            "Sign only the headers the request sends; a signer that lists every header it saw "
            "before a hop removed them breaks here.",
            headers=missing[:MAX_PER_RULE],
            count=len(missing),
            where="as-received",
        )
        return
    for name in missing:
        value = values.get(name)
        header = _label(name)
        if ctx.auth.location == "query":
            shown = f"{name}: {value}" if value else name
            msg = f"The presigned URL signed {shown} but the {ctx.req.method} request sent none."
            if value:
                fix = (
                    f"Send the header {header}: {value} with the request "
                    f"(requests.put(url, data=f, headers={{'{header}': '{value}'}}))."
                )
            else:
                fix = (
                    f"Send the header {header} with exactly the value used when the URL was generated"
                    + (
                        " (the ContentType passed to generate_presigned_url)"
                        if name == "content-type"
                        else ""
                    )
                    + ", or generate the URL without it."
                )
        else:
            msg = f"SignedHeaders lists '{name}', but the request carries no such header."
            fix = f"Find what removed '{name}' after signing (a proxy, the HTTP library) or stop signing it."
        yield _f(
            Code.SIGNED_HEADER_MISSING,
            "error",
            msg,
            fix,
            header=name,
            value=value,
            where="as-received",
        )


@rule("changes", "error", "forensic")
def header_modified(ctx: Context) -> Iterable[Finding]:
    """A signed header changed: inside the proxy (seen directly), after it (the server's
    echo shows another value), or before it (inferred by the variant search)."""
    for ch in ctx.proxy_changes:
        if ch.part == "header" and ch.signed:
            yield _f(
                Code.HEADER_MODIFIED,
                "error",
                f"The proxy changed the signed header '{ch.name}' from {ch.client!r} to {ch.upstream!r} ({ch.cause}); the request left the client valid and reached upstream broken.",
                f"Turn off what changed it ({ch.cause}) for AWS traffic.",
                where="in-proxy",
                header=ch.name,
                client=ch.client,
                upstream=ch.upstream,
                cause=ch.cause,
            )
    for d in _echo_diff(ctx):
        if d.get("part") == "header" and d.get("name") != "host":
            msg, fix, hop = _header_changed_after_proxy(ctx, d)
            yield _f(
                Code.HEADER_MODIFIED,
                "error",
                msg,
                fix,
                where="after-proxy",
                header=str(d.get("name")),
                client=d.get("local"),
                upstream=d.get("server"),
                hop=hop,
            )
    fz = _forensic(ctx, "header")
    if fz is not None and fz.evidence.get("header") not in ctx.v.missing_headers:
        yield _f(
            Code.HEADER_MODIFIED,
            "error",
            f"The signature matches only if {fz.description}.",
            "Send the signed header byte-for-byte as signed: stop the library or hop that rewrites it, or do not sign it.",
            **{**fz.evidence, "where": "inferred", "variant": fz.description, "tried": fz.tried},
        )


def _header_changed_after_proxy(ctx: Context, d: DiffEntry) -> tuple[str, str, str | None]:
    """The message and fix for a signed header the server's echo shows changed after the
    proxy, and the name of that hop (when known)."""
    name = str(d.get("name"))
    local, server = d.get("local"), d.get("server")
    hop = _hop_name(ctx)
    who = (
        f"the hop after the proxy ({hop})"
        if hop
        else "a hop after the proxy (CDN, load balancer, S3 accelerate edge)"
    )
    label = _label(name)
    what = "stripped" if server in (None, "") else f"changed to {server!r}"
    if name in HOP_BY_HOP:
        te = name == "transfer-encoding"
        return (
            f"{who[0].upper() + who[1:]} {what} {label} (sent as {local!r}), which your SDK signed; intermediaries may legally do that to a hop-by-hop header.",
            "Upgrade to botocore >= 1.36.7 (boto3 >= 1.36.7), which no longer signs Transfer-Encoding, or set AWS_REQUEST_CHECKSUM_CALCULATION=when_required."
            if te
            else f"Stop signing {label}: it is hop-by-hop and may change on the way.",
            hop,
        )
    return (
        f"The signed header {label} reached the server {('without it' if server in (None, '') else 'as ' + repr(server))}, not as {local!r} as signed: {who} rewrites it.",
        f"Make {who} forward {label} unchanged, or do not sign it.",
        hop,
    )


@rule("changes", "error", "forensic")
def host_mismatch(ctx: Context) -> Iterable[Finding]:
    for ch in ctx.proxy_changes:
        if ch.part == "host" and ch.signed:
            yield _f(
                Code.HOST_MISMATCH,
                "error",
                f"The proxy changed Host from '{ch.client}' to '{ch.upstream}' ({ch.cause}) after the client signed it.",
                "Set keep_host_header (reverse mode) or remove the map_remote rule for AWS hosts.",
                where="in-proxy",
                client=ch.client,
                upstream=ch.upstream,
                cause=ch.cause,
            )
    for d in _echo_diff(ctx):
        if d.get("part") == "header" and d.get("name") == "host":
            yield _f(
                Code.HOST_MISMATCH,
                "error",
                f"The server received Host {d.get('server')!r} but the client signed {d.get('local')!r}.",
                "Make the hop after the proxy keep the Host header (no added/removed port).",
                where="after-proxy",
                client=d.get("local"),
                upstream=d.get("server"),
            )
    fz = _forensic(ctx, "host")
    if fz is not None:
        yield _f(
            Code.HOST_MISMATCH,
            "error",
            f"The signature matches only if {fz.description}.",
            "Sign the Host exactly as it is sent: keep or drop the port consistently (endpoint_url vs the Host a proxy forwards).",
            **{**fz.evidence, "where": "inferred", "variant": fz.description, "tried": fz.tried},
        )


def _chars(pairs: list[tuple[str, str]]) -> tuple[str, str]:
    """('`*` and `!`', '`%2A` `%21`') for the message."""
    shown = [f"`{ch}`" for ch, _ in pairs]
    names = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    return names, " ".join(f"`{esc}`" for _, esc in pairs)


def _where_raw(part: str, line: str, raw: list[tuple[str, str]]) -> list[str]:
    """The query parameters or path segments that hold the raw characters."""
    chars = {ch for ch, _ in raw}
    pieces = line.split("&") if part == "query" else line.split("/")
    out = [p.split("=", 1)[0] if part == "query" else p for p in pieces if chars & set(p)]
    return list(dict.fromkeys(out))[:5]


def _signer_encoding(ctx: Context, part: str) -> tuple[str, str, dict[str, Any]] | None:
    """The message, fix and evidence when the signature matches only the signer's encoding
    of the ``part`` (``path`` or ``query``), not AWS's."""
    enc = ctx.v.encoding
    if enc is None or enc.get("part") != part or ctx.v.verdict is not Verdict.INVALID:
        return None
    raw: list[tuple[str, str]] = [(str(x[0]), str(x[1])) for x in enc.get("raw") or []]
    over: list[str] = list(enc.get("over_encoded") or [])
    signed_line, aws_line = enc["signed_line"], enc["aws_line"]
    if raw:
        names, escs = _chars(raw)
        where = _where_raw(part, signed_line, raw)
        at = f" (in {', '.join(repr(w) for w in where)})" if where else ""
        them = "it" if len(raw) == 1 else "them"
        msg = (
            f"The signer left {names} raw in the {part}{at}; AWS encodes {them} as {escs}, "
            f"so the signature matches only the {part} as the signer wrote it ({enc['signer_did']})."
        )
        fix = f"Before signing, {ENCODE_FIX} in the {part}" + (
            " (names and values)" if part == "query" else " (S3: in the object key)"
        )
        if enc.get("form", "").endswith("encodeURIComponent"):
            fix += ": after encodeURIComponent, replace ! ' ( ) * with %21 %27 %28 %29 %2A"
        fix += "; or let an AWS SDK build the request."
    elif over:
        msg = (
            f"The signer {enc['signer_did']}: it signed {' '.join(over[:5])} where AWS's "
            f"canonical {part} differs ({aws_line[:120]!r})."
        )
        fix = f"Sign the {part} as AWS canonicalises it (see the evidence), or let an AWS SDK build the request."
    else:
        msg = f"The signer {enc['signer_did']}: AWS computes the {part} as {aws_line[:120]!r}, the signature covers {signed_line[:120]!r}."
        fix = f"Sign the {part} as AWS canonicalises it, or let an AWS SDK build the request."
    evidence = {
        "where": "signer",
        "matched_variant": enc.get("form"),
        "aws_canonical": aws_line,
        "signed_canonical": signed_line,
        "characters": [ch for ch, _ in raw],
    }
    return msg, fix, evidence


@rule("failed", "changes", "error", "forensic")
def uri_encoding(ctx: Context) -> Iterable[Finding]:
    signer = _signer_encoding(ctx, "path")
    if signer is not None:
        msg, fix, evidence = signer
        yield _f(Code.URI_ENCODING, "error", msg, fix, **evidence)
    for ch in ctx.proxy_changes:
        if ch.part == "path":
            yield _f(
                Code.URI_ENCODING,
                "error",
                f"The proxy changed the request path from '{ch.client}' to '{ch.upstream}' ({ch.cause}) after signing.",
                "Remove the rule that rewrites AWS request paths.",
                where="in-proxy",
                client=ch.client,
                upstream=ch.upstream,
                cause=ch.cause,
            )
    for d in _echo_diff(ctx):
        if d.get("part") in ("uri", "path"):
            yield _f(
                Code.URI_ENCODING,
                "error",
                f"The server's canonical URI is {d.get('server')!r}, the signed one {d.get('local')!r}.",
                "A hop re-encoded or rewrote the path after signing.",
                where="after-proxy",
            )
    fz = _forensic(ctx, "path")
    if fz is not None:
        yield _f(
            Code.URI_ENCODING,
            "error",
            f"The signature matches only if {fz.description}.",
            "Make the client and every hop send the path exactly as it was signed (S3: the key encoded once; other services: normalised and encoded twice by the signer).",
            **{**fz.evidence, "where": "inferred", "variant": fz.description, "tried": fz.tried},
        )


@rule("failed", "changes", "error", "forensic")
def query_encoding(ctx: Context) -> Iterable[Finding]:
    signer = _signer_encoding(ctx, "query")
    if signer is not None:
        msg, fix, evidence = signer
        yield _f(Code.QUERY_ENCODING, "error", msg, fix, **evidence)
    for ch in ctx.proxy_changes:
        if ch.part != "query":
            continue
        harmless = awsmodel.canonical_query(ch.client or "") == awsmodel.canonical_query(
            ch.upstream or ""
        )
        cause = ch.cause
        if harmless:
            yield _f(
                Code.QUERY_ENCODING,
                "info",
                f"The proxy changed the query from '{ch.client}' to '{ch.upstream}' ({cause}); harmless: AWS decodes and sorts the parameters, so the canonical query is the same.",
                "",
                where="in-proxy",
                client=ch.client,
                upstream=ch.upstream,
                cause=cause,
            )
        else:
            yield _f(
                Code.QUERY_ENCODING,
                "error",
                f"The proxy changed the query from '{ch.client}' to '{ch.upstream}' ({cause}) after signing.",
                f"Turn off what changed it ({cause}) for AWS traffic.",
                where="in-proxy",
                client=ch.client,
                upstream=ch.upstream,
                cause=cause,
            )
    for d in _echo_diff(ctx):
        if d.get("part") == "query":
            yield _f(
                Code.QUERY_ENCODING,
                "error",
                f"The server's canonical query differs for {d.get('name')!r}: {d.get('server')!r} vs signed {d.get('local')!r}.",
                "A hop re-encoded the query string after signing.",
                where="after-proxy",
            )
    fz = _forensic(ctx, "query")
    if fz is not None:
        yield _f(
            Code.QUERY_ENCODING,
            "error",
            f"The signature matches only if {fz.description}.",
            "Build the query with the SDK (or encode it as AWS does): every parameter as name=value, percent-encoded once.",
            **{**fz.evidence, "where": "inferred", "variant": fz.description, "tried": fz.tried},
        )


@rule("ambiguity")
def encoding_ambiguous(ctx: Context) -> Iterable[Finding]:
    for amb in ctx.v.ambiguity:
        where = "query" if amb["part"] == "query" else "path"
        char = amb["character"]
        rests = "valid" if amb["matches"] == amb["model_reading"] else "invalid"
        yield _f(
            Code.ENCODING_AMBIGUOUS,
            "warning",
            f"The {where} holds a raw '{char}'. AWS reads it as {amb['model_reading']}, "
            f"which this verdict follows; other servers (and some reports) read it as "
            f"{amb['other_reading']}. The signature matches only when '{char}' is read as "
            f"{amb['matches']}, so the request is {rests} by AWS's reading and would be "
            f"{'invalid' if rests == 'valid' else 'valid'} by the other.",
            "Percent-encode it so every reading agrees: a space as %20, a plus as %2B, a slash in a key as / (not %2F).",
            reading=amb["reading"],
            model_reading=amb["model_reading"],
            other_reading=amb["other_reading"],
            matches=amb["matches"],
            sources=amb["evidence"],
        )


@rule("failed", "changes", "forensic")
def payload_hash_mismatch(ctx: Context) -> Iterable[Finding]:
    if Reason.PAYLOAD_HASH_MISMATCH in _reasons(ctx.v):
        d = ctx.v.detail if ctx.v.reason is Reason.PAYLOAD_HASH_MISMATCH else {}
        yield _f(
            Code.PAYLOAD_HASH_MISMATCH,
            "error",
            f"The body's SHA-256 ({(d.get('body') or ctx.v.body_sha256 or '')[:16]}...) differs from the signed payload hash x-amz-content-sha256 ({(d.get('signed') or ctx.v.payload_line or '')[:16]}...).",
            "The body changed after signing (re-encoding, compression, a retry that re-read a stream): sign the exact bytes that are sent.",
            where="as-received",
            signed=d.get("signed") or ctx.v.payload_line,
            body=d.get("body") or ctx.v.body_sha256,
        )
    for ch in ctx.proxy_changes:
        if ch.part == "body":
            signed = ch.signed
            yield _f(
                Code.PAYLOAD_HASH_MISMATCH,
                "error" if signed else "warning",
                f"The proxy changed the request body ({ch.cause}) after the client signed it"
                + (
                    "; the signed payload hash no longer matches what went upstream."
                    if signed
                    else "; the payload is not signed, but its checksums may no longer match."
                ),
                f"Turn off what changed it ({ch.cause}) for AWS traffic.",
                where="in-proxy",
                cause=ch.cause,
                client=ch.client,
                upstream=ch.upstream,
            )
    fz = _forensic(ctx, "payload")
    if fz is not None:
        yield _f(
            Code.PAYLOAD_HASH_MISMATCH,
            "error",
            f"The signature matches only if {fz.description}.",
            "Sign the exact body that is sent (x-amz-content-sha256 must be its SHA-256, or UNSIGNED-PAYLOAD where the service allows it).",
            **{**fz.evidence, "where": "inferred", "variant": fz.description, "tried": fz.tried},
        )


@rule("failed")
def chunk_signature_mismatch(ctx: Context) -> Iterable[Finding]:
    reasons = _reasons(ctx.v)
    if ctx.v.reason is Reason.CHUNK_SIGNATURE_MISMATCH:
        d = ctx.v.detail
        which = (
            "the trailer signature" if d.get("chunk") == "trailer" else f"chunk {d.get('chunk')}"
        )
        yield _f(
            Code.CHUNK_SIGNATURE_MISMATCH,
            "error",
            f"The aws-chunked signature chain breaks at {which} ({ctx.v.chunks_verified} chunk(s) verified before it).",
            "The chunk data or framing changed after signing (a hop re-framed the body): send the upload without re-chunking proxies, or disable aws-chunked with AWS_REQUEST_CHECKSUM_CALCULATION=when_required.",
            chunk=d.get("chunk"),
            chunks_verified=ctx.v.chunks_verified,
            detail=d.get("error"),
        )
    if Reason.AWS_CHUNKED_FRAMING in reasons:
        d = ctx.v.detail if ctx.v.reason is Reason.AWS_CHUNKED_FRAMING else {}
        yield _f(
            Code.CHUNK_SIGNATURE_MISMATCH,
            "error",
            f"The aws-chunked body is not well framed: {d.get('error', 'framing error')}.",
            "Something between the SDK and here re-framed or truncated the body; check Content-Length and any proxy that buffers uploads.",
            framing=d.get("error"),
        )
    if Reason.DECODED_LENGTH_MISMATCH in reasons:
        d = ctx.v.detail if ctx.v.reason is Reason.DECODED_LENGTH_MISMATCH else {}
        yield _f(
            Code.CHUNK_SIGNATURE_MISMATCH,
            "error",
            f"x-amz-decoded-content-length says {d.get('declared')} bytes but the aws-chunked body decodes to {d.get('decoded')}.",
            "The body was truncated or extended after signing.",
            declared=d.get("declared"),
            decoded=d.get("decoded"),
        )


@rule("checksums")
def checksum_mismatch(ctx: Context) -> Iterable[Finding]:
    for ck in ctx.v.checksums:
        if ck.ok is not False:
            continue
        if ck.expected is None:
            msg = f"x-amz-trailer announces x-amz-checksum-{ck.algorithm} but the body ends without that trailer."
        else:
            msg = f"The x-amz-checksum-{ck.algorithm} {ck.location} ({ck.expected}) does not match the body ({ck.actual})."
        yield _f(
            Code.CHECKSUM_MISMATCH,
            "error",
            msg,
            "The body changed after the checksum was computed; compute it over the bytes actually sent.",
            algorithm=ck.algorithm,
            location=ck.location,
            expected=ck.expected,
            actual=ck.actual,
        )


@rule("failed")
def signature_mismatch(ctx: Context) -> Iterable[Finding]:
    """The bare mismatch; the final pass drops it when a more specific cause is found."""
    v = ctx.v
    if v.reason is not Reason.SIGNATURE_MISMATCH or v.missing_headers:
        return
    if v.auth.location == "form":
        yield _f(
            Code.SIGNATURE_MISMATCH,
            "error",
            f"The POST policy's {'SigV2 ' if v.auth.scheme == 'sigv2' else ''}signature recomputed with the secret of {v.auth.access_key_id} ({v.credential_source}) over the policy as sent does not match the form's.",
            "Check the secret key the presigned POST was generated with, and that the policy and signature fields reach S3 exactly as generated (no re-encoding, no trimmed '=').",
            signature=fingerprint(v.auth.signature) if v.auth.signature else None,
            string_to_sign="the base64 policy field as sent",
        )
        return
    scheme = "SigV2" if v.auth.scheme == "sigv2" else "signature"
    yield _f(
        Code.SIGNATURE_MISMATCH,
        "error",
        f"The {scheme} recomputed from this request with the secret of {v.auth.access_key_id} ({v.credential_source}) does not match the one sent.",
        "Compare the record's canonical request (sigv4.explain, or the AWS Signature view) with the one your SDK logged (botocore: boto3.set_stream_logger('botocore.auth')); check the secret key and anything that edits the request after signing.",
        signature=fingerprint(v.auth.signature) if v.auth.signature else None,
        tried=ctx.forensic.tried if ctx.forensic is not None else 0,
    )


@rule("error", "forensic")
def secret_mismatch(ctx: Context) -> Iterable[Finding]:
    se = _server_error(ctx)
    server_creq = getattr(se, "canonical_request", None) if se else None
    server_sts = getattr(se, "string_to_sign", None) if se else None
    if (
        ctx.auth.location == "form"
        and server_sts
        and server_sts == ctx.v.string_to_sign
        and ctx.v.verdict is Verdict.INVALID
        and ctx.v.reason is Reason.SIGNATURE_MISMATCH
    ):
        yield _f(
            Code.SECRET_MISMATCH,
            "error",
            "S3 signed the same policy as the proxy saw (its StringToSign is the policy as sent), yet the signature differs: the secret that signed the POST is not the one known here for this key.",
            "Check the secret key the presigned POST was generated with (rotated? stray whitespace or newline?) and that the access key id and secret belong together.",
            basis="server-echo",
        )
    if (
        server_creq
        and server_creq == ctx.v.canonical_request
        and ctx.v.verdict is Verdict.INVALID
        and ctx.v.reason is Reason.SIGNATURE_MISMATCH
        and not ctx.v.missing_headers
    ):
        yield _f(
            Code.SECRET_MISMATCH,
            "error",
            "The server computed the same canonical request as the proxy, yet the signature differs: the secret used to sign is not the one AWS has for this key.",
            "Check the secret key (rotated? stray whitespace or newline in the file or variable?) and that the access key id and secret belong together.",
            basis="server-echo",
        )
    fz = _forensic(ctx, "secret")
    if fz is not None:
        yield _f(
            Code.SECRET_MISMATCH,
            "error",
            f"The signature matches only if {fz.description}.",
            "Strip whitespace and quotes from the secret access key where it is stored (env var, credentials file, secret manager).",
            where="inferred",
            variant=fz.description,
            tried=fz.tried,
        )


@rule("failed")
def unknown_access_key(ctx: Context) -> Iterable[Finding]:
    if ctx.v.reason is Reason.UNKNOWN_ACCESS_KEY:
        why = f": {ctx.credentials_problem}" if ctx.credentials_problem else ""
        yield _f(
            Code.UNKNOWN_ACCESS_KEY,
            "warning",
            f"No secret is known for access key {ctx.auth.access_key_id}, so the signature was not checked{why}.",
            "Run the proxy with the profile that signs (AWS_PROFILE, --set sigv4_credentials=FILE), or let the STS/IMDS response that issued the key pass through the proxy.",
            access_key_id=ctx.auth.access_key_id,
            credentials_problem=ctx.credentials_problem,
        )


@rule("failed", "checksums")
def check_unavailable(ctx: Context) -> Iterable[Finding]:
    v = ctx.v
    for ck in v.checksums:
        if ck.ok is None and ck.unavailable:
            yield check_unavailable_finding(
                "warning",
                f"The x-amz-checksum-{ck.algorithm} {ck.location} was not checked: {ck.unavailable} is not installed here.",
                f"Install it beside mitmproxy: pip install {ck.unavailable} (pipx: pipx inject mitmproxy {ck.unavailable}).",
                check=f"checksum-{ck.algorithm}",
                module=ck.unavailable,
            )
    if v.verdict is not Verdict.UNVERIFIED or v.reason is Reason.UNKNOWN_ACCESS_KEY:
        return
    if v.reason is Reason.BODY_UNKNOWN:
        msg = "The signature covers the body's SHA-256 and the body was not kept (streamed, or not stored), so it was not checked."
        fix = "Keep bodies (leave stream_large_bodies unset, or set store_streamed_bodies) to check such requests."
    elif v.reason is Reason.FORM_UNKNOWN:
        msg = f"This multipart/form-data POST to {ctx.req.host} may be an S3 POST upload, but its body was not seen (streamed untapped, or not kept), so its policy and signature were not read."
        fix = "Leave sigv4_stream_verify on (the default) so streamed uploads are read as they pass, or keep bodies."
    elif v.reason is Reason.INTERNAL_ERROR:
        msg = f"The check failed inside the inspector ({v.detail.get('error') or 'internal error'}); traffic was not affected."
        fix = "Report it with a bug-report bundle (sigv4.bundle)."
    else:
        msg = f"This request could not be checked ({v.reason or 'scheme not supported'})."
        fix = ""
    yield check_unavailable_finding("warning", msg, fix, check="signature", reason=v.reason)


@rule("body_unchecked")
def payload_not_verified(ctx: Context) -> Iterable[Finding]:
    note = ctx.v.body_unchecked
    if note and ctx.v.verdict is Verdict.VALID and ctx.auth.location == "form":
        yield _f(
            Code.PAYLOAD_NOT_VERIFIED,
            "warning",
            f"The upload's file was not seen whole ({note}): the verdict covers the policy and its signature, and the file's size was not checked against content-length-range.",
            "Leave sigv4_stream_verify on (the default) to read streamed uploads, or keep the body.",
            reason=note,
        )
    elif note and ctx.v.verdict is Verdict.VALID:
        yield _f(
            Code.PAYLOAD_NOT_VERIFIED,
            "warning",
            f"The body was not checked ({note}): the verdict covers the headers and the seed signature only.",
            "Leave sigv4_stream_verify on (the default) to check streamed uploads, or keep the body.",
            reason=note,
        )


@rule()
def unsigned_payload(ctx: Context) -> Iterable[Finding]:
    """Also every S3 POST upload's: its signature covers the policy, not the file; the
    finding carries the decoded policy and each condition's outcome (the record's evidence
    of the policy, read by the AWS Signature view)."""
    up = ctx.v.post_upload
    if up is not None:
        file = up.form.file
        yield _f(
            Code.UNSIGNED_PAYLOAD,
            "info",
            "The uploaded file is not covered by the signature: a POST upload signs its policy, whose conditions constrain the form"
            + (f" (the file: {file.size} bytes)." if file is not None else "."),
            "",
            payload="form-file",
            file=None
            if file is None
            else {
                "filename": _scrub(ctx, file.filename),
                "content_type": _scrub(ctx, file.content_type),
                "size": file.size,
                "complete": file.complete,
            },
            policy=_policy_evidence(ctx, up, ctx.v.post_policy)
            if ctx.v.post_policy is not None
            else None,
        )
        return
    p = ctx.v.payload_line or ctx.auth.payload or ""
    if p in ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"):
        yield _f(
            Code.UNSIGNED_PAYLOAD,
            "info",
            f"The payload is not covered by the signature ({p}).",
            "",
            payload=p,
        )


@rule("unsigned")
def unsigned_request(ctx: Context) -> Iterable[Finding]:
    if ctx.auth.scheme == "none" and ctx.v.verdict is Verdict.UNSIGNED:
        yield _f(
            Code.UNSIGNED_REQUEST,
            "info",
            f"This request to the AWS endpoint {ctx.req.host} carries no signature.",
            "If AWS answers 'Missing Authentication Token' or 403, give the client credentials (or this is a public/anonymous call).",
        )


# --- rules on the request alone -----------------------------------------------------------


@rule("sigv2")
def sigv2_deprecated(ctx: Context) -> Iterable[Finding]:
    """Also S3 POST forms signed with SigV2 (AWSAccessKeyId and signature fields): botocore
    still generates those by default for the S3 regions that accepted SigV2 unless the
    client sets signature_version='s3v4' (botocore/client.py ``_default_s3_presign_to_sigv2``,
    tests/clients/postpolicy/boto3_post.py)."""
    if ctx.auth.scheme != "sigv2":
        return
    ua = _user_agent(ctx)
    form = ctx.auth.location == "form"
    if form:
        fix = "Generate the presigned POST with SigV4: boto3 Config(signature_version='s3v4') (boto3 signs presigned POSTs with SigV2 by default in us-east-1, us-west-1, us-west-2, eu-west-1, ap-northeast-1 and sa-east-1), JS SDK v2 signatureVersion: 'v4'."
    elif ua.lower().startswith("boto/2") or "boto/2." in ua.lower():
        fix = "Upgrade boto 2 to >= 2.49 and set '[s3] use-sigv4 = True' (or S3_USE_SIGV4=True), or move to boto3."
    elif "botocore" in ua.lower() or "boto3" in ua.lower():
        fix = "Create the client with Config(signature_version='s3v4') (or remove signature_version='s3' from the config/profile)."
    else:
        fix = "Switch the client to Signature Version 4 (signature_version = s3v4 / AWS4-HMAC-SHA256)."
    ok = {
        Verdict.VALID: " (its signature is correct)",
        Verdict.INVALID: " (and its signature does not match)",
    }.get(ctx.v.verdict, "")
    se = _server_error(ctx)
    confirmed = se is not None and _classify(ctx, se) is ErrorClass.SIGV2_REJECTED
    what = (
        "This S3 POST form is signed with Signature Version 2 (AWSAccessKeyId and signature fields)"
        if form
        else "The request uses Signature Version 2"
    )
    yield _f(
        Code.SIGV2_DEPRECATED,
        "error",
        f"{what}{ok}, which S3 regions opened after 2014, China regions and new buckets refuse"
        + (" (the server said so: use AWS4-HMAC-SHA256)." if confirmed else "."),
        fix,
        user_agent=ua[:120],
        server_confirms=confirmed,
    )


@rule()
def hop_by_hop_signed(ctx: Context) -> Iterable[Finding]:
    signed = [h for h in ctx.auth.signed_headers if h in HOP_BY_HOP or h.startswith("proxy-")]
    if not signed:
        return
    te = "transfer-encoding" in signed
    fix = (
        "Upgrade botocore to 1.36.7 or later (boto3 >= 1.36.7), or set request_checksum_calculation=when_required / AWS_REQUEST_CHECKSUM_CALCULATION=when_required."
        if te
        else "Do not sign hop-by-hop headers: remove them from the signer's header list."
    )
    yield _f(
        Code.HOP_BY_HOP_SIGNED,
        "warning",
        f"SignedHeaders includes {', '.join(signed)}, which any proxy or CDN may legally change or drop.",
        fix,
        headers=signed,
    )


@rule()
def volatile_header_signed(ctx: Context) -> Iterable[Finding]:
    signed = [h for h in ctx.auth.signed_headers if h in VOLATILE]
    if "range" in ctx.auth.signed_headers and ctx.req.header("via"):
        signed.append("range")
    if signed:
        yield _f(
            Code.VOLATILE_HEADER_SIGNED,
            "warning",
            f"SignedHeaders includes {', '.join(signed)}, which proxies, CDNs, tracing agents or browsers commonly rewrite.",
            "Sign only the headers AWS needs (host, x-amz-*, content-type, content-md5); exclude these from the signer.",
            headers=signed,
        )


@rule()
def unsigned_amz_header(ctx: Context) -> Iterable[Finding]:
    if ctx.service not in ("s3", "s3-object-lambda") or ctx.auth.location != "header":
        return
    signed = set(ctx.auth.signed_headers)
    # S3 requires every x-amz-* header to be signed, the session token included
    unsigned = sorted(
        k
        for k in ctx.req.header_names()
        if k.startswith("x-amz-") and k not in signed and k != "x-amz-content-sha256"
    )
    if unsigned:
        yield _f(
            Code.UNSIGNED_AMZ_HEADER,
            "error",
            f"The S3 request carries {', '.join(unsigned[:10])}{' ...' if len(unsigned) > 10 else ''} outside SignedHeaders; S3 answers AccessDenied (HeadersNotSigned).",
            "Add these headers before signing (typical: the session token or x-amz-acl added after the signer ran).",
            headers=unsigned,
        )


@rule()
def s3_content_sha256_missing(ctx: Context) -> Iterable[Finding]:
    """S3 requires x-amz-content-sha256 on every request signed with SigV4 in the
    Authorization header (S3 API reference, "Common Request Headers" and "Authenticating
    Requests: Using the Authorization Header"; S3 answers 400 InvalidRequest "Missing
    required header for this request: x-amz-content-sha256")."""
    auth = ctx.auth
    if (
        auth.scheme not in ("sigv4", "sigv4a")
        or auth.location != "header"
        or ctx.service not in S3_SERVICES
        or ctx.req.header("x-amz-content-sha256") is not None
    ):
        return
    yield _f(
        Code.S3_CONTENT_SHA256_MISSING,
        "error",
        "This S3 request is signed with SigV4 in the Authorization header but carries no x-amz-content-sha256; S3 answers 400 InvalidRequest (Missing required header for this request: x-amz-content-sha256).",
        "Send x-amz-content-sha256 and sign it: the body's SHA-256 in hex, or UNSIGNED-PAYLOAD (curl: -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' with --aws-sigv4).",
        header="x-amz-content-sha256",
    )


@rule()
def security_token_missing(ctx: Context) -> Iterable[Finding]:
    akid = ctx.auth.access_key_id or ""
    if akid.startswith("ASIA") and not ctx.auth.session_token and ctx.auth.location == "form":
        # "If the request is using session credentials, it requires one x-amz-security-token
        # form" field, which the policy must then cover (AWS, "Creating HTML Forms")
        yield _f(
            Code.SECURITY_TOKEN_MISSING,
            "error",
            f"The temporary access key {akid} signs this POST upload, but the form sends no x-amz-security-token field.",
            "Send the x-amz-security-token field the presigned POST returns (generate it with the session's credentials: every SDK then adds the field and its policy condition).",
            access_key_id=akid,
            where="form",
        )
    elif akid.startswith("ASIA") and not ctx.auth.session_token:
        yield _f(
            Code.SECURITY_TOKEN_MISSING,
            "error",
            f"The temporary access key {akid} is used without X-Amz-Security-Token.",
            "Pass the session token with the key (AWS_SESSION_TOKEN / aws_session_token), and sign it.",
            access_key_id=akid,
        )


STS_FIX = "Create the STS client with a region, or set AWS_STS_REGIONAL_ENDPOINTS=regional (config sts_regional_endpoints = regional), then get new credentials."


def _global_token(ctx: Context) -> str | None:
    """How the session token is known to come from the global STS endpoint, or None."""
    token = ctx.auth.session_token
    if not token:
        return None
    learned = ctx.token_issuer
    # the issuing host decides when it is an AWS STS host; otherwise (a local or custom
    # STS endpoint) the token's format is the evidence
    if learned and is_aws_host(learned):
        return (
            f"the STS response that issued it came from {learned}"
            if is_global_sts_host(learned)
            else None
        )
    if token_format(token) == "v1":
        return "its format (v1, global-endpoint; the format is observed, not specified)"
    return None


@rule("temporary")
def sts_global_token_sigv4a(ctx: Context) -> Iterable[Finding]:
    basis, token = _global_token(ctx), ctx.auth.session_token
    if basis is None or token is None or ctx.auth.scheme != "sigv4a":
        return
    yield _f(
        Code.STS_GLOBAL_TOKEN_SIGV4A,
        "error",
        f"This SigV4a request carries a session token issued by the global STS endpoint (known from {basis}); SigV4a refuses such tokens with UnsupportedSignature.",
        STS_FIX,
        token=describe_token(token),
        basis="learned" if basis.startswith("the STS") else "format",
    )


@rule("temporary")
def sts_global_token_opt_in_region(ctx: Context) -> Iterable[Finding]:
    basis, token = _global_token(ctx), ctx.auth.session_token
    region = ctx.auth.scope.region if ctx.auth.scope else None
    if basis is None or token is None or not region or region not in _OPT_IN:
        return
    yield _f(
        Code.STS_GLOBAL_TOKEN_OPT_IN_REGION,
        "error",
        f"A global-endpoint (v1) session token is used in the opt-in region {region} (known from {basis}); AWS answers AuthFailure / InvalidClientTokenId.",
        STS_FIX + " Or set the account's IAM GlobalEndpointTokenVersion to v2Token.",
        token=describe_token(token),
        region=region,
    )


_OPT_IN = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-south-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-west-1",
        "eu-central-2",
        "eu-south-1",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
        "ap-east-2",
    }
)


def _signed_at(ctx: Context) -> datetime:
    return parse_amz_date(ctx.auth.amz_date) or ctx.now


@rule("temporary")
def credentials_expired(ctx: Context) -> Iterable[Finding]:
    cred = ctx.v.credential
    if cred is None or cred.expiry is None or cred.expiry > _signed_at(ctx):
        return
    yield _f(
        Code.CREDENTIALS_EXPIRED,
        "error",
        f"The temporary credentials {cred.access_key_id} ({cred.source}) expired at {cred.expiry.isoformat()}, before this request was signed.",
        "Refresh the credentials (the SDK does this itself when it owns the provider; cached copies in env vars or files do not refresh).",
        expiry=cred.expiry.isoformat(),
    )


@rule("temporary")
def presign_outlives_credentials(ctx: Context) -> Iterable[Finding]:
    cred = ctx.v.credential
    exp = ctx.auth.expires
    if cred is None or cred.expiry is None or ctx.auth.location != "query":
        return
    if not exp or not exp.isdigit():
        return
    url_end = _signed_at(ctx) + timedelta(seconds=int(exp))
    if url_end > cred.expiry:
        yield _f(
            Code.PRESIGN_OUTLIVES_CREDENTIALS,
            "warning",
            f"The URL claims validity until {url_end.isoformat()}, but the credentials that signed it expire at {cred.expiry.isoformat()}; it stops working then.",
            "Presign with long-term IAM user keys for URLs that must live longer, or shorten ExpiresIn.",
            url_expiry=url_end.isoformat(),
            credential_expiry=cred.expiry.isoformat(),
        )


def _presign_times(ctx: Context) -> tuple[datetime, int] | None:
    if ctx.auth.location != "query" or ctx.auth.scheme not in ("sigv4", "sigv4a"):
        return None
    start = parse_amz_date(ctx.auth.amz_date)
    exp = ctx.auth.expires
    if start is None or exp is None or not exp.isdigit():
        return None
    return start, int(exp)


@rule("presigned")
def presign_expires_too_long(ctx: Context) -> Iterable[Finding]:
    exp = ctx.auth.expires
    if ctx.auth.location != "query" or ctx.auth.scheme not in ("sigv4", "sigv4a"):
        return
    if exp is not None and exp.isdigit() and int(exp) > MAX_PRESIGN:
        yield _f(
            Code.PRESIGN_EXPIRES_TOO_LONG,
            "error",
            f"X-Amz-Expires is {exp} seconds; AWS refuses presigned URLs valid for more than 604800 (7 days).",
            "Generate the URL with ExpiresIn <= 604800.",
            expires=int(exp),
        )


@rule("presigned")
def presign_expired(ctx: Context) -> Iterable[Finding]:
    times = _presign_times(ctx)
    if times is None or times[1] > MAX_PRESIGN:
        return
    start, exp = times
    ref, basis = _reference_time(ctx)
    end = start + timedelta(seconds=exp)
    if ref > end:
        yield _f(
            Code.PRESIGN_EXPIRED,
            "error",
            f"The presigned URL expired at {end.isoformat()} ({_ago(ref - end)} before it was used, by the {basis}).",
            "Generate a fresh URL closer to its use, or with a longer ExpiresIn (at most 7 days; no longer than the signing credentials live).",
            expired_at=end.isoformat(),
            reference=basis,
        )


@rule("presigned")
def presign_not_yet_valid(ctx: Context) -> Iterable[Finding]:
    times = _presign_times(ctx)
    if times is None or times[1] > MAX_PRESIGN:
        return
    start, _ = times
    ref, basis = _reference_time(ctx)
    if start - ref > timedelta(minutes=15):
        yield _f(
            Code.PRESIGN_NOT_YET_VALID,
            "error",
            f"The presigned URL's X-Amz-Date is {_ago(start - ref)} in the future by the {basis}.",
            "Fix the clock of the machine that generated the URL (NTP).",
            starts_at=start.isoformat(),
        )


def _ago(d: timedelta) -> str:
    s = int(abs(d.total_seconds()))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _reference_time(ctx: Context) -> tuple[datetime, str]:
    se = ctx.response.server_error if ctx.response else None
    st = getattr(se, "server_time", None)
    if isinstance(st, datetime):
        return st, "server's ServerTime"
    if ctx.response is not None:
        d = parse_amz_date(ctx.response.header("date"))
        if d is not None:
            return d, "server's Date header"
    return ctx.now, "proxy clock"


def _header_signing_time(ctx: Context) -> tuple[datetime, timedelta] | None:
    if ctx.auth.location != "header" or ctx.auth.scheme not in ("sigv4", "sigv4a"):
        return None
    signed_at = parse_amz_date(ctx.auth.amz_date)
    if signed_at is None:
        return None
    window = S3_SKEW if ctx.service in ("s3", "s3-object-lambda", "s3express") else DEFAULT_SKEW
    return signed_at, window


def _signed_too_early(ctx: Context, signed_at: datetime) -> bool:
    """Signed long before it reached the proxy, while this client's other requests were
    current: a queued or retried request, not a wrong clock."""
    return bool(ctx.now - signed_at > DEFAULT_SKEW and ctx.client_clock_ok)


@rule()
def signed_too_early(ctx: Context) -> Iterable[Finding]:
    t = _header_signing_time(ctx)
    if t is None or not _signed_too_early(ctx, t[0]):
        return
    signed_at, window = t
    lag = ctx.now - signed_at
    yield _f(
        Code.SIGNED_TOO_EARLY,
        "error" if lag > window else "warning",
        f"x-amz-date is {_ago(lag)} older than the moment the proxy received the request, while other requests from this client are current: it was signed long before it was sent.",
        "Sign right before sending: do not queue signed requests or retry with an old signature (re-sign on retry).",
        lag_seconds=int(lag.total_seconds()),
    )


@rule()
def clock_skew(ctx: Context) -> Iterable[Finding]:
    t = _header_signing_time(ctx)
    if t is None or _signed_too_early(ctx, t[0]):
        return
    signed_at, window = t
    ref, basis = _reference_time(ctx)
    skew = signed_at - ref
    if abs(skew) <= DEFAULT_SKEW and abs(skew) <= window:
        return
    direction = "ahead of" if skew > timedelta(0) else "behind"
    sev = "error" if abs(skew) > window else "warning"
    yield _f(
        Code.CLOCK_SKEW,
        sev,
        f"The request was signed at {signed_at.isoformat()}, {_ago(skew)} {direction} the {basis} (this service allows {int(window.total_seconds() // 60)} min).",
        "Synchronise the client's clock (NTP / chrony); in containers and VMs check the host clock.",
        skew_seconds=int(skew.total_seconds()),
        reference=basis,
        window_seconds=int(window.total_seconds()),
    )


def _scope(ctx: Context) -> Scope | None:
    auth = ctx.auth
    if auth.scheme not in ("sigv4", "sigv4a") or auth.scope is None:
        return None
    return auth.scope


@rule()
def scope_terminator(ctx: Context) -> Iterable[Finding]:
    sc = _scope(ctx)
    if sc is not None and sc.terminator != "aws4_request":
        yield _f(
            Code.SCOPE_TERMINATOR,
            "error",
            f"The credential scope ends in '{sc.terminator}' instead of 'aws4_request'.",
            "Fix the signer: the scope is DATE/REGION/SERVICE/aws4_request.",
            terminator=sc.terminator,
        )


@rule()
def scope_date_mismatch(ctx: Context) -> Iterable[Finding]:
    sc = _scope(ctx)
    amz = ctx.auth.amz_date
    if sc is not None and amz and re.match(r"^\d{8}T", amz) and amz[:8] != sc.date:
        yield _f(
            Code.SCOPE_DATE_MISMATCH,
            "error",
            f"The scope date {sc.date} differs from the date of x-amz-date ({amz[:8]}).",
            "Derive the scope date from the same timestamp as x-amz-date (UTC).",
            scope_date=sc.date,
            amz_date=amz,
        )


@rule()
def mrap_requires_sigv4a(ctx: Context) -> Iterable[Finding]:
    if _scope(ctx) is None or ctx.auth.scheme != "sigv4":
        return
    if ctx.host.mrap:
        yield _f(
            Code.MRAP_REQUIRES_SIGV4A,
            "error",
            "This Multi-Region Access Point request is signed with SigV4; MRAP requires SigV4a (AWS4-ECDSA-P256-SHA256).",
            "Install awscrt (pip install 'botocore[crt]') so botocore signs MRAP requests with SigV4a, or use an SDK with SigV4a support.",
        )


@rule()
def scope_service_mismatch(ctx: Context) -> Iterable[Finding]:
    sc = _scope(ctx)
    if sc is None:
        return
    info = ctx.host
    if info.is_aws and info.service and sc.service != info.service:
        yield _f(
            Code.SCOPE_SERVICE_MISMATCH,
            "error",
            f"The scope names service '{sc.service}' but {ctx.req.host} is signed as '{info.service}'.",
            f"Sign for service '{info.service}' (e.g. 'es' for OpenSearch domains, 'aoss' for Serverless, 'execute-api' for API Gateway).",
            scope_service=sc.service,
            host_service=info.service,
        )


@rule()
def scope_region_mismatch(ctx: Context) -> Iterable[Finding]:
    """The scope's region against the host's (botocore's endpoint data), or against the
    region the server's answer names."""
    sc = _scope(ctx)
    if sc is None or not sc.region:
        return
    se = _server_error(ctx)
    if se is not None and _classify(ctx, se) is ErrorClass.WRONG_REGION:
        want = getattr(se, "expected_region", None)
        yield _f(
            Code.SCOPE_REGION_MISMATCH,
            "error",
            f"The server refused the scope's region '{sc.region}'"
            + (f"; it expects '{want}'." if want else "."),
            (
                f"Create the client with region_name='{want}'."
                if want
                else "Create the client with the region of the endpoint it calls (region_name / AWS_REGION)."
            ),
            scope_region=sc.region,
            expected_region=want,
            basis="server",
            server_confirms=True,
        )
        return
    info = ctx.host
    if info.is_aws and info.region and sc.region != info.region and ctx.auth.scheme == "sigv4":
        yield _f(
            Code.SCOPE_REGION_MISMATCH,
            "error",
            f"The scope names region '{sc.region}' but {ctx.req.host} is in '{info.region}'.",
            f"Create the client with region_name='{info.region}' (or the endpoint of region '{sc.region}').",
            scope_region=sc.region,
            host_region=info.region,
            basis="host",
        )


CHECKSUM_HEADERS = ("x-amz-sdk-checksum-algorithm", "x-amz-trailer", "x-amz-checksum-")


@rule()
def checksum_defaults_unsupported(ctx: Context) -> Iterable[Finding]:
    """The 2025 SDK integrity defaults sent to a non-AWS S3-compatible store, or named by
    the server's error. Never on a 2xx: the store took them."""
    req = ctx.req
    if ctx.auth.scheme == "none" or ctx.service not in ("s3", None):
        return
    resp = ctx.response
    if resp is not None and 200 <= resp.status < 300:
        return
    se = _server_error(ctx)
    named = None
    if se is not None:
        text = f"{getattr(se, 'header_named', '') or ''} {getattr(se, 'message', '') or ''}".lower()
        named = next((h for h in CHECKSUM_HEADERS if h in text), None)
    if is_aws_host(req.host) and named is None:
        return
    markers = []
    if "aws-chunked" in (req.header("content-encoding") or "").lower() and req.header(
        "x-amz-trailer"
    ):
        markers.append("aws-chunked with a checksum trailer")
    if (ctx.auth.payload or "") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
        markers.append("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    for lk in req.header_names():
        if lk == "x-amz-sdk-checksum-algorithm" or (
            lk.startswith("x-amz-checksum-") and lk != "x-amz-checksum-mode"
        ):
            markers.append(lk)
    if not markers:
        return
    where = (
        f"the server's error names {named}"
        if named
        else f"the non-AWS S3-compatible endpoint {req.host}"
    )
    yield _f(
        Code.CHECKSUM_DEFAULTS_UNSUPPORTED,
        "warning",
        f"This upload uses the SDK integrity defaults of 2025 ({', '.join(dict.fromkeys(markers))}), which many S3-compatible stores reject ({where}).",
        "Set AWS_REQUEST_CHECKSUM_CALCULATION=when_required and AWS_RESPONSE_CHECKSUM_VALIDATION=when_required (or request_checksum_calculation / response_checksum_validation = when_required in the client config); some servers also need Content-MD5.",
        markers=list(dict.fromkeys(markers)),
        server_confirms=named is not None,
    )


@rule()
def transfer_encoding_unsupported(ctx: Context) -> Iterable[Finding]:
    req = ctx.req
    if ctx.service not in ("s3",) or not is_aws_host(req.host):
        return
    te = (req.header("transfer-encoding") or "").lower()
    if (
        "chunked" in te
        and "aws-chunked" not in (req.header("content-encoding") or "").lower()
        and req.method in ("PUT", "POST")
    ):
        yield _f(
            Code.TRANSFER_ENCODING_UNSUPPORTED,
            "error",
            "This S3 upload uses plain Transfer-Encoding: chunked without aws-chunked; S3 answers NotImplemented (Transfer-Encoding).",
            "Give the client a body of known length (Content-Length): read the stream into bytes or a file, or pass ContentLength.",
        )


@rule("har")
def input_lost_bytes(ctx: Context) -> Iterable[Finding]:
    """A HAR file keeps decoded text and drops Content-Encoding (mitmproxy's HAR import
    reads ``postData.text``): a body or header mismatch may be the file's, not the
    client's."""
    if ctx.input_source != "har":
        return
    if ctx.v.verdict is not Verdict.INVALID and all(ck.ok is not False for ck in ctx.v.checksums):
        return
    yield _f(
        Code.INPUT_LOST_BYTES,
        "warning",
        "This flow was read from a HAR file, which stores bodies as decoded text and drops Content-Encoding: the bytes the client signed may be lost, so this mismatch may be the file's, not the client's.",
        "Capture the traffic with mitmdump -w flows.mitm (which keeps the bytes as sent) and check that file instead.",
        source="har",
    )


# --- S3 POST uploads ----------------------------------------------------------------------
# A browser upload's signature covers the base64 policy; S3 then checks the policy's
# expiration and conditions against the form (postpolicy.py cites the evidence for each
# rule: AWS's "Creating a POST Policy" and S3's answers quoted in public issues). The
# findings below say what S3 will answer, in its words, and, when S3 has answered "Invalid
# according to Policy: ...", whether its answer and the evaluation here agree.

# The record stays under 64 KiB whatever the form (report.md): so many findings per kind,
# conditions and names in the policy's evidence, characters per value shown.
MAX_POST_FINDINGS = 10  # failed conditions
MAX_POST_EXTRA = 5  # extra fields (S3 names one per answer)
MAX_POST_CONDITIONS = 24  # conditions in the policy's evidence
MAX_POST_NAMES = 16  # names in its lists
POST_NAME_CHARS = 60
POST_VALUE_CHARS = 100
POST_TEXT_CHARS = 160
POST_GENERATORS = (
    "boto3 generate_presigned_post, @aws-sdk/s3-presigned-post, Aws::S3::PresignedPost"
)


def _post(ctx: Context) -> tuple[PostUpload, PolicyEvaluation] | None:
    v = ctx.v
    if v.post_upload is None or v.post_policy is None:
        return None
    return v.post_upload, v.post_policy


def _post_secrets(ctx: Context) -> list[tuple[str, str]]:
    """Values a POST finding must never show, and what shows instead: the session tokens
    (the form's and any the policy names) and the client's signature."""
    out: list[tuple[str, str]] = []
    up = ctx.v.post_upload
    tokens = {ctx.auth.session_token or "", *(up.tokens() if up is not None else ())}
    for t in sorted(tokens, key=len, reverse=True):  # a longer one first: it may hold another
        if len(t) >= 8:
            out.append((t, token_mark(t)))
    sigs = {ctx.auth.signature or "", *(up.signatures() if up is not None else ())}
    for sig in sorted(sigs, key=len, reverse=True):
        if len(sig) >= 8:
            out.append((sig, signature_mark(sig)))
    return out


def _scrub(ctx: Context, text: str | None, limit: int = POST_VALUE_CHARS) -> str | None:
    """A value from the form or the policy as a finding may show it: tokens and the
    signature replaced, then cut to ``limit`` characters (the length kept)."""
    if text is None:
        return None
    text = replace_known(text, _post_secrets(ctx))
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text)} characters]"
    return text


def _post_echo(ctx: Context) -> PolicyErrorMessage | None:
    """S3's answer to this upload, read ("Invalid according to Policy: ...",
    EntityTooLarge/Small, InvalidPolicyDocument); None when it said nothing of the kind."""
    se = _server_error(ctx)
    if se is None or ctx.v.post_upload is None:
        return None
    try:
        return parse_policy_error(getattr(se, "message", None) or "")
    except Exception:
        return None


def _shown(value: str) -> str:
    return value if value.strip() and value == value.strip() else repr(value)


def _condition_failure(ctx: Context, r: ConditionResult) -> tuple[str, str]:
    """(message, fix) for one failed condition, naming the condition as S3 prints it and the
    value the form sent."""
    cond = r.condition
    s3_form = _scrub(ctx, cond.s3_form, POST_TEXT_CHARS) or ""
    field = _scrub(ctx, r.field, POST_NAME_CHARS) or ""
    expected = _scrub(ctx, cond.value) or ""
    sent = _scrub(ctx, r.value_sent)
    says = f"S3 answers: Invalid according to Policy: Policy Condition failed: {s3_form}"
    up = ctx.v.post_upload
    late = up is not None and any(
        f.name.lower() == (r.field or "").lower() for f in up.ignored_fields
    )
    if cond.kind is ConditionKind.CONTENT_LENGTH_RANGE:
        if r.s3_code in ("EntityTooLarge", "EntityTooSmall"):
            return (
                f"The file is {r.value_sent} bytes; the policy's content-length-range allows "
                f"{cond.minimum} to {cond.maximum} bytes (S3 answers {r.s3_code}).",
                f"Upload a file of {cond.minimum} to {cond.maximum} bytes, or generate the "
                "policy with a content-length-range that allows this size.",
            )
        return (
            f"The policy condition {s3_form} cannot be met: {r.reason}. {says}.",
            "Generate the policy with numeric content-length-range bounds "
            "(['content-length-range', 1, 10485760]).",
        )
    if not cond.has_dollar:
        return (
            f"The policy condition {s3_form} names '{field}' without '$', which S3 never "
            f"satisfies. {says}.",
            f'Write the condition with the field as "${field}".',
        )
    if field.lower() == "bucket" and sent is not None:
        return (
            f"The form is posted to bucket {_shown(sent)}; the policy allows only "
            f"{_shown(expected)}. {says}.",
            "Post the form to the URL the presigned POST returned, or generate the POST "
            "for this bucket.",
        )
    if sent is None:
        where = (
            "it was sent after the file, where S3 ignores it"
            if late
            else "the form has no such field before the file"
        )
        return (
            f"The policy requires the field {field}, but {where}. {says}.",
            f"Send the field {field} before the file, with the value the presigned POST's "
            "fields give (send every field it returns, the file last).",
        )
    if cond.kind is ConditionKind.STARTS_WITH:
        what = (
            "each item of the list to start with"
            if field.lower() == "content-type" and "," in (r.value_sent or "")
            else "a value starting with"
        )
        return (
            f"{field}: the upload form sent {_shown(sent)}; the policy allows only {what} "
            f"{_shown(expected)}. {says}.",
            f"Send a {field} that starts with {_shown(expected)}, or generate the policy "
            "with the prefix the form sends.",
        )
    if field.lower() == "content-type":
        major = expected.split("/", 1)[0]
        fix = (
            f"Set the form's Content-Type field to {_shown(expected)}, the value the POST was "
            "generated with (not the file's own type), or generate it with "
            f"['starts-with', '$Content-Type', '{major}/'] to allow any {major} type."
        )
    else:
        fix = (
            f"Send {field} exactly as the presigned POST's fields give it "
            f"({_shown(expected)}), or generate the policy with the value the form sends."
        )
    return (
        f"{field}: the upload form sent {_shown(sent)}; the policy allows only "
        f"{_shown(expected)}. {says}.",
        fix,
    )


def _condition_evidence(ctx: Context, r: ConditionResult) -> dict[str, Any]:
    return {
        "condition": _scrub(ctx, r.condition.s3_form, POST_TEXT_CHARS),
        "outcome": r.outcome.value,
        "field": _scrub(ctx, r.field, POST_NAME_CHARS),
        "value_sent": _scrub(ctx, r.value_sent),
        "reason": _scrub(ctx, r.reason, POST_TEXT_CHARS),
    }


@rule("post")
def post_policy_expired(ctx: Context) -> Iterable[Finding]:
    """The policy's expiration against the request time (never the proxy's clock)."""
    post = _post(ctx)
    if post is None:
        return
    _, ev = post
    echo = _post_echo(ctx)
    server = echo is not None and echo.kind is PolicyErrorKind.EXPIRED
    exp = ev.expiration
    fix = (
        "Generate the presigned POST closer to the upload, or with a longer expiration "
        "(boto3 ExpiresIn, JS Expires, Ruby signature_expiration)."
    )
    if ev.expired and exp is not None:
        yield _f(
            Code.POST_POLICY_EXPIRED,
            "error",
            f"The POST policy expired at {exp.isoformat()}, {_ago(ctx.now - exp)} before "
            "this upload was sent; S3 answers: Invalid according to Policy: Policy expired.",
            fix,
            expiration=exp.isoformat(),
            request_time=ctx.now.isoformat(),
            expired_seconds=int((ctx.now - exp).total_seconds()),
            server_confirms=server,
            basis="local and server" if server else "local",
        )
    elif server and echo is not None:
        left = f" at {exp.isoformat()}, {_ago(exp - ctx.now)} after" if exp else " later than"
        yield _f(
            Code.POST_POLICY_EXPIRED,
            "error",
            "S3 says the POST policy expired, while here it expires"
            f"{left} the request time ({ctx.now.isoformat()}): the server's clock is ahead "
            "of this one, or the upload took that long to arrive (S3 and the local "
            "evaluation disagree).",
            fix + " Check the clock of the machine that generated it.",
            expiration=exp.isoformat() if exp else None,
            request_time=ctx.now.isoformat(),
            server_confirms=True,
            basis="server",
            local_outcome="not expired" if ev.expired is False else "unknown",
            agree=False,
            server_message=echo.message[:300],
        )


@rule("post")
def post_policy_condition_failed(ctx: Context) -> Iterable[Finding]:
    """One finding per failed condition, and the condition S3 named when the evaluation
    here did not find it failed."""
    post = _post(ctx)
    if post is None:
        return
    _, ev = post
    echo = _post_echo(ctx)
    named: ConditionResult | None = None
    if echo is not None and echo.kind is PolicyErrorKind.CONDITION_FAILED:
        named = find_condition(ev, echo)
        said_field = (echo.condition.field or "").lower() if echo.condition else ""
        if named is None and said_field == "x-amz-security-token":
            # the echo's token value is redacted when read (servererror): match the field
            named = next(
                (r for r in ev.results if (r.field or "").lower() == said_field),
                None,
            )
    failed = [r for r in ev.results if r.outcome is Outcome.FAILED]
    size_said = echo is not None and echo.kind is PolicyErrorKind.ENTITY_SIZE
    for i, r in enumerate(failed[:MAX_POST_FINDINGS]):
        msg, fix = _condition_failure(ctx, r)
        confirms = r is named or (
            size_said and r.condition.kind is ConditionKind.CONTENT_LENGTH_RANGE
        )
        more = len(failed) - MAX_POST_FINDINGS if i == MAX_POST_FINDINGS - 1 else 0
        yield _f(
            Code.POST_POLICY_CONDITION_FAILED,
            "error",
            msg,
            fix,
            condition=_scrub(ctx, r.condition.s3_form, POST_TEXT_CHARS),
            field=_scrub(ctx, r.field, POST_NAME_CHARS),
            value_sent=_scrub(ctx, r.value_sent),
            expected=_scrub(ctx, r.condition.value)
            if r.condition.kind is not ConditionKind.CONTENT_LENGTH_RANGE
            else [r.condition.minimum, r.condition.maximum],
            s3_code=r.s3_code,
            reason=_scrub(ctx, r.reason, POST_TEXT_CHARS),
            server_confirms=confirms,
            basis="local and server" if confirms else "local",
            **({"more_failed": more} if more > 0 else {}),
        )
    if (
        echo is not None
        and echo.kind is PolicyErrorKind.CONDITION_FAILED
        and (named is None or named.outcome is not Outcome.FAILED)
    ):
        said = echo.message.partition("Policy Condition failed:")[2].strip() or echo.message
        said = _scrub(ctx, said, POST_TEXT_CHARS) or ""
        if named is None:
            local = "that condition is not in the policy as read here"
        else:
            sent = _scrub(ctx, named.value_sent)
            name = _scrub(ctx, named.field, POST_NAME_CHARS)
            local = f"here the form satisfies it ({name} = {_shown(sent or '')})"
        yield _f(
            Code.POST_POLICY_CONDITION_FAILED,
            "error",
            f"S3 says the policy condition {said} failed, but {local}: S3 and the local "
            "evaluation disagree (a hop may have changed the form, or S3 reads it another way).",
            "Compare the form as sent (this flow's request) with what reached S3; send the "
            "fields exactly as the presigned POST gives them.",
            condition=said,
            field=_scrub(ctx, echo.condition.field, POST_NAME_CHARS) if echo.condition else None,
            value_sent=_scrub(ctx, named.value_sent) if named is not None else None,
            server_confirms=True,
            basis="server",
            local_outcome=named.outcome.value if named is not None else "not-found",
            agree=False,
        )
    if (
        size_said
        and echo is not None
        and not any(r.condition.kind is ConditionKind.CONTENT_LENGTH_RANGE for r in failed)
    ):
        yield _f(
            Code.POST_POLICY_CONDITION_FAILED,
            "error",
            f"S3 refused the file's size ({echo.message[:120]}), but here the file "
            f"({ctx.v.post_upload.file_size if ctx.v.post_upload else None} bytes) satisfies "
            "the policy's content-length-range: S3 and the local evaluation disagree.",
            "Check that the file reached S3 unchanged (a hop that re-encodes the body).",
            condition="content-length-range",
            server_confirms=True,
            basis="server",
            agree=False,
        )


@rule("post")
def post_policy_extra_field(ctx: Context) -> Iterable[Finding]:
    """Form fields that no condition covers (S3 names one per answer, lower-cased)."""
    post = _post(ctx)
    if post is None:
        return
    up, ev = post
    echo = _post_echo(ctx)
    said = (
        [n.lower() for n in echo.extra_fields]
        if echo is not None and echo.kind is PolicyErrorKind.EXTRA_FIELDS
        else []
    )
    local = {n.lower() for n in ev.extra_fields}
    for sent_name in ev.extra_fields[:MAX_POST_EXTRA]:
        confirms = sent_name.lower() in said
        name = _scrub(ctx, sent_name, POST_NAME_CHARS) or ""
        yield _f(
            Code.POST_POLICY_EXTRA_FIELD,
            "error",
            f"The form field {name} is covered by no policy condition; S3 answers: Invalid "
            f"according to Policy: Extra input fields: {name.lower()}.",
            f"Remove {name} from the form (or name it x-ignore-{name}), or generate the POST "
            f"with a condition for it (Conditions: ['starts-with', '${name}', ''] allows any value).",
            field=name,
            value_sent=_scrub(ctx, up.value(sent_name)),
            server_confirms=confirms,
            basis="local and server" if confirms else "local",
        )
    for said_name in said[:MAX_POST_EXTRA]:
        if said_name in local:
            continue
        name = _scrub(ctx, said_name, POST_NAME_CHARS) or ""
        yield _f(
            Code.POST_POLICY_EXTRA_FIELD,
            "error",
            f"S3 says the form field {name} is covered by no policy condition, but here the "
            "policy covers it or the form does not carry it: S3 and the local evaluation disagree.",
            f"Compare the form that reached S3 with this flow's request; remove {name} or add "
            "a condition for it.",
            field=name,
            server_confirms=True,
            basis="server",
            agree=False,
        )


def _policy_evidence(ctx: Context, up: PostUpload, ev: PolicyEvaluation) -> dict[str, Any]:
    """The decoded policy and each condition's outcome against the form, bounded."""
    results = ev.results[:MAX_POST_CONDITIONS]
    return {
        "expiration": ev.expiration.isoformat() if ev.expiration else None,
        "request_time": ctx.now.isoformat(),
        "expired": ev.expired,
        "conditions": [_condition_evidence(ctx, r) for r in results],
        "conditions_total": len(ev.results),
        "extra_fields": [_scrub(ctx, n, POST_NAME_CHARS) for n in ev.extra_fields[:MAX_POST_NAMES]],
        "ignored_fields": [
            _scrub(ctx, n, POST_NAME_CHARS) for n in ev.ignored_fields[:MAX_POST_NAMES]
        ],
        "missing_fields": list(ev.missing_fields),
        "problems": [_scrub(ctx, p, POST_TEXT_CHARS) for p in ev.policy_problems[:4]],
        "fields_too_large": ev.fields_too_large,
        "file_parts": ev.file_parts,
        "security_token_missing": ev.security_token_missing,
    }


# --- the server's answer ------------------------------------------------------------------


def _server_evidence(ctx: Context, se: ServerError) -> dict[str, Any]:
    return {
        "status": ctx.response.status if ctx.response else None,
        "aws_error_code": getattr(se, "code", None),
        "aws_error_message": (getattr(se, "message", None) or "")[:500],
        "request_id": getattr(se, "request_id", None),
    }


def _bodyless_refusal(ctx: Context) -> bool:
    """A 401/403 with no body to read (HEAD answers carry none) to a request whose
    signature is invalid here: most likely SignatureDoesNotMatch, not a policy denial."""
    r = ctx.response
    return bool(
        r is not None
        and r.status in (401, 403)
        and r.server_error is None
        and ctx.v.verdict is Verdict.INVALID
    )


SERVER_FIXES: dict[ErrorClass, str] = {
    ErrorClass.SIGNATURE_MISMATCH: "Re-sign the request exactly as it is sent: compare this record's canonical_request with the one your SDK logs (boto3.set_stream_logger('botocore.auth')) and fix the part that differs.",
    ErrorClass.INCOMPLETE_SIGNATURE: "Sign the request with an AWS SDK (the Authorization header or presigned query is incomplete or malformed).",
    ErrorClass.CLOCK_SKEW: "Synchronise the client's clock (NTP / chrony).",
    ErrorClass.PRESIGN_EXPIRED: "Generate a fresh presigned URL closer to its use.",
    ErrorClass.WRONG_REGION: "Create the client with the region of the endpoint it calls (region_name / AWS_REGION).",
    ErrorClass.UNSUPPORTED_SIGNATURE: "Use a session token from a regional STS endpoint (AWS_STS_REGIONAL_ENDPOINTS=regional) for SigV4a.",
    ErrorClass.HEADERS_NOT_SIGNED: "Sign every x-amz-* header the request sends (add them before the signer runs).",
    ErrorClass.INVALID_ACCESS_KEY: "The access key does not exist in this partition/account (deleted, rotated, or the wrong endpoint): check the profile in use.",
    ErrorClass.INVALID_TOKEN: "Send the session token that belongs to this temporary key, unaltered.",
    ErrorClass.EXPIRED_TOKEN: "Refresh the temporary credentials and send their session token.",
    ErrorClass.PAYLOAD_HASH_MISMATCH: "Sign the exact body that is sent (x-amz-content-sha256 must be its SHA-256).",
    ErrorClass.TRANSFER_ENCODING_UNSUPPORTED: "Give the client a body of known length (Content-Length).",
    ErrorClass.SIGV2_REJECTED: "Switch the client to Signature Version 4 (signature_version='s3v4').",
    ErrorClass.MISSING_AUTHENTICATION: "Give the client credentials, or call the right endpoint (a wrong path or stage answers 'Missing Authentication Token' too).",
    ErrorClass.POST_POLICY_REJECTED: "Make the form satisfy its POST policy (the findings above name the condition and the value sent), or generate the policy for the form the browser sends.",
}


@rule("response")
def server_rejected(ctx: Context) -> Iterable[Finding]:
    se = _server_error(ctx)
    if se is None:
        if _bodyless_refusal(ctx):
            assert ctx.response is not None
            yield _f(
                Code.SERVER_REJECTED,
                "error",
                f"The server answered {ctx.response.status} without a body ({ctx.req.method} answers carry none), and the signature is invalid here: most likely SignatureDoesNotMatch.",
                "Fix the cause named in this record, then retry; a GET of the same resource shows the server's error text.",
                status=ctx.response.status,
                aws_error_code=None,
            )
        return
    cls = _classify(ctx, se)
    post = _post_echo(ctx)
    if post is not None:
        cls = ErrorClass.POST_POLICY_REJECTED  # EntityTooLarge/Small too: the size range
    if cls in (ErrorClass.PERMISSION_DENIED, ErrorClass.OTHER):
        return
    code = getattr(se, "code", None)
    message = getattr(se, "message", None) or ""
    first = message.splitlines()[0][:200] if message else ""
    region = getattr(se, "expected_region", None)
    fix = (
        f"Sign for region '{region}': create the client with region_name='{region}'."
        if region
        else SERVER_FIXES.get(cls, "Fix the cause named in this record's findings.")
    )
    extra: dict[str, Any] = {}
    if post is not None:
        extra["post_policy"] = {
            "kind": post.kind.value,
            "condition": _scrub(
                ctx, post.message.partition("Policy Condition failed:")[2].strip(), POST_TEXT_CHARS
            )
            if post.condition is not None
            else None,
            "extra_fields": list(post.extra_fields[:8]),
            "detail": _scrub(ctx, post.detail, POST_TEXT_CHARS),
        }
    yield _f(
        Code.SERVER_REJECTED,
        "error",
        f"AWS refused the request's authentication: {code}: {first}".rstrip(": "),
        fix,
        classification=cls.value,
        **_server_evidence(ctx, se),
        **extra,
    )


@rule("response")
def permission_denied(ctx: Context) -> Iterable[Finding]:
    se = _server_error(ctx)
    resp = ctx.response
    if resp is None or _post_echo(ctx) is not None:  # a POST policy's refusal, not IAM's
        return
    if se is not None:
        if _classify(ctx, se) is not ErrorClass.PERMISSION_DENIED and not (
            _classify(ctx, se) is ErrorClass.OTHER and resp.status in (401, 403)
        ):
            return
    elif resp.status not in (401, 403) or _bodyless_refusal(ctx):
        return
    code = getattr(se, "code", None) if se is not None else None
    yield _f(
        Code.PERMISSION_DENIED,
        "info",
        f"The server answered {code or resp.status}: an authorization (policy) denial, not a signature problem.",
        "Check the IAM policy, bucket policy, SCPs and KMS key policy for this principal and action.",
        **(
            _server_evidence(ctx, se)
            if se is not None
            else {"status": resp.status, "aws_error_code": None}
        ),
    )


@rule("error")
def server_canonical_diff(ctx: Context) -> Iterable[Finding]:
    diff = _echo_diff(ctx)
    if not diff:
        return
    shown = [d for d in diff if d.get("part") != "more"]
    more = sum(int(d.get("count") or 0) for d in diff if d.get("part") == "more")
    parts = "; ".join(
        f"{d.get('part')} {d.get('name') or ''}: sent {_cut(d.get('local'))!r}, server saw {_cut(d.get('server'))!r}".replace(
            "  ", " "
        )
        for d in shown[:5]
    )
    left = len(shown) - 5 + more
    yield _f(
        Code.SERVER_CANONICAL_DIFF,
        "error",
        f"The server's canonical request differs from the one the proxy saw: {parts}"
        + (f" (and {left} more differences)." if left > 0 else "."),
        "A hop after the proxy changed these parts; make it forward them unchanged, or stop signing them.",
        diff=diff,
        where="after-proxy",
        server_canonical_request=_server_creq_shown(ctx),
    )


def _server_creq_shown(ctx: Context) -> str | None:
    """The server's echoed canonical request for the record (the view puts it beside the
    local one): session tokens shown as the local canonical request shows them, any other
    token or signature redacted; bounded like all evidence by the final pass."""
    se = _server_error(ctx)
    creq = getattr(se, "canonical_request", None) if se else None
    if not isinstance(creq, str) or not creq:
        return None
    return redact_echoed_request(creq, ctx.auth.session_token)


def _cut(value: object, limit: int = 120) -> object:
    """A value shown in a message, cut to ``limit`` characters (its length kept)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}... [{len(value)} characters]"
    return value


@rule("error")
def changed_after_proxy(ctx: Context) -> Iterable[Finding]:
    se = _server_error(ctx)
    if se is None or ctx.v.verdict is not Verdict.VALID or getattr(se, "canonical_request", None):
        return
    if _classify(ctx, se) is not ErrorClass.SIGNATURE_MISMATCH:
        return
    suspects = []
    if ctx.auth.location == "form":
        suspects.append("the form body (its policy or signature field re-encoded by a hop)")
    if "host" in ctx.auth.signed_headers:
        suspects.append(f"Host '{ctx.req.host}' (a hop adding or removing the port)")
    for h in ctx.auth.signed_headers:
        if h in HOP_BY_HOP or h in VOLATILE or h == "content-type":
            suspects.append(f"signed header '{h}'")
    if ctx.auth.location != "form":
        suspects.append("the path (a prefix stripped or re-encoded)")
    hop = None
    if ctx.response:
        hop = (
            ctx.response.header("via")
            or ctx.response.header("server")
            or ("Cloudflare" if ctx.response.header("cf-ray") else None)
        )
    # The verdict is AWS's canonical form (core/awsmodel.py). A server that is not AWS (an
    # S3-compatible store, moto, LocalStack) may canonicalise differently (e.g. minio and
    # '+' in a query, mhart/aws4fetch#83): then the hop is not the only suspect.
    other_server = not ctx.host.is_aws
    yield _f(
        Code.CHANGED_AFTER_PROXY,
        "error",
        "The request verified here, yet the server rejected its signature: a hop after the proxy changed it"
        + (f" (the response names {hop})" if hop else "")
        + f"; first suspects: {suspects[0]}."
        + (
            f" The server ({ctx.req.host}) is not AWS: it may also canonicalise the request differently from AWS."
            if other_server
            else ""
        ),
        "Send the request straight to AWS to confirm, then configure the hop to forward signed headers, Host and path unchanged."
        + (
            " Against an S3-compatible store or emulator, compare with a request it accepts, or check its canonicalisation."
            if other_server
            else ""
        ),
        suspects=suspects[:20],
        hop=hop,
        where="after-proxy",
        server_is_aws=not other_server,
    )


# registered last: it reports the bounds the rules above hit
@rule()
def analysis_budget_exceeded(ctx: Context) -> Iterable[Finding]:
    limits = list(ctx.limits)
    fz = ctx.forensic
    if not limits and (fz is None or not fz.truncated):
        return
    if fz is not None and fz.truncated and not fz.explained:
        limits.append(f"the variant search stopped after {fz.tried} variants")
    if limits:
        yield _f(
            Code.ANALYSIS_BUDGET_EXCEEDED,
            "info",
            f"The diagnosis stopped at a bound ({'; '.join(limits)}); the verdict stands, the cause may be less specific.",
            "",
            limits=limits,
        )


_SELECTED: dict[frozenset[str], tuple[Rule, ...]] = {}


def _rules_for(have: frozenset[str]) -> tuple[Rule, ...]:
    """The rules that can fire given these facts, in rule order (cached per combination)."""
    rules = _SELECTED.get(have)
    if rules is None:
        rules = _SELECTED[have] = tuple(r for r, needs in RULES if not needs or needs & have)
    return rules


def diagnose(ctx: Context) -> list[Finding]:
    """The findings of every rule that can fire on this flow, in rule order; a rule that
    fails is skipped (it never breaks the record) and says so. :func:`sigv4_inspector.core.rank.finalize`
    orders them."""
    out: list[Finding] = []
    for r in _rules_for(frozenset(facts(ctx))):
        mark = len(out)
        try:
            # at most one finding past the bound is asked for: the generator stops there,
            # so the work is bounded too. A plain loop: most rules find nothing, and then
            # it costs a quarter of list(islice(...)).
            for finding in r(ctx):
                if len(out) - mark == MAX_PER_RULE:
                    ctx.limits.append(f"{r.__name__} stopped after {MAX_PER_RULE} findings")
                    break
                out.append(finding)
        except Exception as exc:  # a broken rule must not hide the others
            del out[mark:]  # nor leave half of its own findings
            out.append(
                check_unavailable_finding(
                    "info",
                    f"The rule {r.__name__} failed on this flow ({type(exc).__name__}); the other findings stand.",
                    "Report it with a bug-report bundle (sigv4.bundle).",
                    check=r.__name__,
                )
            )
    return out
