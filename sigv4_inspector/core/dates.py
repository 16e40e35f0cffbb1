"""Every date and time the core reads, parsed in one place: the request's ``x-amz-date``
(or HTTP ``Date``), the times of AWS error bodies, an S3 POST policy's ``expiration`` and
the expiry of learned credentials. Each parser returns an aware datetime or None; none of
them reads a clock ("now" is always an input).

- :func:`parse_amz_date`: ``20250901T162148Z`` (ISO 8601 basic, SigV4's ``x-amz-date``) or
  an RFC 1123 HTTP date (SigV2, and a response's ``Date``), the offset as written. Every
  flow reads its date several times: the basic form is taken apart by hand (no
  ``strptime``) and the results are cached.
- :func:`parse_error_time`: what AWS error bodies carry (S3 ``ServerTime``,
  ``RequestTime``, ``Expires``; the times inside "Signature expired: ..." messages): the
  basic form, ISO 8601 extended (``2025-09-03T16:21:50Z``, fractions and offsets allowed)
  or RFC 1123, always converted to UTC; bounded (at most 64 characters). Error answers
  are rare, so it uses ``strptime`` (ASCII digits only in the basic form).
- :func:`parse_iso8601`, :func:`from_epoch`: credential expiries as STS, IMDS, the
  container endpoints and IAM Identity Center write them (ISO 8601 text, epoch numbers).
- :func:`parse_policy_expiration`: an S3 POST policy's ``expiration`` as S3 reads it: ISO
  8601 with ``Z`` required, an optional fraction; an offset or a space instead of ``T`` is
  refused (the evidence is in :mod:`sigv4_inspector.core.postpolicy`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache

__all__ = [
    "from_epoch",
    "parse_amz_date",
    "parse_error_time",
    "parse_iso8601",
    "parse_policy_expiration",
]


def _is_basic(v: str) -> bool:
    """Whether ``v`` has the shape of ``YYYYMMDDTHHMMSSZ`` (ISO 8601 basic, UTC)."""
    return len(v) == 16 and v[8] == "T" and v[15] == "Z" and v[:8].isdigit() and v[9:15].isdigit()


def _basic(v: str) -> datetime | None:
    """``YYYYMMDDTHHMMSSZ`` (shape already checked) as an aware UTC datetime; None for an
    impossible date (``20250230T...``, hour 24)."""
    try:
        return datetime(
            int(v[:4]),
            int(v[4:6]),
            int(v[6:8]),
            int(v[9:11]),
            int(v[11:13]),
            int(v[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def parse_amz_date(value: str | None) -> datetime | None:
    """An x-amz-date (ISO basic) or HTTP date as an aware datetime (an HTTP date keeps its
    offset; one without is taken as UTC); None if neither."""
    if not value:
        return None
    return _parse_amz_date(value)


@lru_cache(maxsize=1024)  # each flow reads its date several times; datetimes are immutable
def _parse_amz_date(value: str) -> datetime | None:
    v = value.strip()
    if _is_basic(v):
        return _basic(v)
    try:
        d = parsedate_to_datetime(value)
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        return None


def parse_iso8601(text: str) -> datetime | None:
    """ISO 8601 text (any form ``datetime.fromisoformat`` reads) as an aware UTC datetime;
    without an offset it is taken as UTC. None when it is not ISO 8601."""
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        return None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def from_epoch(seconds: float) -> datetime | None:
    """Seconds since the epoch as an aware UTC datetime; None when out of range."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


_AMZ_BASIC = re.compile(r"^(\d{8}T\d{6})Z$")


def parse_error_time(value: str | None) -> datetime | None:
    """Parse the time formats AWS error bodies use: ``20250901T162148Z``,
    ``2025-09-03T16:21:50Z`` (fractions and offsets allowed) and RFC 1123 dates.
    Returns an aware UTC datetime, or None. Not on every flow's path (only error answers
    are read), so the basic form goes through ``strptime`` here, which reads only ASCII
    digits where :func:`parse_amz_date` also takes other decimal digits."""
    if not value:
        return None
    v = value.strip()
    if not v or len(v) > 64:
        return None
    try:
        m = _AMZ_BASIC.match(v)
        if m:
            return datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        if v[:4].isdigit() and "-" in v[:8]:
            return parse_iso8601(v)
        d = parsedate_to_datetime(v)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    try:
        return d.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


_EXPIRATION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$")


def parse_policy_expiration(value: str) -> datetime | None:
    """An ISO 8601 UTC instant as S3 reads a POST policy's ``expiration`` (``Z`` required,
    optional fraction); ``None`` when S3 would refuse it."""
    m = _EXPIRATION.match(value)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
    except ValueError:
        return None
