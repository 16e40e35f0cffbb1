"""Tests for the verifier's credential sources (sigv4_inspector.runtime.credentials) and the session
token description (sigv4_inspector.core.tokens).

Only AWS's documented example keys and made-up ones appear here. Config files live in a
temporary directory and the network is blocked while user credentials load.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigv4_inspector.core.learn import is_global_sts_host, learn_from_response
from sigv4_inspector.core.model import Credential
from sigv4_inspector.core.tokens import describe_token, redact_token, token_format, token_region
from sigv4_inspector.runtime.credentials import CredentialStore, load_user_credentials

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DEV_AKID = "AKIADEVEXAMPLE000001"
DEV_SECRET = "devSecretEXAMPLE/0000000000000000000000001"
OPS_AKID = "AKIAOPSEXAMPLE000002"
OPS_SECRET = "opsSecretEXAMPLE/0000000000000000000000002"
ENV_AKID = "AKIAENVEXAMPLE000003"
ENV_SECRET = "envSecretEXAMPLE/0000000000000000000000003"
TMP_AKID = "ASIAIOSFODNN7EXAMPLE"
TMP_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
ALL_SECRETS = (SECRET, DEV_SECRET, OPS_SECRET, ENV_SECRET, TMP_SECRET)


def v2_token(region: bytes = b"eu-west-1") -> str:
    """A made-up token in the v2 shape: base64 of a protobuf starting ``origin_ec`` with
    the region in a length-prefixed field, followed by random bytes."""
    raw = b"!\n\torigin_ec" + b"\x10\x1a" + bytes([len(region)]) + region + os.urandom(600)
    return base64.b64encode(raw).decode()


V1_TOKEN = "FwoGZXIvYXdzEXAMPLE" + "A" * 340
V2_TOKEN = v2_token()

# ------------------------------------------------------------------------------------
# Environment: temporary config files, no network
# ------------------------------------------------------------------------------------

AWS_ENV_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "BOTO_CONFIG",
)

CREDENTIALS_INI = f"""\
[default]
aws_access_key_id = {AKID}
aws_secret_access_key = {SECRET}

[dev]
aws_access_key_id = {DEV_AKID}
aws_secret_access_key = {DEV_SECRET}
"""

PROCESS_SCRIPT = f"""\
import json
print(json.dumps({{
    "Version": 1,
    "AccessKeyId": "ASIAPROCEXAMPLE00004",
    "SecretAccessKey": "procSecretEXAMPLE/000000000000000000000004",
    "SessionToken": {V1_TOKEN!r},
    "Expiration": "2030-01-01T00:00:00Z",
}}))
"""


def config_ini(tmp_path: Path) -> str:
    script = tmp_path / "cred_process.py"
    script.write_text(PROCESS_SCRIPT)
    return f"""\
[default]
region = us-east-1

[profile ops]
region = eu-west-1
aws_access_key_id = {OPS_AKID}
aws_secret_access_key = {OPS_SECRET}

[profile role]
role_arn = arn:aws:iam::123456789012:role/demo
source_profile = default
region = eu-west-1

[profile proc]
credential_process = "{sys.executable}" "{script}"

[profile regiononly]
region = eu-central-1
"""


@pytest.fixture
def network_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every attempt to resolve or connect; each attempt fails at once."""
    calls: list[str] = []

    def no_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"getaddrinfo {host}")
        raise socket.gaierror("network blocked by the test")

    def no_connect(self: socket.socket, address: Any) -> None:
        calls.append(f"connect {address}")
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "getaddrinfo", no_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    return calls


@pytest.fixture
def aws_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network_calls: list[str]
) -> Iterator[Path]:
    """Temp shared config/credentials files: profiles default, dev (credentials file), ops
    (config file), role (assume-role), proc (credential_process), regiononly."""
    for var in AWS_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "credentials").write_text(CREDENTIALS_INI)
    (tmp_path / "config").write_text(config_ini(tmp_path))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    yield tmp_path


def by_source(creds: list[Credential]) -> dict[str, Credential]:
    return {c.source: c for c in creds}


def assert_no_secret(texts: list[str]) -> None:
    for text in texts:
        for secret in (*ALL_SECRETS, V1_TOKEN, V2_TOKEN):
            assert secret not in text


