"""Verification: recompute a request's signature from the wire and say whether it matches.

``verify(req, keyring)`` is the buffered entry point. ``VerifySession`` is the same check
fed incrementally (``feed`` per body chunk, ``finish`` at the end), so streamed uploads are
verified with bounded memory: the body is never kept, only hashes, checksums and the
aws-chunked chain state.

An S3 POST upload (a ``multipart/form-data`` POST without header or query authentication)
is read the same way: the body goes through the incremental multipart parser
(:mod:`sigv4_inspector.core.multipart`, which keeps the form fields and counts the file),
then :func:`verify_post` checks the signature over the base64 policy and evaluates the
policy (:mod:`sigv4_inspector.core.postpolicy`). Buffered or streamed, it is one code.

Signatures computed here are compared in constant time and never returned or logged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sigv4_inspector.core import awsmodel, keys
from sigv4_inspector.core import canonical as c
from sigv4_inspector.core.authparse import SIGV4A_ALGORITHM, parse_auth
from sigv4_inspector.core.checksums import Checksum, ChecksumUnavailable, algorithm_of
from sigv4_inspector.core.chunked import AwsChunkedDecoder
from sigv4_inspector.core.model import (
    ChecksumResult,
    Credential,
    Keyring,
    ParsedAuth,
    Reason,
    ReasonDetail,
    Verdict,
    Verification,
    WireRequest,
)
from sigv4_inspector.core.multipart import MultipartParser
from sigv4_inspector.core.postpolicy import (
    ConditionKind,
    Outcome,
    PolicyEvaluation,
    PostUpload,
    evaluate,
    form_post_boundary,
    parsed_auth,
    post_bucket,
    post_upload,
    verify_post_signature,
)
from sigv4_inspector.core.sigv2 import verify_sigv2

STREAMING_SIGNED = {
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": ("sigv4", False),
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": ("sigv4", True),
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD": ("sigv4a", False),
    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER": ("sigv4a", True),
}
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def _malformed(auth: ParsedAuth) -> ReasonDetail:
    """The detail of ``malformed_authorization``: the error, then the parser's evidence."""
    detail: ReasonDetail = {"error": auth.error}
    found = auth.error_detail
    if "authorization_sha256_b64" in found:
        detail["authorization_sha256_b64"] = found["authorization_sha256_b64"]
    if "problems" in found:
        detail["problems"] = found["problems"]
    return detail


# the reason of a signature that matches only a signer's form of this part
_ENCODING_REASON = {"path": Reason.PATH_ENCODING, "query": Reason.QUERY_ENCODING}
FORM_SLICE = 1 << 20  # a buffered form is fed to the parser in slices: bounded copies

Checker = Callable[[str, str], bool]


def make_checker(auth: ParsedAuth, cred: Credential) -> Checker:
    """A function ``(string_to_sign, provided_signature) -> bool`` for this request's
    scheme and credential. The computed signature never leaves it."""
    scope = auth.scope
    assert scope is not None
    if auth.scheme == "sigv4a":
        pub = keys.sigv4a_private_key(cred.access_key_id, cred.secret_access_key).public_key()

        def check_a(sts: str, provided: str) -> bool:
            return keys.sigv4a_verify(pub, sts, provided)

        return check_a
    key = keys.signing_key(cred.secret_access_key, scope.date, scope.region or "", scope.service)
    memo: list[str] = ["", ""]  # the last provided signature and its normal form

    def check(sts: str, provided: str) -> bool:
        if provided != memo[0]:  # the forensic search checks one signature many times
            memo[0], memo[1] = provided, keys.normal_signature(provided)
        return keys.signature_matches(keys.sigv4_signature(key, sts), memo[1])

    return check


def is_s3(auth: ParsedAuth) -> bool:
    return auth.scope is not None and auth.scope.service in c.S3_SERVICES


