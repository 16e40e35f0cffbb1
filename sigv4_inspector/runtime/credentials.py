"""The user's own credentials, through botocore (its provider chain, the profiles of the
shared config and credentials files, extra credentials files), and a thread-safe store that
serves them, with the temporary credentials learned from responses
(:mod:`sigv4_inspector.core.learn`), to the verifier as a
:class:`~sigv4_inspector.core.model.Keyring`.

Secrets never leave a :class:`~sigv4_inspector.core.model.Credential`: warnings name
profiles, files and exception classes only, and this module never prints or logs.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sigv4_inspector.core.learn import LEARNED_PREFIX
from sigv4_inspector.core.model import Credential

__all__ = [
    "CredentialLoader",
    "CredentialStore",
    "import_botocore",
    "load_user_credentials",
]


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
    """A thread-safe :class:`~sigv4_inspector.core.model.Keyring`.

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
        self.version = 0  # raised on every change (the scrubber rebuilds its index then)
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
            self.version += 1
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
            self.version += 1
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
# Loading off the event loop
# --------------------------------------------------------------------------------------

DEFAULT_TIMEOUT_S = 10.0


def _uses_aws_login() -> bool:
    """Whether the AWS config file has a profile that signs in with ``aws login``
    (``login_session``): botocore's provider for it needs awscrt's EC keys. A plain text
    search: a false alarm only costs the time saved below."""
    path = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    try:
        return "login_session" in Path(path).expanduser().read_text(errors="replace")[: 1 << 20]
    except OSError:
        return False


def import_botocore() -> None:
    """Import botocore with awscrt hidden from it, unless a profile uses ``aws login``.
    botocore loads awscrt whenever it is installed, to sign with it; only its credential
    chain is used here, and loading awscrt seeds aws-lc's entropy pool (0.5 G
    instructions). The checksums still import awscrt on the first CRC32C or CRC64NVME.
    Call it on the main thread before traffic (mitmproxy's ``configure`` at start-up):
    hiding a module is process-wide. Raises ImportError when botocore is missing."""
    if "botocore.session" in sys.modules:
        return
    if "awscrt" in sys.modules or _uses_aws_login():
        import botocore.session  # noqa: F401

        return
    sys.modules["awscrt"] = None  # type: ignore[assignment]  # "import awscrt" now fails
    try:
        import botocore.session  # noqa: F401
    finally:
        if "awscrt" in sys.modules and sys.modules["awscrt"] is None:
            del sys.modules["awscrt"]


@dataclass
class LoadResult:
    """What one load of the user's credentials found, and what to tell the user."""

    credentials: list[Credential] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)  # (level, text)


class CredentialLoader:
    """Loads the user's credentials on a thread of its own, so a slow or hung source
    (``credential_process``, SSO, assume-role) never holds up mitmproxy's event loop.

    :meth:`start` returns at once; ``on_done(result)`` is called on the loading thread when
    it finishes (the caller hands it to its event loop). The caller enforces the timeout
    (:attr:`timeout`): a load still running then is left to finish in the background, and
    its credentials are still added when it does. The thread is a daemon, so it never holds
    up the proxy's exit.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._generation = 0
        self._lock = threading.Lock()
        self.loading = False
        self.finished = threading.Event()  # the current load is done ...
        self.result: LoadResult | None = None  # ... with this

    def start(
        self,
        profiles: Sequence[str] | None,
        files: Sequence[str],
        on_done: Callable[[LoadResult], None],
        load: Callable[[Sequence[str] | None, Sequence[str]], LoadResult] | None = None,
    ) -> int:
        """Start loading; returns the load's generation (a newer start supersedes it)."""
        with self._lock:
            self._generation += 1
            gen = self._generation
            self.loading = True
            self.finished.clear()
            self.result = None
        loader = load or _load

        def run() -> None:
            result = loader(profiles, files)
            with self._lock:
                current = gen == self._generation
                if current:
                    self.loading = False
                    self.result = result
                    self.finished.set()
            if current:
                on_done(result)

        threading.Thread(target=run, name="sigv4-credentials", daemon=True).start()
        return gen


def _load(profiles: Sequence[str] | None, files: Sequence[str]) -> LoadResult:
    found, msgs = load_with_messages(profiles, files)
    return LoadResult(found, msgs)
