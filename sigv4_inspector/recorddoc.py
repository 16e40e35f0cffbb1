"""docs/record.md: the record's ``evidence`` keys for each finding code, read from the code
that emits them, so the document cannot drift.

    python -m sigv4_inspector.recorddoc > docs/record.md

The keys come from the source of :mod:`sigv4_inspector.core.rules` (the keyword arguments
of every ``_f(Code.X, ...)``, the variant search's evidence of :mod:`~sigv4_inspector.core.forensics`
for the ``inferred`` findings, ``_server_evidence``, a helper's evidence dict), the calls of
a code's one maker (``check_unavailable_finding``, in rules and
:mod:`~sigv4_inspector.core.inspect`) and FINDINGS_TRUNCATED of
:mod:`~sigv4_inspector.core.rank`. Every key needs a
sentence in :data:`KEY_DOCS`; ``tests/test_record_doc.py`` checks the file is what this
module writes and that real records carry no undocumented key.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from sigv4_inspector.core import forensics, rank, rules
from sigv4_inspector.core import inspect as core_inspect
from sigv4_inspector.core.codes import Code

# What each evidence key means. A key whose meaning depends on the code is described
# generally here and, where needed, in CODE_NOTES.
KEY_DOCS: dict[str, str] = {
    "agree": "false when the server's own answer disagrees with the local evaluation (both are given)",
    "condition": 'the POST policy condition, as S3 prints it (`["starts-with", "$key", "uploads/"]`, `content-length-range`, ...)',
    "expiration": "the POST policy's expiration (ISO 8601)",
    "expired_seconds": "how many seconds before the request the POST policy expired",
    "field": "the form field concerned",
    "file": "the uploaded file part: `filename`, `content_type`, `size` (not signed); null when not seen",
    "local_outcome": "what the local evaluation found for the condition the server named",
    "more_failed": "how many more conditions failed besides this one",
    "policy": "the decoded POST policy: `expiration`, `expired`, `request_time`, `conditions` (each `{condition, field, value_sent, outcome, reason}`), `conditions_total`, `extra_fields`, `missing_fields`, `ignored_fields`, `problems`; the AWS Signature view shows it condition by condition",
    "post_policy": "S3's answer to a POST upload, parsed: `kind`, `condition` (the one S3 names), `extra_fields`, `detail`",
    "problem": "what makes the POST policy unusable, in words",
    "request_time": "the request time the POST policy was evaluated at (ISO 8601)",
    "s3_code": "the error code S3 answers for this failure",
    "server_message": "the server's error message (first 300 characters)",
    "string_to_sign": "what was signed, in words (for a POST form: the base64 policy field as sent)",
    "value_sent": "the value the form sent for the field (or the file's size)",
    "access_key_id": "the access key id of the request",
    "actual": "the checksum computed over the (decoded) body",
    "algorithm": "the checksum algorithm (`crc32`, `crc32c`, `crc64nvme`, `sha1`, `sha256`)",
    "amz_date": "the request's `x-amz-date`",
    "authorization_sha256_b64": "base64(SHA-256(raw Authorization header)), as AWS prints it in IncompleteSignatureException",
    "aws_canonical": "the canonical path or query line as AWS's servers compute it",
    "aws_error_code": "the error code of the server's answer (`SignatureDoesNotMatch`, ...); null when it had no body",
    "aws_error_message": "the server's error message (first 500 characters, tokens redacted)",
    "basis": "what the finding rests on (`server-echo`, `server`, `host`, `learned-issuer`, `token-format`)",
    "body": "the SHA-256 of the body as received",
    "cause": "what changed the request inside the proxy (`modify_headers option`, `anticomp option`, `another addon`, ...)",
    "characters": "the characters the signer left raw that AWS encodes",
    "check": "which check could not run (`checksum-crc32c`, `signature`, `inspection`, or a rule's name)",
    "chunk": "the aws-chunked chunk whose signature broke the chain (its number, or `trailer`)",
    "chunks_verified": "how many chunks verified before it",
    "classification": "the kind of refusal (`signature_mismatch`, `clock_skew`, `wrong_region`, `sigv2_rejected`, ...; errorclass.CLASSIFICATIONS)",
    "client": "the value as the client sent it (signed)",
    "count": "how many there are in all (when only the first few are named)",
    "credential_expiry": "when the temporary credentials that signed the URL expire (ISO 8601)",
    "credentials_problem": "why the user's credentials are not loaded (botocore missing, a profile that timed out), or null",
    "declared": "the decoded length the request declares (`x-amz-decoded-content-length`)",
    "decoded": "the decoded length actually received",
    "detail": "what broke in the chunk chain, in words",
    "diff": "the parts that differ, as a list of `{part, name, local, server}` (part: `method`, `uri`, `query`, `header`, `signed_headers`, `payload`, or `line`); tokens and signatures redacted",
    "expected": "the checksum the request declares (header or trailer); null when an announced trailer never came",
    "expected_region": "the region the server's answer names, or null",
    "expired_at": "when the presigned URL expired (ISO 8601)",
    "expires": "the URL's `X-Amz-Expires` in seconds",
    "expiry": "when the temporary credentials expired (ISO 8601)",
    "framing": "what is wrong with the aws-chunked framing, in words",
    "header": "the header's name, lower-cased",
    "headers": "the header names concerned",
    "hop": "the hop after the proxy, as its response names it (`Cloudflare`, a `Via` or `Server` value), or null",
    "server_is_aws": "whether the server is an AWS endpoint; when false (an S3-compatible store, moto, LocalStack) it may canonicalise requests differently from AWS",
    "host_here": "the Host as received",
    "host_region": "the region of the host, from botocore's endpoint data",
    "host_service": "the service of the host, from botocore's endpoint data",
    "lag_seconds": "how long before it was sent the request was signed",
    "left_out": "how many findings were left out",
    "limits": "the analysis bounds that were hit",
    "location": "where the checksum was: `header` or `trailer`",
    "markers": "the 2025 integrity-default markers the request carries",
    "matched_variant": "the signer's canonical form the signature matched (e.g. `encodeURIComponent`)",
    "matches": "which reading the signature matches",
    "model_reading": "the reading of the decided model (core/awsmodel.py)",
    "module": "the optional module that is missing (`awscrt`)",
    "other_reading": "the other reading AWS's services are reported to use",
    "payload": "the signed payload hash or mode",
    "payload_here": "the payload hash line as received",
    "problems": "what is wrong with the Authorization value, as a list of sentences",
    "query_here": "the canonical query as received",
    "reading": "the contested part of the request (e.g. `+` in the query)",
    "reason": "the verification's reason the body or signature was not checked",
    "reference": "the clock the request time was compared with (`server Date header`, `server time in the error`, `proxy clock`)",
    "region": "the opt-in region the request is for",
    "request_id": "the server's request id",
    "scope_date": "the date of the credential scope",
    "scope_region": "the region of the credential scope",
    "scope_service": "the service of the credential scope",
    "server": "the server's value",
    "server_canonical_request": "the server's own canonical request, echoed in its error (session tokens shown as in `canonical_request`, other tokens and signatures redacted; cut at 2048 characters, with its length); the AWS Signature view puts it beside `canonical_request`",
    "server_confirms": "true when the server's own answer confirms this cause (it then comes first among the causes)",
    "signature": "the fingerprint of the signature the client sent (`sha256:` and 12 hex digits)",
    "signed": "the signed payload hash (`x-amz-content-sha256`)",
    "signed_canonical": "the canonical path or query line the signature matches (the signer's form)",
    "signed_host": "the Host the signature matches",
    "signed_payload": "the payload hash the signature matches",
    "signed_query": "the canonical query the signature matches",
    "signed_uri": "the canonical path the signature matches",
    "signed_value": "the header value the signature matches",
    "skew_seconds": "the request time minus the reference time, in seconds (negative: the client is behind)",
    "source": "where the flow was read from (`har`)",
    "sources": "the evidence for each reading (documentation, issue threads)",
    "starts_at": "when the presigned URL becomes valid (ISO 8601)",
    "status": "the response's HTTP status",
    "suspects": "what a hop most likely changed, most likely first",
    "terminator": "the last element of the credential scope as sent",
    "token": "a description of the session token (its first 8 characters, length and format; never the token)",
    "tried": "how many variants the search tried",
    "upstream": "the value as it went upstream, or as the server saw it (null: removed)",
    "uri_here": "the canonical path as received",
    "url_expiry": "when the presigned URL expires (ISO 8601)",
    "user_agent": "the client's User-Agent",
    "value": "the signed value of the missing header when known (a SigV2 URL names it, or the variant search found it), else null",
    "value_here": "the header's value as received",
    "variant": "the variant the signature matches, in words",
    "where": "where the change or cause is: `in-proxy` (between the client and the upstream send), `after-proxy` (the server saw another request), `inferred` (found by trying variants), `signer` (the client's signer computed another canonical form), `as-received` (in the request as it arrived)",
    "window_seconds": "the service's allowed skew, in seconds",
}

CODE_NOTES: dict[str, str] = {
    "HEADER_MODIFIED": "`where` is `in-proxy` (with `cause`), `after-proxy` (with `hop`, from the server's echo) or `inferred` (with `signed_value`, `value_here`, `variant`, `tried`).",
    "SERVER_CANONICAL_DIFF": "`diff` names each differing part; `server_canonical_request` is the whole echo, for a side-by-side view.",
    "SERVER_REJECTED": "A 401/403 without a body (HEAD) carries only `status` and `aws_error_code` (null).",
    "URI_ENCODING": "`where` is `signer` (with `aws_canonical`, `signed_canonical`, `characters`, `matched_variant`), `in-proxy`, `after-proxy` or `inferred`.",
    "QUERY_ENCODING": "`where` is `signer` (with `aws_canonical`, `signed_canonical`, `characters`, `matched_variant`), `in-proxy`, `after-proxy` or `inferred`.",
}


def _source_tree(module: ModuleType) -> ast.Module:
    return ast.parse(inspect.getsource(module))


def _dict_keys(node: ast.AST) -> set[str]:
    """The string keys of a dict literal (and of both branches of a conditional)."""
    if isinstance(node, ast.IfExp):
        return _dict_keys(node.body) | _dict_keys(node.orelse)
    if isinstance(node, ast.Dict):
        return {
            k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
        }
    return set()


def _forensic_keys() -> dict[str, set[str]]:
    """The variant search's evidence keys by kind (``Candidate(kind, ..., evidence={...})``)."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(_source_tree(forensics)):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Candidate"):
            continue
        if not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        for kw in node.keywords:
            if kw.arg == "evidence":
                out.setdefault(str(node.args[0].value), set()).update(_dict_keys(kw.value))
    return out