# ------------------------------------------------------------------------------------
# load_user_credentials
# ------------------------------------------------------------------------------------


def test_static_profiles_and_chain(aws_env: Path, network_calls: list[str]) -> None:
    creds, warnings = load_user_credentials()
    sources = by_source(creds)
    # The chain finds the default profile first; the enumeration does not repeat it.
    assert creds[0].source == "profile:default"
    assert creds[0].access_key_id == AKID
    assert creds[0].secret_access_key == SECRET
    assert [c.access_key_id for c in creds].count(AKID) == 1
    assert sources["profile:dev"].access_key_id == DEV_AKID
    assert sources["profile:dev"].secret_access_key == DEV_SECRET
    assert sources["profile:ops"].access_key_id == OPS_AKID
    # Profiles that need the network or a process are skipped, with a warning each.
    assert "profile:role" not in sources
    assert "profile:proc" not in sources
    assert any("'role'" in w and "role_arn" in w for w in warnings)
    assert any("'proc'" in w and "credential_process" in w for w in warnings)
    # A profile without credentials is silently ignored.
    assert not any("regiononly" in w for w in warnings)
    assert network_calls == []
    assert_no_secret(warnings)


def test_env_credentials_are_labelled_env(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ENV_AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", V2_TOKEN)
    creds, warnings = load_user_credentials()
    assert creds[0].source == "env"
    assert creds[0].access_key_id == ENV_AKID
    assert creds[0].secret_access_key == ENV_SECRET
    assert creds[0].session_token == V2_TOKEN
    # The profiles are still loaded, env vars do not leak into them.
    assert by_source(creds)["profile:default"].access_key_id == AKID
    assert by_source(creds)["profile:dev"].access_key_id == DEV_AKID
    assert_no_secret(warnings)


def test_aws_profile_selects_chain_profile(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "dev")
    creds, _ = load_user_credentials(profiles=[])
    assert [(c.source, c.access_key_id) for c in creds] == [("profile:dev", DEV_AKID)]


def test_aws_profile_missing_is_a_warning(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nosuchprofile")
    creds, warnings = load_user_credentials()
    assert any("nosuchprofile" in w and "ProfileNotFound" in w for w in warnings)
    # The other profiles still load.
    assert {c.access_key_id for c in creds} >= {AKID, DEV_AKID, OPS_AKID}


def test_profiles_filter(aws_env: Path) -> None:
    creds, warnings = load_user_credentials(profiles=["dev", "missing"], include_chain=False)
    assert [(c.source, c.access_key_id) for c in creds] == [("profile:dev", DEV_AKID)]
    assert any("'missing'" in w and "not found" in w for w in warnings)


def test_explicit_process_profile_is_resolved(aws_env: Path) -> None:
    creds, warnings = load_user_credentials(profiles=["proc"], include_chain=False)
    assert len(creds) == 1, warnings
    cred = creds[0]
    assert cred.source == "profile:proc"
    assert cred.access_key_id == "ASIAPROCEXAMPLE00004"
    assert cred.session_token == V1_TOKEN
    assert cred.expiry == datetime(2030, 1, 1, tzinfo=UTC)


def test_explicit_assume_role_failure_is_a_warning(aws_env: Path, network_calls: list[str]) -> None:
    creds, warnings = load_user_credentials(profiles=["role", "dev"], include_chain=False)
    # The network is blocked: the role cannot resolve, the rest still loads.
    assert [c.source for c in creds] == ["profile:dev"]
    role_warnings = [w for w in warnings if "'role'" in w]
    assert len(role_warnings) == 1
    assert "Error" in role_warnings[0]  # names the exception class
    assert_no_secret(warnings)


def test_explicit_profile_without_credentials(aws_env: Path) -> None:
    creds, warnings = load_user_credentials(profiles=["regiononly"], include_chain=False)
    assert creds == []
    assert any("'regiononly'" in w for w in warnings)


def test_extra_files(aws_env: Path) -> None:
    extra = aws_env / "extra.ini"
    extra.write_text(
        "[ci]\n"
        "aws_access_key_id = AKIAEXTRAEXAMPLE0005\n"
        "aws_secret_access_key = extraSecretEXAMPLE/00000000000000000000005\n"
        f"aws_session_token = {V2_TOKEN}\n"
        "\n[half]\naws_access_key_id = AKIAHALFEXAMPLE00006\n"
        "\n[settings]\nregion = us-west-2\n"
    )
    missing = str(aws_env / "nope.ini")
    creds, warnings = load_user_credentials(
        profiles=[], extra_files=[str(extra), missing], include_chain=False
    )
    assert len(creds) == 1
    assert creds[0].source == f"file:{extra}"
    assert creds[0].access_key_id == "AKIAEXTRAEXAMPLE0005"
    assert creds[0].session_token == V2_TOKEN
    assert any("[half]" in w for w in warnings)
    assert any(missing in w and "not found" in w for w in warnings)
    assert_no_secret(warnings)


def test_same_key_different_secret_warns_and_store_keeps_first(aws_env: Path) -> None:
    extra = aws_env / "stale.ini"
    extra.write_text(
        f"[old]\naws_access_key_id = {AKID}\naws_secret_access_key = staleEXAMPLEsecret\n"
    )
    creds, warnings = load_user_credentials(profiles=[], extra_files=[str(extra)])
    assert [c.source for c in creds] == ["profile:default", f"file:{extra}"]
    assert any(AKID in w and "different secrets" in w for w in warnings)
    assert_no_secret(warnings)
    assert "staleEXAMPLEsecret" not in " ".join(warnings)
    store = CredentialStore(creds)
    found = store.lookup(AKID)
    assert found is not None and found.secret_access_key == SECRET


def test_missing_config_files_are_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network_calls: list[str]
) -> None:
    for var in AWS_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "missing" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "missing" / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    creds, warnings = load_user_credentials()
    assert creds == []
    assert any("no credentials" in w for w in warnings)
    assert network_calls == []


def test_unparseable_config_file_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network_calls: list[str]
) -> None:
    for var in AWS_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "config").write_text("this is [not an ini file\n= =\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "missing"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    creds, warnings = load_user_credentials()
    assert creds == []
    assert warnings


# ------------------------------------------------------------------------------------
# CredentialStore
# ------------------------------------------------------------------------------------


def learned(akid: str, secret: str = TMP_SECRET, source: str = "sts-assume-role") -> Credential:
    return Credential(akid, secret, V2_TOKEN, f"learned:{source}", issued_at=NOW)


def test_credential_repr_hides_secrets() -> None:
    cred = Credential(TMP_AKID, TMP_SECRET, V2_TOKEN, "learned:imds", expiry=NOW)
    text = repr(cred) + str(cred)
    assert TMP_AKID in text
    assert TMP_SECRET not in text
    assert V2_TOKEN not in text
    assert V2_TOKEN[:40] not in text


def test_store_long_term_first_wins() -> None:
    store = CredentialStore()
    assert store.add(Credential(AKID, SECRET, source="env"))
    assert not store.add(Credential(AKID, "otherEXAMPLE", source="profile:x"))
    found = store.lookup(AKID)
    assert found is not None and found.secret_access_key == SECRET and found.source == "env"
    assert store.lookup("AKIANOTKNOWNEXAMPLE0") is None
    assert len(store) == 1
    assert AKID in store


def test_store_learned_lru_bound_and_newest_wins() -> None:
    store = CredentialStore([Credential(AKID, SECRET, source="profile:default")], max_learned=3)
    ids = [f"ASIALEARNEDEXAMPLE{i:02d}" for i in range(5)]
    for i, akid in enumerate(ids[:3]):
        store.add(learned(akid, secret=f"s{i}"))
    assert store.lookup(ids[0]) is not None  # refreshes ids[0]
    store.add(learned(ids[3]))  # evicts ids[1], the least recently used
    store.add(learned(ids[4]))  # evicts ids[2]
    assert store.lookup(ids[1]) is None
    assert store.lookup(ids[2]) is None
    assert all(store.lookup(a) is not None for a in (ids[0], ids[3], ids[4]))
    assert len(store) == 4  # 1 long-term + 3 learned
    # Newest credentials for the same access key id replace older ones.
    store.add(learned(ids[0], secret="newer", source="imds"))
    found = store.lookup(ids[0])
    assert found is not None and found.secret_access_key == "newer"
    assert len(store) == 4
    assert [c.access_key_id for c in store.learned_credentials()] == [ids[3], ids[4], ids[0]]
    assert store.sources() == {
        "profile:default": 1,
        "learned:sts-assume-role": 2,
        "learned:imds": 1,
    }


def test_store_prefers_long_term_and_rejects_negative_size() -> None:
    store = CredentialStore(max_learned=0)
    store.add(learned(TMP_AKID))
    assert len(store) == 0
    store.add(Credential(TMP_AKID, "long-term", V1_TOKEN, "profile:tmp"))
    store.learn(learned(TMP_AKID))
    found = store.lookup(TMP_AKID)
    assert found is not None and found.source == "profile:tmp"
    with pytest.raises(ValueError):
        CredentialStore(max_learned=-1)


def test_store_is_thread_safe() -> None:
    store = CredentialStore(max_learned=50)

    def worker(n: int) -> None:
        for i in range(200):
            store.add(learned(f"ASIATHREAD{n:02d}EX{i:04d}"))
            store.add(Credential(f"AKIATHREAD{n:02d}EX{i % 10:04d}", "s", source="env"))
            store.lookup(f"ASIATHREAD{n:02d}EX{i // 2:04d}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store) == 50 + 8 * 10
    assert store.add_many([Credential("AKIAMANYEXAMPLE00001", "s"), learned(TMP_AKID)]) == 2


# ------------------------------------------------------------------------------------
# learn_from_response
# ------------------------------------------------------------------------------------

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

ASSUME_ROLE_XML = f"""<AssumeRoleResponse xmlns="{STS_NS}">
  <AssumeRoleResult>
  <SourceIdentity>Alice</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:TestAR</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{TMP_AKID}</AccessKeyId>
      <SecretAccessKey>{TMP_SECRET}</SecretAccessKey>
      <SessionToken>
       {V2_TOKEN}
      </SessionToken>
      <Expiration>2019-11-09T13:34:41Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
""".encode()

GET_SESSION_TOKEN_XML = f"""<GetSessionTokenResponse xmlns="{STS_NS}">
  <GetSessionTokenResult>
    <Credentials>
      <SessionToken>{V1_TOKEN}</SessionToken>
      <SecretAccessKey>{TMP_SECRET}</SecretAccessKey>
      <Expiration>2011-07-11T19:55:29.611Z</Expiration>
      <AccessKeyId>{TMP_AKID}</AccessKeyId>
    </Credentials>
  </GetSessionTokenResult>
  <ResponseMetadata>
    <RequestId>58c5dbae-abef-11e0-8cfe-09039844ac7d</RequestId>
  </ResponseMetadata>
</GetSessionTokenResponse>
""".encode()


def learn(
    body: bytes,
    host: str = "sts.eu-west-1.amazonaws.com",
    path: str = "/",
    request_body: bytes | None = None,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
) -> list[Credential]:
    return learn_from_response(host, path, request_body, status, headers, body, NOW)


def only(creds: list[Credential]) -> Credential:
    assert len(creds) == 1, creds
    return creds[0]


def test_learn_sts_assume_role_xml() -> None:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ASSUME_ROLE_XML
    cred = only(learn(body, request_body=b"Action=AssumeRole&Version=2011-06-15"))
    assert cred.access_key_id == TMP_AKID
    assert cred.secret_access_key == TMP_SECRET
    assert cred.session_token == V2_TOKEN
    assert cred.source == "learned:sts-assume-role"
    assert cred.expiry == datetime(2019, 11, 9, 13, 34, 41, tzinfo=UTC)
    assert cred.issued_by == "sts.eu-west-1.amazonaws.com"
    assert cred.issued_at == NOW


def test_learn_sts_get_session_token_xml() -> None:
    cred = only(learn(GET_SESSION_TOKEN_XML, host="sts.amazonaws.com"))
    assert cred.source == "learned:sts-get-session-token"
    assert cred.session_token == V1_TOKEN
    assert cred.issued_by == "sts.amazonaws.com"
    assert cred.expiry == datetime(2011, 7, 11, 19, 55, 29, 611000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("root", "source"),
    [
        ("AssumeRoleWithWebIdentity", "learned:sts-assume-role-with-web-identity"),
        ("AssumeRoleWithSAML", "learned:sts-assume-role-with-saml"),
        ("GetFederationToken", "learned:sts-get-federation-token"),
        ("AssumeRoot", "learned:sts-assume-root"),
    ],
)
def test_learn_other_sts_xml(root: str, source: str) -> None:
    body = ASSUME_ROLE_XML.replace(b"AssumeRole", root.encode())
    assert only(learn(body)).source == source


def test_learn_sts_xml_without_namespace() -> None:
    body = GET_SESSION_TOKEN_XML.replace(f' xmlns="{STS_NS}"'.encode(), b"")
    assert only(learn(body)).source == "learned:sts-get-session-token"


def sts_json_credentials(expiration: object) -> dict[str, object]:
    return {
        "AccessKeyId": TMP_AKID,
        "SecretAccessKey": TMP_SECRET,
        "SessionToken": V2_TOKEN,
        "Expiration": expiration,
    }


def test_learn_sts_json_plain() -> None:
    body = json.dumps(
        {
            "Credentials": sts_json_credentials(1741176000),
            "AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/demo/x"},
        }
    ).encode()
    cred = only(learn(body, headers=(("Content-Type", "application/x-amz-json-1.1"),)))
    assert cred.source == "learned:sts-assume-role"
    assert cred.expiry == datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
    # The Query Action in the request names the operation when the body does not.
    bare = json.dumps({"Credentials": sts_json_credentials("2025-03-05T12:00:00Z")}).encode()
    cred = only(learn(bare, request_body=b"Action=GetSessionToken&DurationSeconds=900"))
    assert cred.source == "learned:sts-get-session-token"
    assert cred.expiry == datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
    assert only(learn(bare)).source == "learned:sts"


def test_learn_sts_json_wrapped() -> None:
    body = json.dumps(
        {
            "AssumeRoleResponse": {
                "AssumeRoleResult": {
                    "Credentials": sts_json_credentials(1.741176e9),
                    "AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/d/x"},
                },
                "ResponseMetadata": {"RequestId": "c6104cbe-af31-11e0-8154-cbc7ccf896c7"},
            }
        }
    ).encode()
    cred = only(learn(body))
    assert cred.source == "learned:sts-assume-role"
    assert cred.expiry == datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


