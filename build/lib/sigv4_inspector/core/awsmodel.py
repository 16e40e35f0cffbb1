"""The model of what AWS's servers compute when they check a SigV4 request.

A client may sign any string it likes. AWS does not read the client's canonical request:
it rebuilds one from the request it received, by the rules below, and the signature must
match that. The verdict (report.md) is therefore this form, and only this form. Every rule
and every leniency names its evidence; a form without evidence is not accepted. The
evidence, with quotes, is in ``docs/aws-canonicalization.md``:

- E1 AWS SigV4 docs, "Create a canonical request": normalise and encode the path twice,
  "except for Amazon S3"; encode every byte outside the unreserved set; sort the query.
- E2 S3 decodes the path and encodes it again: its echoed CanonicalRequest turns a raw
  ``=`` into ``%3D`` (curl/curl#13754); the S3 PUT Object example ``/test$file.text`` ->
  ``/test%24file.text``; ``%20`` echoed unchanged (envoyproxy/envoy#35023).
- E3 S3 reads a raw ``+`` in the path as a space: echoes ``%20`` in
  nginx/nginx-s3-gateway#77, ex-aws/ex_aws#176, durch/rust-s3#148.
- E4 Other services encode the path as received once more: ES/OpenSearch echoes
  ``%3F`` -> ``%253F`` (aws/aws-sdk-js#853), ``*`` -> ``%2A`` (mhart/aws4#12), ``!``/``@``
  -> ``%21``/``%40`` (opensearch-project/opensearch-py#833); aws-c-auth ``*-normalized``.
- E5 The query is decoded, encoded again and sorted, ``name=`` for a bare name: aws-c-auth
  ``get-vanilla-query-*``; echoes ``%3D`` (aws-signing-request-interceptor#17) and ``x=``
  (xcir/libvmod-awsrest#24); raw ``*`` and ``:`` rejected (interceptor#31, awscurl#115).
- E6 A raw ``+`` in the query is a space, ``%2B`` a plus: API Gateway echo ``id%20eq%20123``
  (zirkelc/aws-signature-v4#4); AWS's 2011 suite (post-vanilla-query-nonunreserved); S3
  accepted ``+`` signed as ``%20`` (mhart/aws4fetch#83); ``%2B`` kept (curl/curl#20543).
- E7 Headers: aws-c-auth ``get-header-*`` vectors; aws/aws-sdk-ruby#2758.
- E8 AWS IoT leaves the session token out of a presigned URL's signature: IoT Developer
  Guide ("do not include X-Amz-Security-Token in the canonical query string"); aws-c-auth
  ``post-sts-header-after``.
- E9 ``%2F`` in an S3 path: no echo either way (low confidence); read as ``/``, and every
  verdict that rests on it says so (ENCODING_AMBIGUOUS).

The forms real signers compute instead (the query as sent, ``encodeURIComponent``, the S3
path as sent, ``+`` read as a space, ...) are here too, as :data:`SIGNER_FORMS`, so the
verifier can say which one a failing signature matches and which characters differ. They
never make a request ``valid``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sigv4_inspector.core import canonical as c

# -- the path ------------------------------------------------------------------------------

#: Services whose canonical URI is the object key as S3 reads it: no normalisation
#: (E1: SigV4 docs, "Each path segment must be URI-encoded twice ... except for Amazon S3";
#: aws-c-auth's *-unnormalized vectors).
S3_SERVICES = c.S3_SERVICES


def canonical_uri(path: str, *, s3: bool) -> str:
    """The canonical URI AWS computes from the path it received.

    S3 (E1, E2, E3): the path is percent-decoded to the key (a raw ``+`` is a space, E3;
    ``%2F`` a slash, E9) and each byte outside ``A-Za-z0-9-_.~`` is encoded again, ``/``
    kept; dot segments and ``//`` stay. So a raw ``!`` or ``=`` sent in the path is
    ``%21`` / ``%3D`` in S3's echo, and ``a+b`` is ``a%20b``.
    Other services (E1, E4): dot and empty segments are removed (RFC 3986), then the path
    as received is encoded once more (``%20`` becomes ``%2520``).
    """
    if not path:
        path = "/"
    if s3:
        return _s3_uri(path, plus_is_space=S3_PATH_PLUS == "space")
    return c.uri_encode(c.normalize_path(path), keep_slash=True)


#: What S3 reads a raw ``+`` in the path as (E3).
S3_PATH_PLUS: Literal["plus", "space"] = "space"


def _s3_uri(path: str, *, plus_is_space: bool, slash_escape_kept: bool = False) -> str:
    if slash_escape_kept:  # the other reading of E9: %2F stays an escaped slash
        return "%2F".join(
            _s3_uri(piece, plus_is_space=plus_is_space)
            for piece in path.replace("%2f", "%2F").split("%2F")
        )
    return c.uri_encode(c.percent_decode(path, plus_is_space=plus_is_space), keep_slash=True)


# -- the query -----------------------------------------------------------------------------

#: What AWS reads a raw ``+`` in the query as (E6: a space; ``%2B`` is a plus). The issue
#: threads were read as conflicting (mhart/aws4fetch#83 against curl/curl#20543); they are
#: not (docs/aws-canonicalization.md), but S3-compatible servers read ``+`` both ways, so
#: whenever a verdict rests on this reading the record carries ENCODING_AMBIGUOUS.
QUERY_PLUS: Literal["plus", "space"] = "space"


def canonical_query(
    raw_query: str, *, exclude: Sequence[str] = (), plus: Literal["plus", "space"] | None = None
) -> str:
    """The canonical query AWS computes (E5, E6): each name and value percent-decoded and
    encoded again (every byte outside ``A-Za-z0-9-_.~`` as ``%XX``, upper-case hex),
    sorted by encoded name then value, ``name=`` for a parameter sent without a value.
    ``exclude`` names parameters outside the signature (``X-Amz-Signature`` of a presigned
    URL)."""
    mode: c.QueryMode = "plus-space" if (plus or QUERY_PLUS) == "space" else "aws"
    return c.canonical_query(c.split_query(raw_query), mode=mode, exclude=exclude)


# -- headers -------------------------------------------------------------------------------
# E7 (SigV4 docs; aws-c-auth get-header-value-trim, get-header-value-multiline,
# get-header-key-duplicate, get-header-value-order): names lower-cased, values trimmed with
# inner runs of spaces collapsed to one, repeated headers joined with ',' in the order
# received, sorted by name. ``canonical.canonical_headers`` implements exactly that.

# -- leniencies with evidence --------------------------------------------------------------

#: Services that accept a presigned URL whose session token was appended after signing
#: (E8: AWS IoT Core docs for MQTT over WebSocket; aws-c-auth's post-sts-header-after vector,
#: which signs with ``omit_session_token``).
TOKEN_OUTSIDE_SIGNATURE_SERVICES = frozenset({"iotdevicegateway"})


def token_outside_signature(service: str | None) -> bool:
    """Whether the service leaves X-Amz-Security-Token out of a presigned URL's signature."""
    return service in TOKEN_OUTSIDE_SIGNATURE_SERVICES