def _function_return_keys(tree: ast.Module, name: str) -> set[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Return) and sub.value is not None:
                    return _dict_keys(sub.value)
    return set()


def _local_dict_keys(fn: ast.FunctionDef, name: str) -> set[str]:
    """The keys a rule puts into its local dict ``name`` (``name = {...}``,
    ``name["key"] = ...``)."""
    keys: set[str] = set()
    for node in ast.walk(fn):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for t in targets:
            if isinstance(t, ast.Name) and t.id == name:
                keys |= _dict_keys(value)
            elif (
                isinstance(t, ast.Subscript)
                and isinstance(t.value, ast.Name)
                and t.value.id == name
                and isinstance(t.slice, ast.Constant)
                and isinstance(t.slice.value, str)
            ):
                keys.add(t.slice.value)
    return keys


def _helper_dict_keys(
    fn: ast.FunctionDef, name: str, functions: dict[str, ast.FunctionDef]
) -> set[str]:
    """The keys of the local dict ``name`` of the module's functions ``fn`` calls (a helper
    that returns the evidence, e.g. ``msg, fix, evidence = _signer_encoding(...)``)."""
    keys: set[str] = set()
    for sub in ast.walk(fn):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
            helper = functions.get(sub.func.id)
            if helper is not None and helper is not fn:
                keys |= _local_dict_keys(helper, name)
    return keys