def test_learn_sts_json_gzip() -> None:
    body = gzip.compress(json.dumps({"Credentials": sts_json_credentials(1741176000)}).encode())
    assert only(learn(body, headers=(("Content-Encoding", "gzip"),))).access_key_id == TMP_AKID


IMDS_BODY = f"""{{
  "Code" : "Success",
  "LastUpdated" : "2012-04-26T16:39:16Z",
  "Type" : "AWS-HMAC",
  "AccessKeyId" : "{TMP_AKID}",
  "SecretAccessKey" : "{TMP_SECRET}",
  "Token" : "{V2_TOKEN}",
  "Expiration" : "2017-05-17T15:09:54Z"
}}""".encode()


def test_learn_imds() -> None:
    cred = only(
        learn(
            IMDS_BODY,
            host="169.254.169.254",
            path="/latest/meta-data/iam/security-credentials/s3access",
        )
    )
    assert cred.source == "learned:imds"
    assert cred.session_token == V2_TOKEN
    assert cred.expiry == datetime(2017, 5, 17, 15, 9, 54, tzinfo=UTC)
    assert cred.issued_by == "169.254.169.254"
    # The role listing is not credentials; a failed Code yields nothing.
    assert (
        learn(
            b"s3access", host="169.254.169.254", path="/latest/meta-data/iam/security-credentials/"
        )
        == []
    )
    failed = IMDS_BODY.replace(b'"Success"', b'"Failure"')
    assert (
        learn(failed, host="169.254.169.254", path="/latest/meta-data/iam/security-credentials/r")
        == []
    )


