"""Temporary credentials learned from responses that pass through the proxy: STS
(``AssumeRole*``, ``GetSessionToken``, ``GetFederationToken``), EC2 IMDS, the ECS/EKS
container endpoints and IAM Identity Center (``GetRoleCredentials``). Pure parsing of
bodies already received: no I/O, no clock ("now" is passed in).

Secrets never leave a :class:`~sigv4_inspector.core.model.Credential`.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

from sigv4_inspector.core.dates import from_epoch, parse_iso8601
from sigv4_inspector.core.model import Credential

__all__ = ["LEARNED_PREFIX", "is_global_sts_host", "learn_from_response"]

LEARNED_PREFIX = "learned:"

# --------------------------------------------------------------------------------------
# Learning temporary credentials from responses
# --------------------------------------------------------------------------------------

_MAX_BODY = 1 << 20  # credential responses are a few KB
_MAX_TOKEN = 16384
_AKID_RE = re.compile(r"[A-Z0-9]{16,128}")
_IMDS_PATH_RE = re.compile(
    r"/latest/meta-data/(?:iam|identity-credentials/ec2)/security-credentials/[^/]+/?"
)
_CONTAINER_HOSTS = frozenset({"169.254.170.2", "169.254.170.23", "fd00:ec2::23"})
_GLOBAL_STS_HOSTS = frozenset({"sts.amazonaws.com", "sts.amazonaws.com.cn"})

# STS operation -> learned source suffix.
_STS_ACTIONS = {
    "AssumeRole": "sts-assume-role",
    "AssumeRoleWithWebIdentity": "sts-assume-role-with-web-identity",
    "AssumeRoleWithSAML": "sts-assume-role-with-saml",
    "GetSessionToken": "sts-get-session-token",
    "GetFederationToken": "sts-get-federation-token",
    "AssumeRoot": "sts-assume-root",
}


def _bare_host(host: str) -> str:
    """Lower-case host without port, IPv6 brackets or trailing dot."""
    h = host.strip().lower()
    if h.startswith("["):
        h = h[1:].split("]", 1)[0]
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


def is_global_sts_host(host: str) -> bool:
    """Whether ``host`` is STS's global endpoint (``sts.amazonaws.com``, which issues v1
    tokens unless the account opted into v2), as opposed to a regional, FIPS or dual-stack
    one (``sts.<region>.amazonaws.com``, ``sts-fips.<region>.amazonaws.com``,
    ``sts.<region>.api.aws``). Port and case are ignored."""
    return _bare_host(host) in _GLOBAL_STS_HOSTS


def _parse_expiry(value: object, millis: bool = False) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string or an epoch number (seconds, or
    milliseconds when ``millis`` or when the value is too large for seconds)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return _parse_expiry(float(text), millis)
        return parse_iso8601(text)
    if isinstance(value, int | float):
        return from_epoch(value / 1000 if millis or value > 1e11 else value)
    return None


def _make(
    fields: Mapping[str, Any],
    source: str,
    host: str,
    now: datetime,
    millis: bool = False,
    token_required: bool = True,
) -> Credential | None:
    """A learned credential from a mapping with case-insensitive AWS field names."""
    low = {str(k).lower(): v for k, v in fields.items()}
    akid = low.get("accesskeyid")
    secret = low.get("secretaccesskey", low.get("secretkey"))
    token = low.get("sessiontoken", low.get("token"))
    if not isinstance(akid, str) or not _AKID_RE.fullmatch(akid.strip()):
        return None
    if not isinstance(secret, str) or not secret.strip() or len(secret) > 1024:
        return None
    if token is not None and (not isinstance(token, str) or len(token) > _MAX_TOKEN):
        return None
    if token_required and not token:
        return None
    return Credential(
        access_key_id=akid.strip(),
        secret_access_key=secret.strip(),
        session_token=token.strip() if token else None,
        source=LEARNED_PREFIX + source,
        expiry=_parse_expiry(low.get("expiration"), millis),
        issued_by=host,
        issued_at=now,
    )


def _one(cred: Credential | None) -> list[Credential]:
    return [cred] if cred is not None else []


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _request_action(path: str, request_body: bytes | None) -> str | None:
    """The Query-protocol ``Action`` of the request (form body or query string)."""
    candidates = [path.partition("?")[2]]
    if request_body and len(request_body) <= _MAX_BODY:
        candidates.append(request_body.decode("utf-8", "replace"))
    for text in candidates:
        action = parse_qs(text).get("Action")
        if action:
            return action[0]
    return None


def _learn_xml(text: str, host: str, now: datetime) -> list[Credential]:
    lowered = text[:4096].lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        return []
    root = ElementTree.fromstring(text)
    name = _local(root.tag)
    if not name.endswith("Response"):
        return []
    suffix = _STS_ACTIONS.get(name[: -len("Response")])
    if suffix is None:
        return []
    for element in root.iter():
        if _local(element.tag) == "Credentials":
            fields = {_local(child.tag): (child.text or "") for child in element}
            return _one(_make(fields, suffix, host, now))
    return []


def _sts_json_source(data: Mapping[str, Any], action: str | None) -> str:
    if action in _STS_ACTIONS:
        return _STS_ACTIONS[action]
    if "FederatedUser" in data:
        return "sts-get-federation-token"
    if "AssumedRoleUser" in data:
        if "SubjectFromWebIdentityToken" in data or "Provider" in data:
            return "sts-assume-role-with-web-identity"
        if "SubjectType" in data or "NameQualifier" in data:
            return "sts-assume-role-with-saml"
        return "sts-assume-role"
    return "sts"


def _learn_json(
    data: Any, host: str, path: str, request_body: bytes | None, now: datetime
) -> list[Credential]:
    if not isinstance(data, dict):
        return []
    bare = _bare_host(host)

    # IAM Identity Center portal: GetRoleCredentials (/federation/credentials).
    role_creds = data.get("roleCredentials")
    if isinstance(role_creds, dict):
        return _one(_make(role_creds, "sso", host, now, millis=True))

    # STS Query API answered in JSON: {"AssumeRoleResponse": {"AssumeRoleResult": {...}}}.
    for key, value in data.items():
        if isinstance(key, str) and key.endswith("Response") and isinstance(value, dict):
            action = key[: -len("Response")]
            result = value.get(action + "Result")
            if action in _STS_ACTIONS and isinstance(result, dict):
                inner = result.get("Credentials")
                if isinstance(inner, dict):
                    return _one(_make(inner, _STS_ACTIONS[action], host, now))
            return []

    # {"Credentials": {...}}: STS over JSON, Cognito GetCredentialsForIdentity,
    # IoT credentials provider ({"credentials": {...}}).
    inner = data.get("Credentials", data.get("credentials"))
    if isinstance(inner, dict):
        if "IdentityId" in data or bare.startswith("cognito-identity."):
            source = "cognito"
        elif bare.startswith("credentials.iot.") or ".credentials.iot." in bare:
            source = "iot"
        else:
            source = _sts_json_source(data, _request_action(path, request_body))
        return _one(_make(inner, source, host, now))

    # EC2 instance metadata.
    if _IMDS_PATH_RE.fullmatch(path.partition("?")[0]):
        code = data.get("Code", "Success")
        if code != "Success":
            return []
        return _one(_make(data, "imds", host, now))

    # ECS / EKS Pod Identity container endpoints (or anything shaped like them).
    keys = set(data)
    if (
        bare in _CONTAINER_HOSTS
        or {
            "AccessKeyId",
            "SecretAccessKey",
            "Token",
            "Expiration",
        }
        <= keys
    ):
        return _one(_make(data, "container", host, now))
    return []


def _decoded_body(headers: Sequence[tuple[str, str]], body: bytes) -> bytes | None:
    """The body, gunzipped (bounded) when it is still gzip-encoded."""
    encoding = ",".join(v for k, v in headers if k.lower() == "content-encoding").lower()
    if body[:2] == b"\x1f\x8b" and ("gzip" in encoding or not encoding):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflater.decompress(body, _MAX_BODY + 1)
        return out if len(out) <= _MAX_BODY else None
    return body


def learn_from_response(
    host: str,
    path: str,
    request_body: bytes | None,
    status: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    now: datetime,
) -> list[Credential]:
    """Temporary credentials carried by a response, or ``[]``. Never raises.

    ``host`` is the host the request went to (recorded as ``issued_by``), ``path`` the
    request target (path and query), ``request_body`` the request's body (for the STS
    ``Action``), ``headers`` the response headers, ``body`` the (decoded) response body,
    ``now`` when it was received (recorded as ``issued_at``).

    Recognised: STS ``AssumeRole``, ``AssumeRoleWithWebIdentity``, ``AssumeRoleWithSAML``,
    ``GetSessionToken``, ``GetFederationToken``, ``AssumeRoot`` in XML or JSON
    (``learned:sts-...``); EC2 IMDS (``learned:imds``); ECS/EKS container credentials
    (``learned:container``); IAM Identity Center ``GetRoleCredentials``
    (``learned:sso``); Cognito ``GetCredentialsForIdentity`` (``learned:cognito``); the
    IoT credentials provider (``learned:iot``).
    """
    try:
        if not 200 <= status < 300 or not body or len(body) > _MAX_BODY:
            return []
        raw = _decoded_body(headers, body)
        if raw is None:
            return []
        # every credentials response names an access key id; skip everything else cheaply
        # (S3 listings, DynamoDB items ...) without parsing it
        if b"ccessKeyId" not in raw:
            return []
        text = raw.decode("utf-8-sig").strip()
        if text.startswith("<"):
            return _learn_xml(text, host, now)
        if text.startswith("{"):
            return _learn_json(json.loads(text), host, path, request_body, now)
        return []
    except Exception:
        return []