def header_list_for_signing(req: WireRequest, auth: ParsedAuth) -> list[tuple[str, str]]:
    """The request's headers, plus Host from the authority when the request has none
    (HTTP/2 carries it as :authority)."""
    headers = list(req.headers)
    if "host" in auth.signed_headers and req.header("host") is None and req.authority:
        headers.append(("host", req.authority))
    return headers


def build_canonical_request(
    req: WireRequest,
    auth: ParsedAuth,
    payload_line: str,
    *,
    s3_rules: bool | None = None,
    token_unsigned: bool = False,
    uri: str | None = None,
    query: str | None = None,
) -> tuple[str, list[str]]:
    """The canonical request AWS computes for a SigV4/SigV4a request as seen
    (:mod:`sigv4_inspector.core.awsmodel`), and the signed headers that are absent.

    ``s3_rules`` overrides the path rules chosen from the scope; ``token_unsigned`` leaves
    X-Amz-Security-Token out of a presigned query (the services that accept that, E7);
    ``uri``/``query`` replace those lines (a signer's form, for the diagnosis)."""
    s3 = is_s3(auth) if s3_rules is None else s3_rules
    if uri is None:
        uri = awsmodel.canonical_uri(req.path, s3=s3)
    if query is None:
        query = awsmodel.canonical_query(
            req.raw_query, exclude=excluded_params(auth, token_unsigned)
        )
    headers = header_list_for_signing(req, auth)
    same = len(headers) == len(req.headers)  # no Host added: the request's own index serves
    block, missing = c.canonical_headers(
        headers, auth.signed_headers, index=req.index() if same else None
    )
    return c.canonical_request(
        req.method, uri, query, block, auth.signed_headers, payload_line
    ), missing


def excluded_params(auth: ParsedAuth, token_unsigned: bool = False) -> tuple[str, ...]:
    """Query parameters outside the signature: a presigned URL's own X-Amz-Signature, and
    its session token where the service signs without it."""
    if auth.location != "query":
        return ()
    return ("X-Amz-Signature", "X-Amz-Security-Token") if token_unsigned else ("X-Amz-Signature",)


def scope_string(auth: ParsedAuth) -> str:
    return str(auth.scope) if auth.scope else ""


def payload_line_for(auth: ParsedAuth, body_sha256: str | None) -> str | None:
    """The canonical request's last line: the declared payload hash/mode, UNSIGNED-PAYLOAD
    for presigned S3, else SHA-256 of the body (None when the body is unknown)."""
    if auth.payload:
        return auth.payload
    if auth.location == "query" and is_s3(auth):
        return c.UNSIGNED_PAYLOAD
    return body_sha256


def _sigv2_header_hints(req: WireRequest) -> list[tuple[str, str]]:
    out = []
    for k, val in c.split_query(req.raw_query):
        name = c.percent_decode(k).decode("utf-8", "replace").lower()
        if name in ("content-type", "content-md5") and req.header(name) is None and val is not None:
            out.append((name.title(), c.percent_decode(val).decode("utf-8", "replace")))
    return out