def test_learn_container() -> None:
    body = json.dumps(
        {
            "AccessKeyId": TMP_AKID,
            "Expiration": "2025-03-01T18:00:00Z",
            "RoleArn": "arn:aws:iam::123456789012:role/task",
            "SecretAccessKey": TMP_SECRET,
            "Token": V2_TOKEN,
        }
    ).encode()
    cred = only(learn(body, host="169.254.170.2", path="/v2/credentials/6f3c-EXAMPLE"))
    assert cred.source == "learned:container"
    assert cred.expiry == datetime(2025, 3, 1, 18, 0, tzinfo=UTC)
    eks = only(learn(body, host="169.254.170.23:80", path="/v1/credentials"))
    assert eks.source == "learned:container" and eks.issued_by == "169.254.170.23:80"
    # The same shape from any host (a custom AWS_CONTAINER_CREDENTIALS_FULL_URI).
    assert only(learn(body, host="localhost:8080", path="/creds")).source == "learned:container"


def test_learn_sso() -> None:
    body = json.dumps(
        {
            "roleCredentials": {
                "accessKeyId": TMP_AKID,
                "secretAccessKey": TMP_SECRET,
                "sessionToken": V2_TOKEN,
                "expiration": 1741176000000,
            }
        }
    ).encode()
    cred = only(
        learn(
            body,
            host="portal.sso.eu-west-1.amazonaws.com",
            path="/federation/credentials?account_id=123456789012&role_name=Admin",
        )
    )
    assert cred.source == "learned:sso"
    assert cred.expiry == datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