def _codes_of(arg: ast.AST, fn: ast.FunctionDef) -> list[str]:
    if isinstance(arg, ast.Attribute):
        return [arg.attr]
    raise ValueError(f"cannot tell the code of {ast.unparse(arg)} in {fn.name}")


def _makers(tree: ast.Module) -> dict[str, str]:
    """Functions that make one code's finding for several callers, by name -> code: they
    pass their own severity and ``**evidence`` on to ``_f(Code.X, severity, ...)``
    (``check_unavailable_finding``)."""
    out: dict[str, str] = {}
    for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        if fn.args.kwarg is None:
            continue
        for call in ast.walk(fn):
            if (
                isinstance(call, ast.Call)
                and getattr(call.func, "id", None) == "_f"
                and isinstance(call.args[0], ast.Attribute)
                and any(
                    kw.arg is None
                    and isinstance(kw.value, ast.Name)
                    and kw.value.id == fn.args.kwarg.arg
                    for kw in call.keywords
                )
            ):
                out[fn.name] = call.args[0].attr
    return out


def _maker_calls(makers: dict[str, str]) -> Iterator[tuple[str, set[str], set[str]]]:
    """(code, severities, evidence keys) of every call of a maker (:func:`_makers`)."""
    for module in (rules, core_inspect):
        for call in ast.walk(_source_tree(module)):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in makers and call.args:
                keys = {kw.arg for kw in call.keywords if kw.arg is not None}
                yield makers[name], _severities(call.args[0]), keys