class _ChunkChain:
    """Verifies the chain of aws-chunked chunk signatures (and the trailer signature)."""

    def __init__(self, auth: ParsedAuth, cred: Credential, ecdsa: bool) -> None:
        self.check = make_checker(auth, cred)
        alg = "AWS4-ECDSA-P256-SHA256" if ecdsa else "AWS4-HMAC-SHA256"
        self.chunk_alg = alg + "-PAYLOAD"
        self.trailer_alg = alg + "-TRAILER"
        self.prefix_tail = f"{auth.amz_date}\n{scope_string(auth)}\n"
        self.prev = auth.signature
        self.ecdsa = ecdsa
        self.verified = 0
        self.first_bad: int | None = None
        self.bad_detail: str | None = None
        self.trailer_ok: bool | None = None

    def _ok(self, sts_for: Callable[[str], str], sig: str) -> bool:
        if self.check(sts_for(self.prev), sig):
            return True
        if self.ecdsa and self.prev.rstrip("*") != self.prev:
            return self.check(sts_for(self.prev.rstrip("*")), sig)
        return False

    def chunk(self, index: int, sig: str | None, data_hash: str) -> None:
        if self.first_bad is not None:
            return
        if not sig:
            self.first_bad, self.bad_detail = index, f"chunk {index} carries no chunk-signature"
            return

        def sts(prev: str) -> str:
            return f"{self.chunk_alg}\n{self.prefix_tail}{prev}\n{c.EMPTY_SHA256}\n{data_hash}"

        if self._ok(sts, sig):
            self.verified += 1
            self.prev = sig
        else:
            self.first_bad = index
            self.bad_detail = f"chunk {index} signature does not chain from the previous signature"

    def trailer(self, trailers: list[tuple[str, str]]) -> None:
        sig = next((v for k, v in trailers if k == "x-amz-trailer-signature"), None)
        if sig is None:
            self.trailer_ok = False
            return
        canon = "".join(f"{k}:{v}\n" for k, v in trailers if k != "x-amz-trailer-signature")

        def sts(prev: str) -> str:
            return f"{self.trailer_alg}\n{self.prefix_tail}{prev}\n{c.hash_hex(canon)}"

        self.trailer_ok = self.first_bad is None and self._ok(sts, sig)


