"""S3 POST Object: browser-based uploads (``multipart/form-data`` with a signed policy).

Evidence, abbreviated below:

* [DOC-POST] Amazon S3 API Reference, "Browser-Based Uploads Using POST (AWS Signature
  Version 4)": "Creating a POST Policy" (sigv4-HTTPPOSTConstructPolicy: ``expiration``;
  conditions as ``{"name": "value"}`` exact matches or ``["eq", "$name", v]``,
  ``["starts-with", "$name", prefix]`` (``""`` allows any value) and
  ``["content-length-range", min, max]``; ``$bucket`` is the bucket the form is posted to;
  "Each form field that you specify in a form (except x-amz-signature, file, policy, and
  field names that have an x-ignore- prefix) must appear in the list of conditions";
  temporary credentials need ``x-amz-security-token`` in the form and the policy), "POST
  Object" (RESTObjectPOST: ``${filename}`` in ``key`` is replaced by the file's name;
  fields after ``file`` are ignored; ``success_action_status`` 200, 201 or 204, default
  204), and the signature: the base64 policy is the string to sign, signed with the scope's
  SigV4 key (sigv4-post-example). The SigV2 form (Amazon S3 User Guide, "Browser-based
  uploads using POST (AWS signature version 2)"): ``AWSAccessKeyId`` and ``signature``,
  base64 HMAC-SHA1 of the base64 policy; those two fields need no condition.
* [ECHO-POST] S3's answers quoted in public issues: ``AccessDenied`` "Invalid according to
  Policy: Policy Condition failed: ["eq", "$Content-Type", "image/jpeg"]"
  (aws/aws-sdk-js#1983), "... ["starts-with", "$content-type", ""]"
  (waynehoover/s3_direct_upload#107: the condition is echoed as the policy wrote it);
  "Invalid according to Policy: Extra input fields: content-type" (waynehoover/
  s3_direct_upload#54, aws/aws-sdk-php#290: the name lower-cased), "... x-requested-with"
  (froala/wysiwyg-editor#404), "... bucket" with one field named at a time
  (aws/aws-sdk-php#3292); "Invalid according to Policy: Policy expired."
  (CulturalMe/meteor-slingshot#80, aws/aws-sdk-ruby#895, 403 AccessDenied);
  ``EntityTooLarge`` "Your proposed upload exceeds the maximum allowed size" with
  ``ProposedSize`` and ``MaxSizeAllowed`` (froala/wysiwyg-editor#1625, a POST form
  upload); ``EntityTooSmall`` "Your proposed upload is smaller than the minimum allowed
  size" with ``ProposedSize`` and ``MinSizeAllowed`` for a browser POST under
  ``content-length-range`` (versity/versitygw#2040 quotes S3's body); ``InvalidPolicyDocument``
  "Invalid Policy: Invalid JSON." (benefitcloud/ember-uploader#43); SignatureDoesNotMatch
  for a wrong signature (benefitcloud/ember-uploader#58, aws/aws-sdk-js#508).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import sigv2, sigv4
from .errors import S3Errors
from .model import (
    AMZ_FMT,
    S3_NS,
    SIG_MISMATCH_S3,
    ReceivedRequest,
    Response,
    StoredObject,
    hex_bytes,
    xml_escape,
)

if TYPE_CHECKING:
    from .server import FakeAWS

MAX_PARTS = 1000
#: Fields no condition needs to cover ([DOC-POST]); SigV2 adds its two.
EXEMPT = ("x-amz-signature", "file", "policy")
EXEMPT_SIGV2 = ("awsaccesskeyid", "signature")


@dataclass
class Part:
    """One form field as sent."""

    name: str
    value: bytes
    filename: str | None = None


def is_post_object(req: ReceivedRequest) -> bool:
    """A POST Object: a POST with a multipart/form-data body and no other authentication."""
    ctype = (req.header("content-type") or "").lower()
    return (
        req.method == "POST"
        and ctype.startswith("multipart/form-data")
        and req.header("authorization") is None
        and "X-Amz-Algorithm" not in req.query
    )


def parse_form(req: ReceivedRequest) -> list[Part]:
    """The form's parts in order, up to and including ``file`` ([DOC-POST]: later fields
    are ignored). Raises ValueError for a body that is not multipart/form-data."""
    ctype = req.header("content-type") or ""
    boundary = ""
    for param in ctype.split(";")[1:]:
        k, _, v = param.strip().partition("=")
        if k.strip().lower() == "boundary":
            boundary = v.strip().strip('"')
    if not boundary:
        raise ValueError("no boundary")
    delim = b"--" + boundary.encode("latin-1")
    pieces = req.body.split(delim)
    if len(pieces) < 3 or len(pieces) > MAX_PARTS + 2:
        raise ValueError("not a multipart body")
    parts: list[Part] = []
    for piece in pieces[1:-1]:
        if piece.startswith(b"\r\n"):
            piece = piece[2:]
        head, sep, content = piece.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("part without headers")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        name = filename = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            hname, _, hvalue = line.partition(":")
            if hname.strip().lower() != "content-disposition":
                continue
            for param in hvalue.split(";")[1:]:
                k, _, v = param.strip().partition("=")
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] == '"':
                    v = v[1:-1]
                if k.strip().lower() == "name":
                    name = v
                elif k.strip().lower() == "filename":
                    filename = v
        if name is None:
            raise ValueError("part without a name")
        parts.append(Part(name, content, filename))
        if name.lower() == "file":
            break
    return parts


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _expand(value: str, filename: str | None) -> str:
    """``${filename}`` replaced by the file's base name ([DOC-POST])."""
    if filename is None or "${filename}" not in value:
        return value
    base = filename[max(filename.rfind("/"), filename.rfind("\\")) + 1 :]
    return value.replace("${filename}", base)