def _severities(arg: ast.AST) -> set[str]:
    if isinstance(arg, ast.Constant):
        return {str(arg.value)}
    found = {
        n.value
        for n in ast.walk(arg)
        if isinstance(n, ast.Constant) and n.value in ("error", "warning", "info")
    }
    return found or {"error", "warning"}  # CLOCK_SKEW: error past the window, else warning


def _rule_findings() -> Iterator[tuple[str, set[str], set[str]]]:
    """(code, severities, evidence keys) of every ``_f(...)`` in rules.py."""
    tree = _source_tree(rules)
    forensic = _forensic_keys()
    server = _function_return_keys(tree, "_server_evidence")
    makers = _makers(tree)
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    yield from _maker_calls(makers)
    for fn in functions.values():
        if fn.name in makers:
            continue
        kind = None
        for sub in ast.walk(fn):
            if (
                isinstance(sub, ast.Call)
                and getattr(sub.func, "id", None) == "_forensic"
                and len(sub.args) == 2
                and isinstance(sub.args[1], ast.Constant)
            ):
                kind = str(sub.args[1].value)
        for call in ast.walk(fn):
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "_f"):
                continue
            keys: set[str] = set()
            for kw in call.keywords:
                if kw.arg is not None:
                    keys.add(kw.arg)
                    continue
                value = kw.value
                text = ast.unparse(value)
                if "_server_evidence" in text:
                    keys |= server
                keys |= _dict_keys(value)
                if "fz.evidence" in text and kind is not None:
                    keys |= forensic.get(kind, set())
                if isinstance(value, ast.Name):  # **extra: a local dict filled in the rule
                    keys |= _local_dict_keys(fn, value.id) or _helper_dict_keys(
                        fn, value.id, functions
                    )
            for code in _codes_of(call.args[0], fn):
                yield code, _severities(call.args[1]), keys