# -- what signers compute instead ----------------------------------------------------------

#: The characters JavaScript's ``encodeURIComponent`` leaves raw although AWS encodes them.
JS_RAW = frozenset(b"!'()*")


def _encode_js(data: bytes) -> str:
    return "".join(chr(b) if b in JS_RAW else c.uri_encode(bytes((b,))) for b in data)


def _query_pairs_as_sent(raw_query: str, exclude: Sequence[str]) -> str:
    """The pairs exactly as sent, sorted (botocore's pure-Python signer on a pre-built URL,
    moto, requests-auth-aws-sigv4, aws-requests-auth, curl 7.88)."""
    pairs = [(k, v or "") for k, v in c.split_query(raw_query) if k not in exclude]
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _query_js(raw_query: str, exclude: Sequence[str]) -> str:
    """Decoded and encoded again with ``encodeURIComponent``'s set."""
    pairs = []
    for k, v in c.split_query(raw_query):
        if k in exclude:
            continue
        pairs.append((_encode_js(c.percent_decode(k)), _encode_js(c.percent_decode(v or ""))))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def _query_other_plus(raw_query: str, exclude: Sequence[str]) -> str:
    return canonical_query(
        raw_query, exclude=exclude, plus="space" if QUERY_PLUS == "plus" else "plus"
    )