class VerifySession:
    """Incremental verification of one request: construct with the request head (its body
    is ignored), ``feed`` the raw body bytes, ``finish`` to get the :class:`Verification`."""

    def __init__(
        self,
        req: WireRequest,
        keyring: Keyring,
        *,
        now: datetime | None = None,
        s3_rules: bool | None = None,
        auth: ParsedAuth | None = None,
        token_outside_signature: bool | None = None,
    ) -> None:
        self.req = req
        self.now = now
        self.s3_rules = s3_rules
        self.token_outside_signature = token_outside_signature
        self.auth = auth if auth is not None else parse_auth(req)
        self.cred: Credential | None = None
        self._keyring = keyring
        self._form: MultipartParser | None = None  # a possible S3 POST upload
        self.body_seen = 0
        self.body_known = True
        self._raw_hash: Any = None
        self._decoder: AwsChunkedDecoder | None = None
        self._chain: _ChunkChain | None = None
        self._chunk_hash: Any = None
        self._chunk_sig: str | None = None
        self._chunk_count = 0
        self._header_checksums: list[tuple[str, str, Checksum]] = []
        self._trailer_checksums: dict[str, Checksum] = {}
        # algorithms that need a module not installed here: (location, declared, module)
        self._unavailable: dict[str, tuple[str, str | None, str]] = {}
        self._error: str | None = None
        try:
            self._setup(keyring)
        except Exception as exc:  # never raise on hostile input
            self._error = f"internal error while preparing verification ({type(exc).__name__})"

    def _setup(self, keyring: Keyring) -> None:
        auth = self.auth
        if auth.scheme == "none":
            boundary = form_post_boundary(self.req.method, self.req.header("content-type"))
            if boundary is not None:
                self._form = MultipartParser(boundary)
            return
        if auth.malformed or not auth.access_key_id:
            return
        self.cred = keyring.lookup(auth.access_key_id)
        if auth.scheme == "sigv2":
            return
        mode = auth.payload or ""
        if not mode or _HEX64.match(mode):
            self._raw_hash = hashlib.sha256()
        if mode in STREAMING_SIGNED or mode == STREAMING_UNSIGNED_TRAILER:
            self._decoder = AwsChunkedDecoder()
            if mode in STREAMING_SIGNED and self.cred is not None and auth.scope is not None:
                self._chain = _ChunkChain(auth, self.cred, STREAMING_SIGNED[mode][0] == "sigv4a")
            for name in (self.req.header("x-amz-trailer") or "").split(","):
                algo = algorithm_of(name)
                if algo and algo not in self._unavailable:
                    try:
                        self._trailer_checksums[algo] = Checksum(algo)
                    except ChecksumUnavailable as exc:
                        self._unavailable[algo] = ("trailer", None, exc.module)
        for name, value in self.req.headers:
            algo = algorithm_of(name)
            if algo and algo not in self._trailer_checksums and algo not in self._unavailable:
                try:
                    self._header_checksums.append((algo, value.strip(), Checksum(algo)))
                except ChecksumUnavailable as exc:
                    self._unavailable[algo] = ("header", value.strip(), exc.module)

    # -- body ---------------------------------------------------------------------------
    def body_unknown(self) -> None:
        """The body was not seen (streamed without a tap, or not stored)."""
        self.body_known = False

    def feed(self, data: bytes | memoryview) -> None:
        if not data or self._error:
            return
        try:
            self.body_seen += len(data)
            form = self._form
            if form is not None:
                if len(data) <= FORM_SLICE:
                    form.feed(data)
                else:
                    view = memoryview(data)
                    for i in range(0, len(view), FORM_SLICE):
                        form.feed(view[i : i + FORM_SLICE])
                return
            if self._raw_hash is not None:
                self._raw_hash.update(data)
            if self._decoder is None:
                for _, _, ck in self._header_checksums:
                    ck.update(data)
                return
            self._on_events(self._decoder.feed(data))
        except Exception as exc:
            self._error = f"internal error while reading the body ({type(exc).__name__})"

    def _on_events(self, events: list[tuple[Any, ...]]) -> None:
        for ev in events:
            kind = ev[0]
            if kind == "data":
                mv = ev[1]
                if self._chunk_hash is not None:
                    self._chunk_hash.update(mv)
                for ck in self._trailer_checksums.values():
                    ck.update(mv)
                for _, _, hck in self._header_checksums:
                    hck.update(mv)
            elif kind == "chunk":
                self._chunk_count += 1
                self._chunk_sig = ev[3]
                self._chunk_hash = hashlib.sha256() if self._chain is not None else None
            elif kind == "chunk_end":
                if self._chain is not None and self._chunk_hash is not None:
                    self._chain.chunk(ev[1], self._chunk_sig, self._chunk_hash.hexdigest())
                self._chunk_hash = None
            elif kind == "end" and (
                self._chain is not None
                and self.auth.payload
                and self.auth.payload.endswith("-TRAILER")
            ):
                assert self._decoder is not None
                self._chain.trailer(self._decoder.trailers)

    def _on_end(self) -> None:
        if self._chain is not None and (self.auth.payload or "").endswith("-TRAILER"):
            assert self._decoder is not None
            self._chain.trailer(self._decoder.trailers)

    # -- result -------------------------------------------------------------------------
    def finish(self) -> Verification:
        try:
            return self._finish()
        except Exception as exc:  # never raise on hostile input
            return Verification(
                verdict=Verdict.UNVERIFIED,
                auth=self.auth,
                reason=Reason.INTERNAL_ERROR,
                detail={"error": f"{type(exc).__name__}"},
            )

    def _finish(self) -> Verification:
        auth = self.auth
        if self._decoder is not None and self.body_known:
            self._on_events(self._decoder.finish())
        if auth.scheme == "none" and self._form is not None and not self._error:
            return self._finish_form(self._form)
        if auth.scheme == "none" and not self._error:
            return Verification(verdict=Verdict.UNSIGNED, auth=auth)
        if auth.malformed:
            return Verification(
                verdict=Verdict.INVALID,
                auth=auth,
                reason=Reason.MALFORMED_AUTHORIZATION,
                detail=_malformed(auth),
            )
        if self._error:
            return Verification(
                verdict=Verdict.UNVERIFIED,
                auth=auth,
                reason=Reason.INTERNAL_ERROR,
                detail={"error": self._error},
            )
        if auth.scheme == "sigv2":
            return self._finish_sigv2()
        return self._finish_sigv4()

    def _finish_form(self, parser: MultipartParser) -> Verification:
        """A multipart POST: an S3 POST upload when its form carries a policy and signing
        fields, else an unsigned request. A body not seen at all (streamed untapped, not
        kept) cannot be read: ``unverified`` with ``form_unknown``."""
        form = parser.finish()
        upload = post_upload(form)
        if upload is None:
            if not self.body_known:
                return Verification(
                    verdict=Verdict.UNVERIFIED,
                    auth=self.auth,
                    reason=Reason.FORM_UNKNOWN,
                    detail={
                        "error": "a multipart/form-data POST whose body was not seen: "
                        "an S3 POST upload's policy and signature are in the body",
                        "bytes_seen": self.body_seen,
                    },
                )
            return Verification(verdict=Verdict.UNSIGNED, auth=self.auth)
        whole = self.body_known and (form.file is None or form.file.complete)
        return verify_post(upload, self.req, self._keyring, now=self.now, file_seen=whole)

    def _finish_sigv2(self) -> Verification:
        auth, cred = self.auth, self.cred
        if cred is None:
            return Verification(
                verdict=Verdict.UNVERIFIED, auth=auth, reason=Reason.UNKNOWN_ACCESS_KEY
            )
        ok, sts = verify_sigv2(self.req, auth, cred.secret_access_key)
        if not ok and auth.location == "query":
            # S3 SigV2 presigned URLs name the Content-Type/Content-MD5 they signed in the
            # query; a request sent without that header cannot match.
            hinted = _sigv2_header_hints(self.req)
            if hinted:
                fixed = WireRequest.build(
                    self.req.method,
                    self.req.target,
                    [*self.req.headers, *hinted],
                    self.req.body,
                    self.req.authority,
                )
                ok2, sts2 = verify_sigv2(fixed, auth, cred.secret_access_key)
                if ok2:
                    return Verification(
                        verdict=Verdict.INVALID,
                        auth=auth,
                        string_to_sign=sts2,
                        credential=cred,
                        reason=Reason.SIGNED_HEADER_MISSING,
                        missing_headers=[k.lower() for k, _ in hinted],
                        detail={"values": {k.lower(): val for k, val in hinted}},
                        signature_ok=False,
                    )
        return Verification(
            verdict=Verdict.VALID if ok else Verdict.INVALID,
            auth=auth,
            string_to_sign=sts,
            credential=cred,
            reason=None if ok else Reason.SIGNATURE_MISMATCH,
            signature_ok=ok,
        )

    def _finish_sigv4(self) -> Verification:
        auth, cred, req = self.auth, self.cred, self.req
        body_sha = (
            self._raw_hash.hexdigest() if (self._raw_hash is not None and self.body_known) else None
        )
        line = payload_line_for(auth, body_sha)
        v = Verification(
            verdict=Verdict.UNVERIFIED, auth=auth, credential=cred, body_sha256=body_sha
        )
        self._body_facts(v)
        if line is None:
            v.reason = Reason.BODY_UNKNOWN
            v.detail = {
                "error": "the payload hash is SHA-256 of the body, and the body was not seen"
            }
            return v
        v.payload_line = line
        if auth.payload != line:
            v.auth = auth.with_payload(line)
        token_out = bool(
            auth.location == "query"
            and auth.session_token
            and (
                awsmodel.token_outside_signature(auth.scope.service if auth.scope else None)
                if self.token_outside_signature is None
                else self.token_outside_signature
            )
        )
        creq, missing = build_canonical_request(
            req, auth, line, s3_rules=self.s3_rules, token_unsigned=token_out
        )
        v.canonical_request = creq
        v.string_to_sign = c.string_to_sign(
            auth.algorithm, auth.amz_date or "", scope_string(auth), creq
        )
        v.missing_headers = missing
        if cred is None:
            v.reason = Reason.UNKNOWN_ACCESS_KEY
            return v
        check = make_checker(auth, cred)
        ok = check(v.string_to_sign, auth.signature)
        s3 = is_s3(auth) if self.s3_rules is None else self.s3_rules
        if not ok:
            self._signer_form(v, check, line, s3, token_out)
        if "+" in req.target or "%2" in req.path:  # cheap pre-test for contested readings
            self._contested(v, check, line, s3, token_out, ok)
        v.signature_ok = ok
        self._decide(v, ok, line, body_sha)
        return v

    def _sts(self, creq: str) -> str:
        auth = self.auth
        return c.string_to_sign(auth.algorithm, auth.amz_date or "", scope_string(auth), creq)

    def _signer_form(
        self, v: Verification, check: Checker, line: str, s3: bool, token_out: bool
    ) -> None:
        """Which canonical form a real signer computed, when AWS's does not match: the
        verdict stays invalid, and the finding names the characters that differ."""
        req, auth = self.req, self.auth
        aws_lines = (v.canonical_request or "").split("\n", 3)
        exclude = excluded_params(auth, token_out)
        tried: set[tuple[str, str]] = set()
        plain_path = c.is_plain_path(req.path)  # then every path form is AWS's line
        for form in awsmodel.forms_for(s3):
            if (form.part == "path" and plain_path) or (form.part == "query" and not req.raw_query):
                continue
            alt_line = awsmodel.build_form(form, req.path, req.raw_query, exclude, s3)
            index = 1 if form.part == "path" else 2
            if alt_line == aws_lines[index] or (form.part, alt_line) in tried:
                continue  # the first form that gives a line names it
            tried.add((form.part, alt_line))
            kw = {"uri": alt_line} if form.part == "path" else {"query": alt_line}
            alt, _ = build_canonical_request(
                req, auth, line, s3_rules=s3, token_unsigned=token_out, **kw
            )
            if check(self._sts(alt), auth.signature):
                v.variant = form.name
                v.encoding = {
                    "part": form.part,
                    "form": form.name,
                    "signer_did": form.description,
                    "aws_line": aws_lines[index],
                    "signed_line": alt_line,
                    "raw": awsmodel.raw_characters(alt_line, aws_lines[index]),
                    "over_encoded": awsmodel.over_encoded(alt_line, aws_lines[index]),
                }
                return

    def _contested(
        self, v: Verification, check: Checker, line: str, s3: bool, token_out: bool, ok: bool
    ) -> None:
        """Characters AWS's services are reported to read two ways (a raw '+', an S3
        '%2F'): note each reading on which the verdict rests."""
        req = self.req
        exclude = excluded_params(self.auth, token_out)
        for reading in awsmodel.contested_for(s3, req.path, req.raw_query):
            alt_line = reading.build(req.path if reading.part == "path" else req.raw_query, exclude)
            kw = {"uri": alt_line} if reading.part == "path" else {"query": alt_line}
            alt, _ = build_canonical_request(
                req, self.auth, line, s3_rules=s3, token_unsigned=token_out, **kw
            )
            if alt == v.canonical_request:
                continue
            other_ok = check(self._sts(alt), self.auth.signature)
            if ok != other_ok:
                v.ambiguity.append(
                    {
                        "reading": reading.name,
                        "part": reading.part,
                        "character": reading.character,
                        "model_reading": reading.model,
                        "other_reading": reading.other,
                        "matches": reading.model if ok else reading.other,
                        "evidence": list(reading.evidence),
                    }
                )

    def _body_facts(self, v: Verification) -> None:
        dec = self._decoder
        if dec is not None and self.body_known:
            v.decoded_length = dec.decoded_length
            v.trailers = [t for t in dec.trailers if t[0] != "x-amz-trailer-signature"]
            v.chunks = self._chunk_count
            trailer_values = dict(dec.trailers)
            for algo, ck in self._trailer_checksums.items():
                expected = trailer_values.get(f"x-amz-checksum-{algo}")
                actual = ck.b64()
                v.checksums.append(
                    ChecksumResult(
                        algo,
                        "trailer",
                        expected,
                        actual,
                        expected is not None and expected == actual,
                    )
                )
        if self.body_known and (dec is None or dec.done):
            for algo, expected, ck in self._header_checksums:
                actual = ck.b64()
                v.checksums.append(
                    ChecksumResult(algo, "header", expected, actual, expected == actual)
                )
        for algo, (where, declared, module) in self._unavailable.items():
            if where == "trailer" and dec is not None:
                declared = dict(dec.trailers).get(f"x-amz-checksum-{algo}")
            v.checksums.append(
                ChecksumResult(algo, where, declared, None, None, unavailable=module)  # type: ignore[arg-type]
            )
        if not self.body_known:
            payload = self.auth.payload or ""
            if payload.startswith("STREAMING-") or _HEX64.match(payload) or self._header_checksums:
                v.body_unchecked = "the body was streamed or not kept"

    def _decide(self, v: Verification, sig_ok: bool, line: str, body_sha: str | None) -> None:
        dec, chain = self._decoder, self._chain
        problems: list[tuple[Reason, ReasonDetail]] = []
        if v.missing_headers:
            problems.append((Reason.SIGNED_HEADER_MISSING, {"headers": v.missing_headers}))
        if not sig_ok and v.encoding is not None:
            problems.append(
                (_ENCODING_REASON[v.encoding["part"]], cast(ReasonDetail, dict(v.encoding)))
            )
        elif not sig_ok:
            problems.append((Reason.SIGNATURE_MISMATCH, {}))
        if _HEX64.match(line) and body_sha is not None and body_sha != line.lower():
            problems.append((Reason.PAYLOAD_HASH_MISMATCH, {"signed": line, "body": body_sha}))
        if dec is not None and self.body_known:
            if dec.error:
                problems.append(
                    (
                        Reason.AWS_CHUNKED_FRAMING,
                        {"error": dec.error, "after_decoded_bytes": dec.decoded_length},
                    )
                )
            declared = self.req.header("x-amz-decoded-content-length")
            if (
                declared is not None
                and declared.strip().isdigit()
                and int(declared) != dec.decoded_length
                and not dec.error
            ):
                problems.append(
                    (
                        Reason.DECODED_LENGTH_MISMATCH,
                        {"declared": int(declared), "decoded": dec.decoded_length},
                    )
                )
            if chain is not None:
                v.chunks_verified = chain.verified
                if chain.first_bad is not None:
                    problems.append(
                        (
                            Reason.CHUNK_SIGNATURE_MISMATCH,
                            {"chunk": chain.first_bad, "error": chain.bad_detail},
                        )
                    )
                elif chain.trailer_ok is False:
                    problems.append(
                        (
                            Reason.CHUNK_SIGNATURE_MISMATCH,
                            {"chunk": "trailer", "error": "the trailer signature does not verify"},
                        )
                    )
        if problems:
            v.verdict = Verdict.INVALID
            v.reason = problems[0][0]
            v.detail = problems[0][1]
            if len(problems) > 1:
                v.detail = {**v.detail, "also": [p[0] for p in problems[1:]]}
        else:
            v.verdict = Verdict.VALID