def _other_findings() -> Iterator[tuple[str, set[str], set[str]]]:
    """Findings made outside rules.py: ``Finding("CODE", "severity", ..., {evidence})``."""
    for module in (rank, core_inspect):
        for call in ast.walk(_source_tree(module)):
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Finding"):
                continue
            if len(call.args) < 5:
                continue
            code_arg = call.args[0]
            if isinstance(code_arg, ast.Call) and code_arg.args:  # str(Code.X)
                code_arg = code_arg.args[0]
            if isinstance(code_arg, ast.Attribute):
                code = code_arg.attr
            elif isinstance(code_arg, ast.Constant):
                code = str(code_arg.value)
            else:
                continue
            yield code, _severities(call.args[1]), _dict_keys(call.args[4])


def evidence_by_code() -> dict[str, tuple[set[str], set[str]]]:
    """Each finding code's severities and the evidence keys it may carry."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for code, sev, keys in [*_rule_findings(), *_other_findings()]:
        have = out.setdefault(code, (set(), set()))
        have[0].update(sev)
        have[1].update(keys)
    return out


def undocumented(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(code, key) pairs of these records' evidence that docs/record.md does not list."""
    table = evidence_by_code()
    out = []
    for rec in records:
        for f in rec.get("findings") or []:
            allowed = table.get(f["code"], (set(), set()))[1]
            out += [(f["code"], k) for k in f["evidence"] if k not in allowed and k != "_truncated"]
    return sorted(set(out))


def render() -> str:
    """The text of docs/record.md."""
    table = evidence_by_code()
    undocumented = sorted({k for _, keys in table.values() for k in keys} - set(KEY_DOCS))
    if undocumented:
        raise ValueError(f"evidence keys without a sentence in KEY_DOCS: {undocumented}")
    lines = [
        "# The record's `evidence`, per finding code",
        "",
        "<!-- Generated by `python -m sigv4_inspector.recorddoc > docs/record.md` from the code",
        "     that emits the findings; tests/test_record_doc.py fails when it drifts. -->",
        "",
        "Every finding of a record (`findings[]`, see the report contract) is",
        "`{code, severity, message, fix, evidence}`. `message` and `fix` are for people;",
        "`evidence` is for tools: a JSON object whose keys depend on the code, listed here.",
        "Any key may be absent or null when the fact is not known for that flow. Strings are",
        "cut at 2048 characters (with their length), lists and objects at 32 entries, and",
        "no value ever holds a secret, a session token or a signature the tool computed",
        "(tokens appear as a description, the client's signature as a fingerprint).",
        "",
        "The record's other fields: `schema` (2), `flow_id`, `time`, `method`, `url`",
        "(signatures and tokens fingerprinted), `auth`, `verdict`, `credential_source`,",
        "`canonical_request`, `string_to_sign`, `headline` (the first finding without its",
        "evidence), `findings`, `response`.",
        "",
        "## Keys per code",
        "",
        "| code | severity | evidence keys |",
        "|---|---|---|",
    ]
    order = {c.value: i for i, c in enumerate(Code)}
    for code in sorted(Code, key=lambda c: order[c.value]):
        if code.value not in table:
            lines.append(f"| `{code.value}` | - | (not emitted by this version) |")
            continue
        sev, keys = table[code.value]
        sev_text = ", ".join(s for s in ("error", "warning", "info") if s in sev)
        key_text = ", ".join(f"`{k}`" for k in sorted(keys)) or "(none)"
        note = CODE_NOTES.get(code.value)
        lines.append(
            f"| `{code.value}` | {sev_text} | {key_text}" + (f". {note}" if note else "") + " |"
        )
    lines += ["", "## What each key means", "", "| key | meaning |", "|---|---|"]
    used = sorted({k for _, keys in table.values() for k in keys})
    lines += [f"| `{k}` | {KEY_DOCS[k]} |" for k in used]
    return "\n".join(lines) + "\n"


def main() -> int:
    print(render(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
