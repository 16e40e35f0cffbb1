"""Credential sources for the verifier: the user's own credentials (botocore's provider
chain, the profiles of the shared config and credentials files, extra credentials files),
temporary credentials learned from responses that pass through the proxy (STS, EC2 IMDS,
ECS/EKS container endpoints, IAM Identity Center), and a thread-safe store that serves them
to the verifier as a :class:`~sigv4core.model.Keyring`.

Secrets never leave a :class:`~sigv4core.model.Credential`: warnings name profiles, files and
exception classes only, and this module never prints or logs.

:func:`load_user_credentials` is the one part of the core that reads files (through
botocore, which knows every format and provider); everything else here is pure.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

from sigv4core.model import Credential

__all__ = [
    "CredentialStore",
    "is_global_sts_host",
    "learn_from_response",
    "load_user_credentials",
]

LEARNED_PREFIX = "learned:"

# Profile keys whose resolution needs the network (STS, IAM Identity Center) or runs a
# process; such profiles are resolved only on request.
_NETWORK_KEYS = (
    "role_arn",
    "credential_process",
    "web_identity_token_file",
    "login_session",
)
_NETWORK_KEY_PREFIXES = ("sso_",)

# botocore provider methods that read a named profile.
_PROFILE_METHODS = frozenset(
    {
        "shared-credentials-file",
        "config-file",
        "assume-role",
        "sso",
        "custom-process",
        "login",
    }
)


# --------------------------------------------------------------------------------------
# The user's own credentials
# --------------------------------------------------------------------------------------


def _needs_resolution(profile_config: Mapping[str, Any]) -> str | None:
    """The first key that makes a profile need the network or a process, else None."""
    for key in profile_config:
        if key in _NETWORK_KEYS or key.startswith(_NETWORK_KEY_PREFIXES):
            return str(key)
    return None


def _chain_source(method: str | None, profile_name: str, known_profiles: Mapping[str, Any]) -> str:
    if method == "env":
        return "env"
    if method in _PROFILE_METHODS and profile_name in known_profiles:
        return f"profile:{profile_name}"
    return f"chain:{method or 'unknown'}"


def _from_botocore(creds: Any, source: str) -> Credential | None:
    """A :class:`Credential` from botocore credentials (frozen once, so the three values
    belong together), or None when botocore found nothing."""
    if creds is None:
        return None
    frozen = creds.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        return None
    expiry = getattr(creds, "_expiry_time", None)
    return Credential(
        access_key_id=str(frozen.access_key),
        secret_access_key=str(frozen.secret_key),
        session_token=str(frozen.token) if frozen.token else None,
        source=source,
        expiry=expiry if isinstance(expiry, datetime) else None,
    )


def _profile_credentials(name: str) -> Credential | None:
    import botocore.session  # imported when credentials are loaded: it takes ~0.3 s

    session = botocore.session.Session(profile=name)
    return _from_botocore(session.get_credentials(), f"profile:{name}")


def _file_credentials(path: str, warnings: list[str]) -> list[Credential]:
    import botocore.configloader
    import botocore.exceptions

    try:
        sections = botocore.configloader.raw_config_parse(path)
    except botocore.exceptions.ConfigNotFound:
        warnings.append(f"credentials file {path}: not found")
        return []
    except Exception as exc:
        warnings.append(f"credentials file {path}: cannot be read ({type(exc).__name__})")
        return []
    found: list[Credential] = []
    for section, values in sections.items():
        if not isinstance(values, dict):
            continue
        akid = values.get("aws_access_key_id")
        secret = values.get("aws_secret_access_key")
        if not akid and not secret:
            continue
        if not isinstance(akid, str) or not isinstance(secret, str) or not akid or not secret:
            warnings.append(
                f"credentials file {path}: section [{section}] has only part of a key pair"
            )
            continue
        token = values.get("aws_session_token") or values.get("aws_security_token")
        found.append(
            Credential(
                access_key_id=akid,
                secret_access_key=secret,
                session_token=token if isinstance(token, str) and token else None,
                source=f"file:{path}",
            )
        )
    if not found:
        warnings.append(f"credentials file {path}: no credentials found")
    return found


def load_user_credentials(
    profiles: Sequence[str] | None = None,
    extra_files: Sequence[str] = (),
    include_chain: bool = True,
) -> tuple[list[Credential], list[str]]:
    """The user's own credentials and human-readable warnings (which never hold secrets).

    In order:

    - ``include_chain``: botocore's default provider chain for the default profile (or
      ``AWS_PROFILE``): environment, shared files, SSO, assume-role, credential process,
      container, IMDS. Labelled ``env``, ``profile:NAME`` or ``chain:<method>``.
    - every profile of the shared config and credentials files (only those named in
      ``profiles`` when given), labelled ``profile:NAME``. Profiles that need the network
      or a process (``role_arn``, ``sso_*``, ``credential_process``,
      ``web_identity_token_file``, ``login_session``) are resolved only when named in
      ``profiles`` (or, through the chain, when they are the default profile); otherwise
      they are skipped with a warning. A profile that fails to resolve adds a warning
      naming it and the exception class.
    - each of ``extra_files``, in the shared-credentials INI format, labelled
      ``file:PATH``.

    Exact duplicates are dropped (the first label wins); an access key id seen with two
    different secrets is kept twice (a :class:`CredentialStore` keeps the first) and warned
    about.
    """
    creds: list[Credential] = []
    warnings: list[str] = []
    secrets_by_id: dict[str, tuple[str, str | None]] = {}
    sources_by_id: dict[str, str] = {}

    def keep(cred: Credential) -> None:
        pair = (cred.secret_access_key, cred.session_token)
        seen = secrets_by_id.get(cred.access_key_id)
        if seen == pair:
            return
        if seen is not None:
            warnings.append(
                f"access key {cred.access_key_id} has different secrets in "
                f"{sources_by_id[cred.access_key_id]} and {cred.source}; "
                f"the first is used"
            )
        else:
            secrets_by_id[cred.access_key_id] = pair
            sources_by_id[cred.access_key_id] = cred.source
        creds.append(cred)

    import botocore.session

    session: Any = None
    profile_map: dict[str, Any] = {}
    default_name = "default"
    try:
        session = botocore.session.Session()
        default_name = session.get_config_variable("profile") or "default"
        full = session.full_config
        profile_map = dict(full.get("profiles", {}))
    except Exception as exc:
        warnings.append(f"cannot read the AWS config files ({type(exc).__name__})")

    if include_chain and session is not None:
        try:
            found = session.get_credentials()
            method = getattr(found, "method", None) if found is not None else None
            cred = _from_botocore(found, _chain_source(method, default_name, profile_map))
        except Exception as exc:
            warnings.append(
                f"default credential chain (profile {default_name!r}): {type(exc).__name__}"
            )
        else:
            if cred is None:
                warnings.append("the default credential chain found no credentials")
            else:
                keep(cred)

    explicit = profiles is not None
    names = list(profiles) if profiles is not None else list(profile_map)
    for name in names:
        config = profile_map.get(name)
        if not isinstance(config, Mapping):
            if explicit:
                warnings.append(f"profile {name!r}: not found in the AWS config files")
            continue
        reason = _needs_resolution(config)
        if reason is not None and not explicit:
            if not (include_chain and name == default_name):
                warnings.append(
                    f"profile {name!r} skipped: it uses {reason} (network or a process); "
                    f"list it explicitly to resolve it"
                )
            continue
        if reason is None and "aws_access_key_id" not in config:
            if explicit:
                warnings.append(f"profile {name!r}: no credentials in it")
            continue
        try:
            cred = _profile_credentials(name)
        except Exception as exc:
            warnings.append(f"profile {name!r}: {type(exc).__name__}")
            continue
        if cred is None:
            warnings.append(f"profile {name!r}: no credentials resolved")
        else:
            keep(cred)

    for path in extra_files:
        for cred in _file_credentials(path, warnings):
            keep(cred)

    return creds, warnings


# --------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------


def load_with_messages(
    profiles: Sequence[str] | None, files: Sequence[str]
) -> tuple[list[Credential], list[tuple[str, str]]]:
    """The user's credentials (:func:`load_user_credentials`) and what to tell the user
    about them, as ``(level, text)`` with level ``"warning"`` or ``"info"``. Never raises."""
    try:
        found, warnings = load_user_credentials(
            profiles=list(profiles) if profiles else None, extra_files=list(files)
        )
    except Exception as exc:  # never fail the proxy over credentials
        found, warnings = [], [f"could not load credentials: {type(exc).__name__}"]
    msgs = [("warning", f"sigv4: {w}") for w in warnings]
    srcs = sorted({c.source for c in found})
    msgs.append(
        (
            "info",
            f"sigv4: {len(found)} access key(s) known from "
            + (", ".join(srcs) or "nowhere (set AWS_PROFILE or sigv4_credentials)"),
        )
    )
    return found, msgs


class CredentialStore:
    """A thread-safe :class:`~sigv4core.model.Keyring`.

    Long-term credentials (the user's own, any source not starting with ``learned:``) are
    kept first-wins per access key id. Learned temporary credentials live in a bounded LRU
    (``max_learned``, default 1000): the newest credentials for an access key id replace
    older ones, and the least recently used are dropped when it is full. A lookup prefers
    long-term credentials.
    """

    def __init__(self, creds: Iterable[Credential] = (), max_learned: int = 1000) -> None:
        if max_learned < 0:
            raise ValueError("max_learned must be >= 0")
        self._lock = threading.Lock()
        self._long_term: dict[str, Credential] = {}
        self._learned: OrderedDict[str, Credential] = OrderedDict()
        self._max_learned = max_learned
        self.add_many(creds)

    @staticmethod
    def is_learned(cred: Credential) -> bool:
        return cred.source.startswith(LEARNED_PREFIX)

    def add(self, cred: Credential) -> bool:
        """Store one credential; learned ones go to the LRU. Returns whether it was kept
        (False for a long-term access key id already known)."""
        if self.is_learned(cred):
            self.learn(cred)
            return True
        with self._lock:
            if cred.access_key_id in self._long_term:
                return False
            self._long_term[cred.access_key_id] = cred
            return True

    def add_many(self, creds: Iterable[Credential]) -> int:
        """Store several credentials; returns how many were kept."""
        return sum(1 for c in creds if self.add(c))

    def learn(self, cred: Credential) -> None:
        """Remember temporary credentials (newest wins), evicting the least recently used."""
        if self._max_learned == 0:
            return
        with self._lock:
            self._learned[cred.access_key_id] = cred
            self._learned.move_to_end(cred.access_key_id)
            while len(self._learned) > self._max_learned:
                self._learned.popitem(last=False)

    def all_credentials(self) -> list[Credential]:
        """Every credential held (long-term first); used to scrub secrets from bundles."""
        with self._lock:
            return [*self._long_term.values(), *self._learned.values()]

    def learned_credentials(self) -> list[Credential]:
        """The learned temporary credentials, oldest first (to carry them over a reload)."""
        with self._lock:
            return list(self._learned.values())

    def lookup(self, access_key_id: str) -> Credential | None:
        with self._lock:
            cred = self._long_term.get(access_key_id)
            if cred is not None:
                return cred
            cred = self._learned.get(access_key_id)
            if cred is not None:
                self._learned.move_to_end(access_key_id)
            return cred

    def __contains__(self, access_key_id: object) -> bool:
        with self._lock:
            return access_key_id in self._long_term or access_key_id in self._learned

    def __len__(self) -> int:
        with self._lock:
            return len(self._long_term) + len(self._learned)

    def sources(self) -> dict[str, int]:
        """How many credentials each source contributed (long-term first), e.g.
        ``{"env": 1, "profile:dev": 1, "learned:sts-assume-role": 3}``."""
        with self._lock:
            counts: dict[str, int] = {}
            for cred in [*self._long_term.values(), *self._learned.values()]:
                counts[cred.source] = counts.get(cred.source, 0) + 1
            return counts


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
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    if isinstance(value, int | float):
        seconds = value / 1000 if millis or value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
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