def policy_evaluation(
    upload: PostUpload, req: WireRequest, now: datetime, *, file_seen: bool = True
) -> PolicyEvaluation:
    """The upload's policy checked against its form at ``now`` (the request time), with
    ``$bucket`` from the URL. When the file was not seen whole (a streamed body given up,
    a client that stopped), its size is unknown: content-length-range is not decided."""
    ev = evaluate(upload, post_bucket(req.host, req.path), now)
    if file_seen:
        return ev
    results = tuple(
        dataclasses.replace(
            r,
            outcome=Outcome.NOT_APPLICABLE,
            value_sent=None,
            reason="the file was not seen whole, so its size is not known",
            s3_code=None,
        )
        if r.condition.kind is ConditionKind.CONTENT_LENGTH_RANGE
        else r
        for r in ev.results
    )
    return dataclasses.replace(ev, results=results)


def verify_post(
    upload: PostUpload,
    req: WireRequest,
    keyring: Keyring,
    *,
    now: datetime | None,
    file_seen: bool = True,
) -> Verification:
    """Verify an S3 POST upload: ``valid`` when the form's signature is the one the known
    secret gives over the base64 policy as sent (SigV4: the scope's signing key; SigV2:
    HMAC-SHA1), the string to sign being that policy. The policy is evaluated at ``now``
    (``post_policy``; None when ``now`` is not given). Never returns a computed signature."""
    auth = parsed_auth(upload)
    v = Verification(
        verdict=Verdict.UNVERIFIED,
        auth=auth,
        string_to_sign=upload.string_to_sign,
        post_upload=upload,
        post_policy=None
        if now is None
        else policy_evaluation(upload, req, now, file_seen=file_seen),
    )
    if not file_seen:
        v.body_unchecked = "the file was not seen whole, so its size was not checked"
    if auth.malformed:
        v.verdict, v.reason = Verdict.INVALID, Reason.MALFORMED_AUTHORIZATION
        v.detail = _malformed(auth)
        v.signature_ok = False
        return v
    cred = keyring.lookup(auth.access_key_id) if auth.access_key_id else None
    if cred is None:
        v.reason = Reason.UNKNOWN_ACCESS_KEY
        return v
    v.credential = cred
    ok = verify_post_signature(upload, cred.secret_access_key)
    v.signature_ok = ok
    v.verdict = Verdict.VALID if ok else Verdict.INVALID
    v.reason = None if ok else Reason.SIGNATURE_MISMATCH
    return v