def test_learn_cognito() -> None:
    body = json.dumps(
        {
            "IdentityId": "eu-west-1:00000000-0000-0000-0000-EXAMPLE",
            "Credentials": {
                "AccessKeyId": TMP_AKID,
                "SecretKey": TMP_SECRET,
                "SessionToken": V2_TOKEN,
                "Expiration": 1741176000,
            },
        }
    ).encode()
    cred = only(learn(body, host="cognito-identity.eu-west-1.amazonaws.com"))
    assert cred.source == "learned:cognito"
    assert cred.secret_access_key == TMP_SECRET


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 200),
        (b"\xff\xfe\x00<AssumeRoleResponse>\x80\x81", 200),  # not UTF-8
        (ASSUME_ROLE_XML[: len(ASSUME_ROLE_XML) // 2], 200),  # truncated XML
        (IMDS_BODY[:-20], 200),  # truncated JSON
        (ASSUME_ROLE_XML, 403),  # not a success
        (b"<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>", 200),
        (b"[1, 2, 3]", 200),
        (b'{"Credentials": "nope"}', 200),
        (b'{"AccessKeyId": 5, "SecretAccessKey": [], "Token": {}, "Expiration": null}', 200),
        (b'{"Credentials": {"AccessKeyId": "not a key id!", "SecretAccessKey": "x"}}', 200),
        (b'{"Credentials": {"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": ""}}', 200),
        (b"[" * 100_000 + b"]" * 100_000, 200),  # deep nesting
        (b"{" + b'"a": 1,' * 200_000 + b'"b": 2}', 200),  # huge
        (ASSUME_ROLE_XML + b" " * (2 << 20), 200),  # over the size bound
        (b"\x1f\x8b\x08\x00garbage", 200),  # broken gzip
        (gzip.compress(b"{" + b" " * (3 << 20) + b"}"), 200),  # gzip bomb
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><AssumeRoleResponse>&b;'
            b"</AssumeRoleResponse>",
            200,
        ),
        (b"plain text", 200),
    ],
)
def test_learn_garbage_returns_nothing(body: bytes, status: int) -> None:
    assert learn(body, status=status, path="/latest/meta-data/iam/security-credentials/r") == []