def _condition_text(cond: Any) -> str:
    """A condition as S3 echoes it: the policy's array with ", " separators
    ([ECHO-POST] aws/aws-sdk-js#1983); an object condition as its ``eq`` form."""
    if isinstance(cond, dict):
        ((name, value),) = cond.items()
        cond = ["eq", f"${name}", value]
    return json.dumps(cond, ensure_ascii=False)


def handle(state: FakeAWS, req: ReceivedRequest, bucket: str) -> Response:
    """Verify the policy's signature, evaluate the policy, store the object."""
    err = S3Errors(state, req)

    def denied(detail: str) -> Response:
        return err.error(403, "AccessDenied", f"Invalid according to Policy: {detail}")

    def missing(name: str) -> Response:
        return err.error(
            400,
            "InvalidArgument",
            f"Bucket POST must contain a field named '{name}'.  If it is specified, please "
            "check the order of the fields.",
            [("ArgumentName", name), ("ArgumentValue", "")],
        )

    try:
        parts = parse_form(req)
    except ValueError:
        return err.error(
            400,
            "MalformedPOSTRequest",
            "The body of your POST request is not well-formed multipart/form-data.",
        )
    fields: dict[str, str] = {}
    order: list[str] = []
    file_part: Part | None = None
    for p in parts:
        lname = p.name.lower()
        if lname == "file":
            file_part = p
            continue
        if lname not in fields:
            order.append(lname)
        fields[lname] = _text(p.value)
    if "key" not in fields:
        return missing("key")
    if file_part is None:
        return missing("file")
    policy_b64 = fields.get("policy")
    if policy_b64 is None:
        return missing("policy")  # an anonymous POST needs a publicly writable bucket
    v2 = "awsaccesskeyid" in fields or "signature" in fields
    # ---- the signature over the base64 policy ----
    now = state.now()
    if v2:
        access_key = fields.get("awsaccesskeyid", "")
        provided = fields.get("signature", "")
        if not access_key:
            return missing("AWSAccessKeyId")
        if not provided:
            return missing("signature")
    else:
        for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature"):
            if name.lower() not in fields:
                return missing(name)
        if fields["x-amz-algorithm"] != sigv4.SIGV4:
            return err.error(
                400,
                "InvalidArgument",
                "Only AWS4-HMAC-SHA256 is supported",
                [("ArgumentName", "x-amz-algorithm"), ("ArgumentValue", fields["x-amz-algorithm"])],
            )
        cred = fields["x-amz-credential"].split("/")
        if len(cred) != 5 or cred[4] != "aws4_request":
            return err.error(
                400,
                "InvalidArgument",
                "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
                [
                    ("ArgumentName", "x-amz-credential"),
                    ("ArgumentValue", fields["x-amz-credential"]),
                ],
            )
        access_key = cred[0]
        provided = fields["x-amz-signature"]
    token = fields.get("x-amz-security-token")
    with state.lock:
        secret = state.credentials.get(access_key)
        temp = state.temp_credentials.get(access_key)
    if temp is not None:
        if not token:
            return err.unknown_key(access_key)
        if token != temp.token:
            return err.invalid_token(token)
        if now >= temp.expiration:
            return err.expired_token(token)
        secret = temp.secret_key
    elif secret is None:
        return err.unknown_key(access_key)
    elif token:
        return err.invalid_token(token)
    if v2:
        expected = sigv2.post_policy_signature(secret, policy_b64)
    else:
        skey = sigv4.signing_key(secret, cred[1], cred[2], cred[3])
        expected = hmac.new(skey, policy_b64.encode("latin-1"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), provided.encode()):
        extra = [("AWSAccessKeyId", access_key)]
        if state.echo_canonical:  # the string to sign of a POST is the base64 policy itself
            extra += [
                ("StringToSign", policy_b64),
                ("SignatureProvided", provided),
                ("StringToSignBytes", hex_bytes(policy_b64)),
            ]
        else:
            extra.append(("SignatureProvided", provided))
        return err.error(403, "SignatureDoesNotMatch", SIG_MISMATCH_S3, extra)
    # ---- the policy ----
    try:
        policy = json.loads(base64.b64decode(policy_b64, validate=True))
        expiration = dt.datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
        conditions = policy["conditions"]
        if not isinstance(conditions, list) or expiration.tzinfo is None:
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error):
        return err.error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    if now > expiration:
        return denied("Policy expired.")
    if not v2:
        try:
            signed_at = dt.datetime.strptime(fields["x-amz-date"], AMZ_FMT).replace(tzinfo=dt.UTC)
        except ValueError:
            return denied(_condition_text(["eq", "$x-amz-date", fields["x-amz-date"]]))
        if signed_at.strftime("%Y%m%d") != cred[1]:
            return err.error(
                400,
                "InvalidArgument",
                "Error parsing the X-Amz-Credential parameter; Invalid credential date. "
                "Date is not the same as X-Amz-Date.",
                [("ArgumentName", "x-amz-credential")],
            )
    # [DOC-POST] "All variables within the form are expanded prior to validating the POST
    # policy": ${filename} is the file's name after its last / or \ (a file part without a
    # filename leaves it as is); an exact condition on the unexpanded key then fails, as S3
    # answers it (aws/aws-sdk-js-v3#7191)
    values = {k: _expand(v, file_part.filename) for k, v in fields.items()}
    values["bucket"] = bucket  # [DOC-POST]: $bucket is the bucket posted to
    covered: set[str] = set()
    size = len(file_part.value)
    length_range: tuple[int, int] | None = None
    for cond in conditions:
        if isinstance(cond, dict) and len(cond) == 1:
            ((name, want),) = cond.items()
            lname = str(name).lower()
            covered.add(lname)
            if values.get(lname) != want:
                return denied(f"Policy Condition failed: {_condition_text(cond)}")
            continue
        if not isinstance(cond, list) or not cond:
            return err.error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition.")
        op = str(cond[0]).lower()
        if op == "content-length-range" and len(cond) == 3:
            try:
                length_range = (int(cond[1]), int(cond[2]))
            except (TypeError, ValueError):
                return err.error(
                    400, "InvalidPolicyDocument", "Invalid Policy: Invalid content-length-range."
                )
            continue
        if op in ("eq", "starts-with") and len(cond) == 3 and str(cond[1]).startswith("$"):
            lname = str(cond[1])[1:].lower()
            covered.add(lname)
            have = values.get(lname)
            want = str(cond[2])
            # [DOC-POST]: starts-with "" allows any content, but a field the form lacks
            # fails its condition even then: S3 answered "Policy Condition failed:
            # ["starts-with", "$Content-Type", ""]" until the field was added
            # (waynehoover/s3_direct_upload#29)
            ok = have is not None and (have == want if op == "eq" else have.startswith(want))
            if not ok:
                return denied(f"Policy Condition failed: {_condition_text(cond)}")
            continue
        return err.error(400, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition.")
    exempt = EXEMPT + (EXEMPT_SIGV2 if v2 else ())
    for name in order:
        if name in exempt or name.startswith("x-ignore-") or name in covered:
            continue
        return denied(f"Extra input fields: {name}")
    if length_range is not None:
        low, high = length_range
        if size > high:
            return err.error(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                [("ProposedSize", str(size)), ("MaxSizeAllowed", str(high))],
            )
        if size < low:
            return err.error(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                [("ProposedSize", str(size)), ("MinSizeAllowed", str(low))],
            )
    # ---- store ----
    key = _expand(fields["key"], file_part.filename)
    data = file_part.value
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    metadata = [(k, v) for k, v in ((n, fields[n]) for n in order) if k.startswith("x-amz-meta-")]
    obj = StoredObject(
        data, fields.get("content-type") or "binary/octet-stream", etag, now, metadata, {}
    )
    with state.lock:
        state.buckets.setdefault(bucket, {})[key] = obj
    status_s = fields.get("success_action_status", "")
    status = int(status_s) if status_s in ("200", "201", "204") else 204
    location = f"/{bucket}/{key}"
    headers = [("ETag", etag), ("Location", location)]
    if status == 201:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse xmlns="{S3_NS}">'
            f"<Location>{xml_escape(location)}</Location><Bucket>{xml_escape(bucket)}</Bucket>"
            f"<Key>{xml_escape(key)}</Key><ETag>{xml_escape(etag)}</ETag></PostResponse>"
        )
        return err.ok(status=201, headers=headers, body=body.encode())
    return err.ok(status=status, headers=headers)