def settle_post(v: Verification, req: WireRequest, keyring: Keyring, now: datetime) -> Verification:
    """Complete a POST upload's verification made early (while it streamed): the policy
    evaluated at ``now`` when it was not, and the signature checked when its key became
    known since (credentials that finished loading)."""
    upload = v.post_upload
    if upload is None:
        return v
    file_seen = v.body_unchecked is None
    akid = (upload.access_key_id or "").strip()
    if v.reason is Reason.UNKNOWN_ACCESS_KEY and akid and keyring.lookup(akid) is not None:
        fresh = verify_post(upload, req, keyring, now=None, file_seen=file_seen)
        fresh.post_policy = v.post_policy
        fresh.body_unchecked = v.body_unchecked
        v = fresh
    if v.post_policy is None:
        v = dataclasses.replace(
            v, post_policy=policy_evaluation(upload, req, now, file_seen=file_seen)
        )
    return v


def verify(
    req: WireRequest,
    keyring: Keyring,
    *,
    now: datetime | None = None,
    s3_rules: bool | None = None,
    auth: ParsedAuth | None = None,
    token_outside_signature: bool | None = None,
) -> Verification:
    """Verify one request whose whole body is known (``req.body is None``: unknown body).

    ``s3_rules`` forces S3's path rules (True) or the other services' (False), and
    ``token_outside_signature`` whether a presigned URL's session token is outside its
    signature; by default the scope's service decides both (:mod:`sigv4_inspector.core.awsmodel`).
    """
    session = VerifySession(
        req,
        keyring,
        now=now,
        s3_rules=s3_rules,
        auth=auth,
        token_outside_signature=token_outside_signature,
    )
    if req.body is None:
        session.body_unknown()
    else:
        session.feed(req.body)
    return session.finish()


__all__ = [
    "SIGV4A_ALGORITHM",
    "VerifySession",
    "build_canonical_request",
    "make_checker",
    "payload_line_for",
    "policy_evaluation",
    "settle_post",
    "verify",
    "verify_post",
]
