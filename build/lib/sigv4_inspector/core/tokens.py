"""What a session token's format tells: which STS token version it is and, for v2 tokens,
the region that issued it.

Observed, not specified by AWS (knowledge.md section 1): treat the result as a strong hint.

- v2 tokens (issued by regional STS endpoints, or by the global endpoint when the account
  opted into ``v2Token``) start with ``IQoJb3JpZ2luX2Vj``: base64 of a protobuf message
  beginning ``origin_ec``; the issuing region is in clear text in a length-prefixed field.
- v1 tokens (global endpoint ``sts.amazonaws.com``) start with ``FQoGZXIvYXdz``,
  ``FwoGZXIvYXdz`` or ``FQoDYXdz``, carry no region and are much shorter.

:func:`describe_token` and :func:`redact_token` are the only forms in which a token may
ever be shown (report.md: first 8 characters, the length and the format).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal, TypedDict

TokenFormat = Literal["v2", "v1", "unknown"]

V2_PREFIX = "IQoJb3JpZ2luX2Vj"
V1_PREFIXES = ("FQoGZXIvYXdz", "FwoGZXIvYXdz", "FQoDYXdz")

# A region name: a 2-4 letter prefix, one or more words, a number
# (us-east-1, eu-central-1, ap-southeast-2, cn-north-1, us-gov-west-1, us-isob-east-1, eusc-de-east-1).
_REGION_RE = re.compile(rb"[a-z]{2,4}(?:-[a-z]+){1,3}-\d{1,2}")
# The same, bounded, for the fallback search when no length-prefixed field is found.
_REGION_FREE_RE = re.compile(rb"(?<![A-Za-z0-9-])([a-z]{2,4}(?:-[a-z]+){1,3}-\d{1,2})(?![0-9a-z-])")
_MAX_DECODE = 16384  # real tokens are a few KB at most
_PREFIX_LEN = 8


class TokenDescription(TypedDict):
    """The displayable facts about a session token (never the token itself)."""

    prefix: str
    length: int
    format: TokenFormat
    region: str | None


def token_format(token: str) -> TokenFormat:
    """``v2``, ``v1`` or ``unknown``, from the token's leading characters."""
    if token.startswith(V2_PREFIX):
        return "v2"
    if token.startswith(V1_PREFIXES):
        return "v1"
    return "unknown"


def _b64decode(token: str) -> bytes | None:
    text = token.strip()[:_MAX_DECODE]
    text = text[: len(text) - len(text) % 4] if len(text) % 4 == 1 else text
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, altchars=None, validate=False)
    except (binascii.Error, ValueError):
        return None


def token_region(token: str) -> str | None:
    """The issuing region carried in clear text inside a v2 token, or None.

    Looks first for a protobuf length-delimited string (a length byte followed by exactly
    that many bytes that form a region name), then for any bounded region-looking string.
    """
    raw = _b64decode(token)
    if not raw:
        return None
    for i, length in enumerate(raw):
        end = i + 1 + length
        if 6 <= length <= 32 and end <= len(raw) and _REGION_RE.fullmatch(raw, i + 1, end):
            return raw[i + 1 : end].decode("ascii")
    m = _REGION_FREE_RE.search(raw)
    return m.group(1).decode("ascii") if m else None


def _shown_prefix(token: str) -> str:
    # Never show more than half of a (bogus) short token.
    return token[: min(_PREFIX_LEN, len(token) // 2)]


def describe_token(token: str) -> TokenDescription:
    """``{"prefix", "length", "format", "region"}`` for a session token.

    ``prefix`` is the first 8 characters (fewer for a token shorter than 16 characters),
    ``region`` the issuing region of a v2 token when it can be read, else None.
    """
    fmt = token_format(token)
    return {
        "prefix": _shown_prefix(token),
        "length": len(token),
        "format": fmt,
        "region": token_region(token) if fmt == "v2" else None,
    }


def redact_token(token: str) -> str:
    """A display form such as ``IQoJb3Jp…(len 812, v2 token)``."""
    return f"{_shown_prefix(token)}…(len {len(token)}, {token_format(token)} token)"