@settings(max_examples=300, deadline=None)
@given(
    host=st.text(max_size=40),
    path=st.text(max_size=60),
    request_body=st.none() | st.binary(max_size=64),
    status=st.integers(min_value=-1, max_value=999),
    headers=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=20)), max_size=4),
    body=st.binary(max_size=512)
    | st.sampled_from([ASSUME_ROLE_XML, IMDS_BODY, GET_SESSION_TOKEN_XML]).map(
        lambda b: b[: len(b) // 3]
    ),
)
def test_learn_never_raises(
    host: str,
    path: str,
    request_body: bytes | None,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    result = learn_from_response(host, path, request_body, status, headers, body, NOW)
    assert isinstance(result, list)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("sts.amazonaws.com", True),
        ("STS.amazonaws.com:443", True),
        ("sts.amazonaws.com.", True),
        ("sts.amazonaws.com.cn", True),
        ("sts.us-east-1.amazonaws.com", False),
        ("sts-fips.us-east-1.amazonaws.com", False),
        ("sts.us-east-1.api.aws", False),
        ("sts.cn-north-1.amazonaws.com.cn", False),
        ("sts.us-gov-west-1.amazonaws.com", False),
        ("s3.amazonaws.com", False),
        ("", False),
    ],
)
def test_is_global_sts_host(host: str, expected: bool) -> None:
    assert is_global_sts_host(host) is expected


