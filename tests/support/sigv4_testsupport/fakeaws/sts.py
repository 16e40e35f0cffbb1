"""STS (AWS query protocol): AssumeRole, GetSessionToken, GetCallerIdentity, issuing
temporary credentials that later requests may be signed with: v1-format session tokens from
the global host ``sts.localhost``, v2-format ones from ``sts.<region>.localhost``."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import string
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from . import sigv4
from .auth import authenticate
from .errors import StsErrors
from .model import (
    ACCOUNT_ID,
    DEFAULT_REGION,
    ReceivedRequest,
    Response,
    Route,
    TempCredential,
    iso8601,
    rand_string,
    xml_escape,
)

if TYPE_CHECKING:
    from .server import FakeAWS


def make_session_token(version: int, region: str) -> str:
    """A session token in the observed v1 (global STS) or v2 (regional STS) format."""
    if version == 1:
        raw = b"\x15\n\x06er/aws" + secrets.token_bytes(261)  # ~360 base64 chars
    else:
        reg = region.encode()
        raw = (
            b"!\n\torigin_ec"
            + b"\x10\x1a"
            + bytes([len(reg)])
            + reg
            + b'"G0E\x02!'
            + secrets.token_bytes(560 - len(reg))
        )
    return base64.b64encode(raw).decode()


def handle(state: FakeAWS, req: ReceivedRequest, route: Route, host: str) -> Response:
    """Serve one STS request (AWS query protocol)."""
    err = StsErrors(state, req)
    sig = authenticate(state, req, route, host, err)
    params = sigv4.query_dict(req.query)
    if req.method == "POST":
        params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    action = params.get("Action", "")
    with state.lock:
        temp = state.temp_credentials.get(sig.access_key)
    if action == "GetCallerIdentity":
        if temp is not None:
            arn, user_id = temp.arn, temp.user_id
        else:
            arn = f"arn:aws:iam::{ACCOUNT_ID}:user/fakeaws"
            user_id = "AIDA" + hashlib.sha256(sig.access_key.encode()).hexdigest()[:17].upper()
        return err.ok(
            action,
            f"    <Arn>{xml_escape(arn)}</Arn>\n    <UserId>{user_id}</UserId>\n"
            f"    <Account>{ACCOUNT_ID}</Account>\n",
        )
    if action not in ("AssumeRole", "GetSessionToken"):
        return err.error(
            400,
            "InvalidAction",
            f"Could not find operation {action} for version {params.get('Version', '')}",
        )
    try:
        duration = int(params.get("DurationSeconds", "3600"))
    except ValueError:
        duration = 3600
    if action == "AssumeRole":
        role_arn = params.get("RoleArn", "")
        session = params.get("RoleSessionName", "")
        if not role_arn or not session:
            missing = "roleArn" if not role_arn else "roleSessionName"
            return err.error(
                400,
                "ValidationError",
                f"1 validation error detected: Value null at '{missing}' failed to satisfy "
                "constraint: Member must not be null",
            )
        role_name = role_arn.rsplit("/", 1)[-1]
        role_id = "AROA" + hashlib.sha256(role_arn.encode()).hexdigest()[:17].upper()
        arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_name}/{session}"
        user_id = f"{role_id}:{session}"
    else:
        arn = f"arn:aws:iam::{ACCOUNT_ID}:user/fakeaws"
        user_id = "AIDA" + hashlib.sha256(sig.access_key.encode()).hexdigest()[:17].upper()
    cred = issue_credentials(state, duration, route, host, arn, user_id)
    creds_xml = (
        "    <Credentials>\n"
        f"      <AccessKeyId>{cred.access_key}</AccessKeyId>\n"
        f"      <SecretAccessKey>{cred.secret_key}</SecretAccessKey>\n"
        f"      <SessionToken>{cred.token}</SessionToken>\n"
        f"      <Expiration>{iso8601(cred.expiration)}</Expiration>\n"
        "    </Credentials>\n"
    )
    if action == "AssumeRole":
        inner = (
            "    <AssumedRoleUser>\n"
            f"      <AssumedRoleId>{xml_escape(user_id)}</AssumedRoleId>\n"
            f"      <Arn>{xml_escape(arn)}</Arn>\n"
            "    </AssumedRoleUser>\n" + creds_xml
        )
    else:
        inner = creds_xml
    return err.ok(action, inner)


def issue_credentials(
    state: FakeAWS, duration: int, route: Route, host: str, arn: str, user_id: str
) -> TempCredential:
    """Create and remember temporary credentials (v1 token from the global host)."""
    version = 1 if route.sts_global else 2
    region = route.region or DEFAULT_REGION
    cred = TempCredential(
        access_key="ASIA" + rand_string(string.ascii_uppercase + "234567", 16),
        secret_key=rand_string(string.ascii_letters + string.digits + "+/", 40),
        token=make_session_token(version, region),
        expiration=(state.now() + dt.timedelta(seconds=duration)).replace(microsecond=0),
        issuer_host=host,
        token_version=version,
        arn=arn,
        user_id=user_id,
    )
    with state.lock:
        state.temp_credentials[cred.access_key] = cred
    return cred