def _query_unsorted(raw_query: str, exclude: Sequence[str]) -> str:
    pairs = [
        (c.uri_encode(c.percent_decode(k)), c.uri_encode(c.percent_decode(v or "")))
        for k, v in c.split_query(raw_query)
        if k not in exclude
    ]
    return "&".join(f"{k}={v}" for k, v in pairs)


def _path_as_sent(path: str, s3: bool) -> str:
    return path or "/"


def _path_plus_literal(path: str, s3: bool) -> str:
    """S3's path with a raw '+' read as a plus (%2B) instead of a space (E3)."""
    return _s3_uri(path or "/", plus_is_space=False)


def _path_js(path: str, s3: bool) -> str:
    decoded = c.percent_decode(path or "/")
    return "/".join(_encode_js(seg) for seg in decoded.split(b"/"))


def _path_encoded_once(path: str, s3: bool) -> str:
    """Non-S3 signers that encode the path once (the S3 rule used for another service)."""
    return c.uri_encode(c.percent_decode(c.normalize_path(path or "/")), keep_slash=True)


def _path_not_normalised(path: str, s3: bool) -> str:
    return c.uri_encode(path or "/", keep_slash=True)


def _path_double_encoded(path: str, s3: bool) -> str:
    """The other services' rule used for S3 (the path as sent, encoded once more)."""
    return c.uri_encode(c.normalize_path(path or "/"), keep_slash=True)


@dataclass(frozen=True, slots=True)
class SignerForm:
    """A canonical form that some real signer computes and AWS does not."""

    name: str  # the record's ``matched_variant``
    part: Literal["path", "query"]
    description: str  # "signed the query exactly as sent"
    applies: Literal["s3", "other", "any"]
    build: Callable[..., str]


SIGNER_FORMS: tuple[SignerForm, ...] = (
    SignerForm(
        "query:as-sent",
        "query",
        "signed the query exactly as sent instead of decoding and encoding it again",
        "any",
        _query_pairs_as_sent,
    ),
    SignerForm(
        "query:plus-" + ("space" if QUERY_PLUS == "plus" else "literal"),
        "query",
        "read '+' in the query as " + ("a space" if QUERY_PLUS == "plus" else "a literal plus"),
        "any",
        _query_other_plus,
    ),
    SignerForm(
        "query:encodeURIComponent",
        "query",
        "encoded the query with JavaScript's encodeURIComponent, which leaves !'()* raw",
        "any",
        _query_js,
    ),
    SignerForm(
        "query:unsorted",
        "query",
        "left the query parameters in the order sent instead of sorting them",
        "any",
        _query_unsorted,
    ),
    SignerForm(
        "path:as-sent",
        "path",
        "signed the path exactly as sent instead of decoding and encoding it again",
        "s3",
        _path_as_sent,
    ),
    SignerForm(
        "path:plus-literal",
        "path",
        "read '+' in the S3 path as a literal plus (%2B); S3 reads a raw '+' as a space",
        "s3",
        _path_plus_literal,
    ),
    SignerForm(
        "path:encodeURIComponent",
        "path",
        "encoded the path with JavaScript's encodeURIComponent, which leaves !'()* raw",
        "any",
        _path_js,
    ),
    SignerForm(
        "path:double-encoded",
        "path",
        "encoded the S3 path twice (the rule of the other services)",
        "s3",
        _path_double_encoded,
    ),
    SignerForm(
        "path:encoded-once",
        "path",
        "encoded the path once (S3's rule); this service encodes the path as sent once more",
        "other",
        _path_encoded_once,
    ),
    SignerForm(
        "path:not-normalised",
        "path",
        "kept dot segments or empty segments that this service removes",
        "other",
        _path_not_normalised,
    ),
)