# ------------------------------------------------------------------------------------
# tokens
# ------------------------------------------------------------------------------------


def test_describe_v2_token() -> None:
    token = v2_token()
    desc = describe_token(token)
    assert desc == {
        "prefix": token[:8],
        "length": len(token),
        "format": "v2",
        "region": "eu-west-1",
    }
    assert token.startswith("IQoJb3JpZ2luX2Vj")


@pytest.mark.parametrize(
    "region", [b"us-east-1", b"ap-southeast-2", b"cn-north-1", b"us-gov-west-1", b"eu-central-1"]
)
def test_v2_token_regions(region: bytes) -> None:
    for _ in range(20):  # the trailing bytes are random: the result must not depend on them
        assert token_region(v2_token(region)) == region.decode()


@pytest.mark.parametrize("prefix", ["FQoGZXIvYXdz", "FwoGZXIvYXdz", "FQoDYXdz"])
def test_describe_v1_token(prefix: str) -> None:
    token = prefix + "EXAMPLE" * 50
    assert describe_token(token) == {
        "prefix": token[:8],
        "length": len(token),
        "format": "v1",
        "region": None,
    }


def test_describe_unknown_and_odd_tokens() -> None:
    assert describe_token("AQoDYXdzEPT//////////wEXAMPLE")["format"] == "unknown"
    assert describe_token("AQoDYXdzEPT//////////wEXAMPLE")["region"] is None
    assert describe_token("")["prefix"] == ""
    short = describe_token("abcd")
    assert short["prefix"] == "ab" and short["length"] == 4
    # A v2 prefix on garbage: no region, no exception.
    assert describe_token("IQoJb3JpZ2luX2Vj!!!***")["region"] is None
    assert token_format("IQoJb3JpZ2luX2Vj") == "v2"


def test_redact_token() -> None:
    token = v2_token()
    text = redact_token(token)
    assert text == f"{token[:8]}…(len {len(token)}, v2 token)"
    assert text.startswith("IQoJb3Jp…(len ")
    assert redact_token(V1_TOKEN) == f"FwoGZXIv…(len {len(V1_TOKEN)}, v1 token)"
    assert token[8:16] not in text


def _run_py(code: str, env: dict[str, str]) -> list[str]:
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout.splitlines()


def test_botocore_is_imported_without_awscrt_and_awscrt_only_for_crcs_that_need_it(
    tmp_path: Any,
) -> None:
    """botocore would load awscrt (0.5 G instructions seeding aws-lc) to sign with it; only
    its credential chain is used here, so awscrt stays unloaded until a CRC32C or CRC64NVME
    needs it. A profile that signs in with ``aws login`` needs awscrt: then it loads."""
    code = """
import sys
from sigv4_inspector.runtime.credentials import import_botocore
import_botocore()
import botocore.compat
print("has_crt", botocore.compat.HAS_CRT, "awscrt" in sys.modules)
from sigv4_inspector.core.checksums import compute
print("crc32", compute("crc32", b"abc"), "awscrt" in sys.modules)
print("crc32c", compute("crc32c", b"abc"), "awscrt" in sys.modules)
"""
    config = tmp_path / "config"
    config.write_text("")
    out = _run_py(code, {"AWS_CONFIG_FILE": str(config)})
    assert out == [
        "has_crt False False",
        "crc32 NSRBwg== False",
        "crc32c Nks/tw== True",  # CRC32C of "abc", awscrt loaded for it
    ]
    config.write_text("[profile dev]\nlogin_session = arn:aws:iam::0:user/x\n")
    assert _run_py(code, {"AWS_CONFIG_FILE": str(config)})[0] == "has_crt True True"