@dataclass(frozen=True, slots=True)
class ContestedReading:
    """A character AWS's services are documented or reported to read two ways. The model
    decides (``model``); when a signature matches only one reading, the verdict rests on
    it and the record says so (ENCODING_AMBIGUOUS)."""

    name: str
    part: Literal["path", "query"]
    character: str
    model: str  # how the model reads it
    other: str  # the other reading
    evidence: tuple[str, ...]
    applies: Literal["s3", "any"]
    present: Callable[[str], bool]  # in the raw path or query
    build: Callable[[str, Sequence[str]], str]  # the line under the other reading


def _query_plus_literal(raw_query: str, exclude: Sequence[str]) -> str:
    return canonical_query(raw_query, exclude=exclude, plus="plus")


CONTESTED: tuple[ContestedReading, ...] = (
    ContestedReading(
        "query-plus",
        "query",
        "+",
        "a space (%20)",
        "a literal plus (%2B)",
        ("zirkelc/aws-signature-v4#4", "mhart/aws4fetch#83", "curl/curl#20543"),
        "any",
        lambda raw: "+" in raw,
        _query_plus_literal,
    ),
    ContestedReading(
        "s3-path-plus",
        "path",
        "+",
        "a space (%20)",
        "a literal plus (%2B)",
        ("nginx/nginx-s3-gateway#77", "ex-aws/ex_aws#176", "durch/rust-s3#148"),
        "s3",
        lambda raw: "+" in raw,
        lambda path, _: _s3_uri(path or "/", plus_is_space=False),
    ),
    ContestedReading(
        "s3-path-slash",
        "path",
        "%2F",
        "a slash (/)",
        "an escaped slash (%2F)",
        ("no AWS echo either way (docs/aws-canonicalization.md, E9)",),
        "s3",
        lambda raw: "%2f" in raw.lower(),
        lambda path, _: _s3_uri(path or "/", plus_is_space=True, slash_escape_kept=True),
    ),
)


def contested_for(s3: bool, path: str, raw_query: str) -> tuple[ContestedReading, ...]:
    """The contested readings present in this request."""
    out = []
    for r in CONTESTED:
        if r.applies == "s3" and not s3:
            continue
        if r.present(path if r.part == "path" else raw_query):
            out.append(r)
    return tuple(out)


def forms_for(s3: bool) -> tuple[SignerForm, ...]:
    """The signer forms worth trying for a request to S3 (or another service)."""
    want = "s3" if s3 else "other"
    return tuple(f for f in SIGNER_FORMS if f.applies in ("any", want))


def build_form(
    form: SignerForm, path: str, raw_query: str, exclude: Sequence[str], s3: bool
) -> str:
    """The canonical URI or query line a signer form gives for this request."""
    if form.part == "path":
        return str(form.build(path, s3))
    return str(form.build(raw_query, exclude))


# -- naming the difference -----------------------------------------------------------------


def raw_characters(signed_line: str, aws_line: str) -> list[tuple[str, str]]:
    """The characters a signer left raw that AWS percent-encodes, as (char, escape) pairs in
    order of first appearance: what an URI_ENCODING / QUERY_ENCODING message names."""
    out: dict[str, str] = {}
    signed_chars = set(signed_line)
    for ch in signed_line:
        if ch in out or c.uri_encode(ch) == ch or ch in ("&", "=", "/", "%", "+"):
            continue
        esc = c.uri_encode(ch)
        if esc in aws_line:
            out[ch] = esc
    # a raw '+' is a space to AWS (E3, E6): %20 in its form
    if "+" in signed_chars and "+" not in out and "%20" in aws_line:
        out["+"] = "%20"
    return list(out.items())[:16]


def over_encoded(signed_line: str, aws_line: str) -> list[str]:
    """Escapes in the signer's line that AWS's line has decoded (``%2F`` for ``/``) or
    encoded once more (``%2520``): a signer that double-encoded."""
    out: list[str] = []
    i = 0
    while i < len(signed_line) and len(out) < 16:
        if signed_line[i] == "%" and i + 2 < len(signed_line):
            esc = signed_line[i : i + 3]
            if esc not in aws_line and esc not in out:
                out.append(esc)
            i += 3
        else:
            i += 1
    return out
