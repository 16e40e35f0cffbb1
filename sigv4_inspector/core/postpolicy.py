"""S3 POST uploads (browser-based uploads with a POST policy), sans-IO.

A browser or mobile app uploads to S3 with a ``multipart/form-data`` form: ``key``,
``policy`` (base64 JSON), the signing fields (SigV4: ``x-amz-algorithm``,
``x-amz-credential``, ``x-amz-date``, ``x-amz-signature``; SigV2: ``AWSAccessKeyId``,
``signature``), optionally ``x-amz-security-token``, other fields, and the file last. The
signed string is the base64 policy exactly as sent; S3 then checks the policy's
``expiration`` and ``conditions`` against the form.

API (pure: no clock, no I/O; ``now`` and the URL's bucket are parameters)::

    form = multipart.parse_form(content_type, body)     # or MultipartParser, streamed
    upload = post_upload(form)                          # PostUpload | None (not a POST upload)
    upload.string_to_sign                               # the base64 policy as sent
    verify_post_signature(upload, secret) -> bool       # never returns the computed signature
    evaluation = evaluate(upload, bucket, now)          # PolicyEvaluation
    evaluation.failures / .extra_fields / .expired / .security_token_missing / .ok
    evaluation.expected_messages()                      # what S3 would say, in S3's words
    echo = parse_policy_error(aws_error_message)        # PolicyErrorMessage | None
    find_condition(evaluation, echo)                    # the local result S3 named

``parse_post_upload(content_type, body)`` does the first two steps for a buffered body.

Each rule below cites its evidence:

* Signing. SigV4: "Create a policy using UTF-8 encoding. Convert the UTF-8-encoded policy to
  Base64. The result is the string to sign. Create the signature as an HMAC-SHA256 hash of
  the string to sign ... Encode the signature by using hex encoding" with the signing key of
  ``x-amz-credential``'s scope (AWS, "Calculating a Signature" for "Browser-Based Uploads
  Using POST (AWS Signature Version 4)"; AWS's worked example "Example: Browser-Based
  Upload using HTTP POST" is a test vector, see tests). SigV2: "Sign the policy with your
  secret access key by using HMAC SHA-1. Encode the SHA-1 signature by using Base64" (AWS,
  "HTML Forms (AWS Signature Version 2)"). A truncated policy is answered
  ``SignatureDoesNotMatch`` with ``StringToSign`` = the policy field as sent (LocalStack
  ``test_post_request_malformed_policy``, validated against AWS), so the signature is
  checked on the text before it is decoded.
* Field names are case-insensitive: "The post parameters are case insensitive. For example,
  you can specify x-amz-signature or X-Amz-Signature" (AWS, "Example: Browser-Based Upload
  using HTTP POST"); condition field names too: ``$content-type``, ``$x-amz-meta-test-2``
  for a field ``x-amz-meta-TEST-2`` and ``$success_Action_REDIRECT`` are accepted by S3
  (LocalStack ``test_post_object_policy_conditions_validation_eq``, validated against AWS);
  operators likewise (ceph s3-tests ``test_post_object_case_insensitive_condition_fields``
  uses ``StArTs-WiTh`` and ``$KeY`` and expects 204, without a ``fails_on_aws`` marker).
  Values are case-sensitive: ``HTTP://`` against ``http://`` fails (LocalStack, same test).
* Fields after the file are ignored: "The file or content must be the last field in the
  form. Any fields below it are ignored" (AWS, HTML Forms v2); a ``key`` after the file is
  reported missing ("Bucket POST must contain a field named 'key'. If it is specified,
  please check the order of the fields", nukulb/s3-angular-file-upload#1; "S3 ignores all
  other fields after files", asmcos/requests#36).
* Required fields, as S3 names them when absent: ``X-Amz-Algorithm`` before
  ``X-Amz-Credential``, ``X-Amz-Signature``; SigV2 ``AWSAccessKeyId``, ``Signature``
  (LocalStack ``test_post_request_missing_signature`` / ``missing_fields``, validated);
  ``key``; and the file: "POST requires exactly one file upload per request" (S3's answer
  quoted in danialfarid/ng-file-upload#809, itinance/react-native-fs#992).
* Duplicated fields: "If you have multiple fields with the same name, the values must be
  separated by commas" (AWS, HTML Forms v2): a condition sees the values joined by ``,``.
* ``${filename}``: "is automatically replaced with the name of the file provided by the user
  and is recognized by all form fields. If the browser or client provides a full or partial
  path to the file, only the text following the last slash (/) or backslash (\\) will be
  used" (AWS, HTML Forms v2; S3 substitutes it in ``success_action_redirect`` too,
  aws/aws-sdk-js-v3#7191). "All variables within the form are expanded prior to validating
  the POST policy" (AWS, "Creating a POST Policy"). A file part without a ``filename``
  parameter leaves ``${filename}`` as is (LocalStack ``test_post_object_with_file_as_string``,
  validated: the key ``file-as-field-${filename}`` was stored literally); with
  ``filename=""`` (a browser's empty file input) it becomes empty, as the docs say: "If no
  file or file name is provided, the variable is replaced with an empty string".
* Conditions ("Creating a POST Policy", Condition Matching): exact match ``{"f": "v"}`` or
  ``["eq", "$f", "v"]``; ``["starts-with", "$f", prefix]``, "To configure the POST policy to
  allow any content within a form field, use starts-with with an empty value"; "Content-Types
  values for a starts-with condition that include commas are interpreted as lists. Each
  value in the list must meet the condition" and "Data elements other than Content-Type are
  treated as strings, regardless of the presence of commas" (same page; supabase/storage#1431);
  ``["content-length-range", min, max]``, bounds inclusive and numeric strings accepted,
  a non-numeric bound fails the condition (LocalStack ``test_post_object_policy_validation_size``,
  validated: 5 and 10 bytes pass ``[5, 10]``, 12 gives ``EntityTooLarge``, 1 gives
  ``EntityTooSmall``, ``["test", "10"]`` gives "Policy Condition failed"). A condition on a
  field the form lacks fails, even ``starts-with ""`` (waynehoover/s3_direct_upload#29:
  "Policy Condition failed: [\\"starts-with\\", \\"$Content-Type\\", \\"\\"]", fixed by adding
  the field; tj/node-s3-policy#8 for ``$Content-Length``). A condition whose field lacks
  ``$`` fails (LocalStack, eq test: "Policy Condition failed: [\\"eq\\",
  \\"success_action_redirect\\", ...]"). ``bucket`` "Specifies the acceptable bucket name"
  and is checked against the request's bucket (ceph s3-tests ``test_post_object_wrong_bucket``:
  a policy and ``bucket`` field for one bucket posted to another bucket's URL gets 403).
* Coverage: "Each form field that you specify in a form (except x-amz-signature, file,
  policy, and field names that have an x-ignore- prefix) must appear in the list of
  conditions" (AWS, "Creating a POST Policy"); SigV2 also exempts ``AWSAccessKeyId`` and
  ``signature`` (AWS, HTML Forms v2). S3: "Invalid according to Policy: Extra input fields:
  <name>" (dwilkie/carrierwave_direct#209, waynehoover/s3_direct_upload#54,
  aws/aws-sdk-php#3292 for a ``bucket`` field without a bucket condition, minio/minio#17391).
* Session credentials: "If the request is using session credentials, it requires one
  x-amz-security-token form" field (AWS, "Creating HTML Forms"), which the coverage rule then
  requires in the policy; every SDK adds both (tests).
* Expiration: "The expiration element specifies the expiration date and time of the POST
  policy in ISO8601 GMT date format" (AWS, "Creating a POST Policy"); S3 answers
  "Invalid according to Policy: Policy expired." (aws/aws-sdk-ruby#895,
  CulturalMe/meteor-slingshot#80, benjreinhart/react-native-aws3#28; LocalStack
  ``test_post_request_expires``, validated). An offset or a space instead of ``T`` is refused:
  "Invalid Policy: Invalid 'expiration' value: '2011-09-13T07:52:58+02:00'"
  (dwilkie/carrierwave_direct#2; Ruby's ``Time.now.utc`` text refused likewise, #20). The top-level names are case-sensitive (ceph
  s3-tests ``condition_is_case_sensitive`` / ``expires_is_case_sensitive``: 400).
* Malformed policies, S3's words: "Invalid Policy: Invalid JSON." (benefitcloud/ember-uploader#43;
  a ``null`` value, dwilkie/carrierwave_direct#230), "Invalid Policy: Invalid Simple-Condition:
  Simple-Conditions must have exactly one property specified." (LocalStack, validated),
  "Invalid Simple-Condition: Value Must Be A String" for ``success_action_status: 201``
  (dwilkie/carrierwave_direct#231). Other texts here (unknown operation, wrong number of
  arguments, a float bound read as invalid JSON) follow other servers' wording and are not
  confirmed from S3.
* S3 prints a failed condition as written, simple conditions as ``eq`` arrays:
  "Policy Condition failed: [\\"eq\\", \\"$key\\", \\"...\\"]" for ``{"key": ...}``
  (boto/boto3#4514), the policy's own spelling kept (``$X-Amz-Date``, aws/aws-sdk-js#1514;
  ``$content-type``, waynehoover/s3_direct_upload#107).

Secrets: nothing here returns or logs a computed signature, a signing key or a secret.
``PostUpload.signature`` is the client's, ``security_token`` the client's token; both are
left out of ``repr`` and must be fingerprinted or shortened by whoever reports them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sigv4_inspector.core.authparse import parse_scope
from sigv4_inspector.core.canonical import percent_decode
from sigv4_inspector.core.dates import parse_policy_expiration
from sigv4_inspector.core.keys import (
    normal_signature,
    signature_matches,
    signing_key,
    sigv4_signature,
)
from sigv4_inspector.core.model import ParsedAuth, Scope
from sigv4_inspector.core.multipart import FormField, ParsedForm, form_boundary, parse_form

SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"
MAX_POLICY_CHARS = 65536  # the whole form before the file is 20 KB; be tolerant, but bounded
MAX_CONDITIONS = 1024
MAX_MESSAGE_CHARS = 8192
FILENAME_VARIABLE = "${filename}"


class PostScheme(Enum):
    SIGV4 = "sigv4"
    SIGV2 = "sigv2"


class ConditionKind(Enum):
    EXACT = "exact"  # {"field": "value"}
    EQ = "eq"
    STARTS_WITH = "starts-with"
    CONTENT_LENGTH_RANGE = "content-length-range"
    INVALID = "invalid"  # cannot be read: S3 answers InvalidPolicyDocument


class Outcome(Enum):
    OK = "ok"
    FAILED = "failed"
    NOT_APPLICABLE = "not-applicable"  # cannot be decided here (no file size, no bucket)
    MALFORMED = "malformed"  # the condition itself is invalid (InvalidPolicyDocument)


@dataclass(frozen=True)
class Condition:
    """One policy condition. ``field`` is the form field named (``$`` removed, spelling as
    written), ``None`` for content-length-range; ``has_dollar`` whether the array form wrote
    the ``$``. ``written`` is the condition as it appears in the policy (compact JSON);
    ``s3_form`` as S3 prints it in "Policy Condition failed: ..." (simple conditions as
    ``eq`` arrays). ``problem``: why an INVALID condition cannot be read, in S3's words
    where known."""

    index: int
    kind: ConditionKind
    written: str
    s3_form: str
    operator: str = ""
    field: str | None = None
    has_dollar: bool = True
    value: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    bounds_numeric: bool = True
    problem: str | None = None


@dataclass(frozen=True)
class Policy:
    """A decoded policy. ``problems`` lists what makes S3 refuse the document itself
    (``InvalidPolicyDocument``, "Invalid Policy: ..."); conditions are kept even then."""

    text: str
    expiration: datetime | None
    expiration_raw: str | None
    conditions: tuple[Condition, ...]
    problems: tuple[str, ...] = ()
    base64_lenient: bool = False  # decoded only after dropping whitespace or adding padding


@dataclass(frozen=True)
class PostUpload:
    """An S3 POST upload recognised in a parsed form. ``fields`` are the named form-data
    fields S3 reads (before the file); ``ignored_fields`` those after it. ``missing_fields``
    are required fields absent before the file, named as S3 names them;
    ``misplaced_fields`` those of them that were sent after the file."""

    scheme: PostScheme
    form: ParsedForm = field(repr=False)
    fields: tuple[FormField, ...]
    ignored_fields: tuple[FormField, ...]
    policy_b64: str
    policy: Policy | None
    policy_error: str | None
    access_key_id: str | None
    scope: Scope | None
    scope_error: str | None
    algorithm: str | None
    amz_date: str | None
    missing_fields: tuple[str, ...]
    misplaced_fields: tuple[str, ...]
    signature: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)

    @property
    def string_to_sign(self) -> str:
        """The base64 policy as sent: what the signature covers."""
        return self.policy_b64

    @property
    def file_size(self) -> int | None:
        return None if self.form.file is None else self.form.file.size

    @property
    def filename(self) -> str | None:
        return None if self.form.file is None else self.form.file.filename

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return () if self.policy is None else self.policy.conditions

    def value(self, name: str) -> str | None:
        """The field as S3 reads it: values of the same name (any case) joined by ``,``;
        ``None`` when absent. Not expanded."""
        return _joined(self.fields, name)

    def tokens(self) -> tuple[str, ...]:
        """Every session token the form or the policy holds: each ``x-amz-security-token``
        field's value (before or after the file) and each condition's value on it."""
        found = [f.value for f in self.form.fields if f.name.lower() == "x-amz-security-token"]
        found += [
            c.value or ""
            for c in self.conditions
            if (c.field or "").lower() == "x-amz-security-token"
        ]
        return tuple(dict.fromkeys(t for t in found if t))

    def signatures(self) -> tuple[str, ...]:
        """Every signature field's value the form holds (``x-amz-signature``, ``signature``)."""
        return tuple(
            dict.fromkeys(
                f.value
                for f in self.form.fields
                if f.name.lower() in ("x-amz-signature", "signature") and f.value
            )
        )


@dataclass(frozen=True)
class ConditionResult:
    """One condition's outcome against the form as sent: the condition, the field it names
    (as written), the value sent (after ``${filename}`` expansion; ``None`` when the field is
    absent), a one-line reason, and S3's error code when it is not "Policy Condition failed"
    (``EntityTooLarge``, ``EntityTooSmall``, ``InvalidPolicyDocument``)."""

    condition: Condition
    outcome: Outcome
    field: str | None
    value_sent: str | None
    reason: str
    s3_code: str | None = None


@dataclass(frozen=True)
class PolicyEvaluation:
    """The policy checked against the form, as S3 checks it."""

    expiration: datetime | None
    expired: bool | None  # None when the expiration is missing or unreadable
    results: tuple[ConditionResult, ...]
    extra_fields: tuple[str, ...]  # names as sent, first occurrence
    ignored_fields: tuple[str, ...]  # after the file
    missing_fields: tuple[str, ...]
    misplaced_fields: tuple[str, ...]
    security_token_missing: bool
    policy_problems: tuple[str, ...]
    fields_too_large: bool
    file_parts: int

    @property
    def failures(self) -> tuple[ConditionResult, ...]:
        return tuple(r for r in self.results if r.outcome in (Outcome.FAILED, Outcome.MALFORMED))

    @property
    def ok(self) -> bool:
        """Nothing here makes S3 refuse the upload (conditions that could not be decided
        do not count)."""
        return not (
            self.expired
            or self.expired is None
            or self.failures
            or self.extra_fields
            or self.missing_fields
            or self.security_token_missing
            or self.policy_problems
            or self.fields_too_large
            or self.file_parts > 1
        )

    def expected_messages(self) -> tuple[str, ...]:
        """S3's messages for what is wrong, most likely first: missing fields, the policy
        document, expiry, conditions, extra fields. The order between the last three is not
        documented; S3 names one problem per answer."""
        out: list[str] = []
        for name in self.missing_fields:
            if name == "file":
                out.append("POST requires exactly one file upload per request.")
            else:
                out.append(
                    f"Bucket POST must contain a field named '{name}'.  "
                    "If it is specified, please check the order of the fields."
                )
        if self.file_parts > 1:
            out.append("POST requires exactly one file upload per request.")
        out.extend(self.policy_problems)
        if self.expired:
            out.append("Invalid according to Policy: Policy expired.")
        for r in self.failures:
            if r.s3_code == "EntityTooLarge":
                out.append("Your proposed upload exceeds the maximum allowed size")
            elif r.s3_code == "EntityTooSmall":
                out.append("Your proposed upload is smaller than the minimum allowed size")
            elif r.outcome is Outcome.FAILED:
                out.append(
                    f"Invalid according to Policy: Policy Condition failed: {r.condition.s3_form}"
                )
        if self.extra_fields:
            out.append(
                "Invalid according to Policy: Extra input fields: " + ", ".join(self.extra_fields)
            )
        return tuple(out)


# ---------------------------------------------------------------- recognising


_SIGV4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
_SIGV2_FIELDS = ("awsaccesskeyid", "signature")
# As S3 names them in "Bucket POST must contain a field named '...'" (LocalStack, validated).
_SIGV4_REQUIRED: tuple[str, ...] = (
    "key",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Signature",
)
_SIGV2_REQUIRED: tuple[str, ...] = ("key", "AWSAccessKeyId", "Signature")


def _named(fields: Iterable[FormField]) -> list[FormField]:
    return [f for f in fields if f.name and (f.disposition or "") == "form-data"]


def _joined(fields: Iterable[FormField], name: str) -> str | None:
    low = name.lower()
    values = [f.value for f in fields if f.name.lower() == low]
    return ",".join(values) if values else None


def _first(fields: Iterable[FormField], name: str) -> str | None:
    low = name.lower()
    for f in fields:
        if f.name.lower() == low:
            return f.value
    return None


def post_upload(form: ParsedForm) -> PostUpload | None:
    """Recognise an S3 POST upload: a ``policy`` field (any case, anywhere in the form) with
    any SigV4 or SigV2 signing field. ``None`` for any other form."""
    every = _named(form.fields)
    names = {f.name.lower() for f in every}
    if "policy" not in names or not names & set(_SIGV4_FIELDS + _SIGV2_FIELDS):
        return None
    scheme = PostScheme.SIGV4 if names & set(_SIGV4_FIELDS) else PostScheme.SIGV2
    before = [f for f in every if not f.after_file]
    after = [f for f in every if f.after_file]
    policy_b64 = _first(before, "policy")
    if policy_b64 is None:
        policy_b64 = ""
        policy: Policy | None = None
        policy_error: str | None = "the policy field comes after the file, where S3 ignores it"
    else:
        decoded = decode_policy(policy_b64)
        policy, policy_error = (decoded, None) if isinstance(decoded, Policy) else (None, decoded)
    scope: Scope | None = None
    scope_error: str | None = None
    if scheme is PostScheme.SIGV4:
        credential = _first(before, "x-amz-credential")
        akid: str | None = None
        if credential is not None:
            akid, scope, scope_error = parse_scope(credential.strip(), "sigv4")
        signature = _first(before, "x-amz-signature")
        required = _SIGV4_REQUIRED
    else:
        akid = _first(before, "awsaccesskeyid")
        signature = _first(before, "signature")
        required = _SIGV2_REQUIRED
    present = {f.name.lower() for f in before}
    late = {f.name.lower() for f in after}
    missing = [n for n in required + ("Policy",) if n.lower() not in present]
    if form.file is None:
        missing.append("file")
    return PostUpload(
        scheme=scheme,
        form=form,
        fields=tuple(before),
        ignored_fields=tuple(after),
        policy_b64=policy_b64,
        policy=policy,
        policy_error=policy_error,
        access_key_id=akid,
        scope=scope,
        scope_error=scope_error,
        algorithm=_first(before, "x-amz-algorithm"),
        amz_date=_first(before, "x-amz-date"),
        missing_fields=tuple(missing),
        misplaced_fields=tuple(n for n in missing if n.lower() in late),
        signature=signature,
        security_token=_first(before, "x-amz-security-token"),
    )


def form_post_boundary(method: str, content_type: str | None) -> str | None:
    """The boundary of a request that may be an S3 POST upload: a POST whose Content-Type is
    ``multipart/form-data`` with a boundary ("Browser-Based Uploads Using POST": the form is
    sent as ``multipart/form-data``). ``None`` for any other request."""
    if method.upper() != "POST" or not content_type:
        return None
    return form_boundary(content_type)


def parsed_auth(upload: PostUpload) -> ParsedAuth:
    """The upload's authentication as the record reports it (``location`` ``form``):
    malformed when a signing field S3 requires is missing (named as S3 names it, with a
    note when it came after the file), when ``x-amz-credential`` is not a scope, or when
    ``x-amz-algorithm`` is not AWS4-HMAC-SHA256 (the only algorithm S3 accepts for POST,
    "Creating an HTML Form (Using AWS Signature Version 4)")."""
    problems: list[str] = []
    for name in upload.missing_fields:
        if name.lower() in ("key", "file"):
            continue  # not signing fields: the policy's conditions and S3 name these
        late = (
            " It was sent after the file, where S3 ignores it."
            if name in upload.misplaced_fields
            else ""
        )
        problems.append(f"Bucket POST must contain a field named '{name}'.{late}")
    v4 = upload.scheme is PostScheme.SIGV4
    if v4:
        if upload.scope_error:
            problems.append(upload.scope_error)
        alg = upload.algorithm
        if alg is not None and alg.strip() != SIGV4_ALGORITHM:
            problems.append(
                f"X-Amz-Algorithm is '{alg.strip()[:60]}'; S3 accepts only {SIGV4_ALGORITHM}"
            )
    return ParsedAuth(
        scheme="sigv4" if v4 else "sigv2",
        location="form",
        algorithm=(upload.algorithm or "").strip() if v4 else "",
        access_key_id=(upload.access_key_id or "").strip() or None,
        scope=upload.scope,
        signature=upload.signature or "",
        amz_date=((upload.amz_date or "").strip() or None) if v4 else None,
        session_token=upload.security_token,
        error="; ".join(problems) if problems else None,
        error_detail={"problems": problems} if problems else {},
    )


def post_bucket(host: str, path: str) -> str | None:
    """The bucket a form is posted to, as S3 reads ``$bucket``: the labels before ``s3``
    in a virtual-hosted AWS name (``bucket.s3.region.amazonaws.com``), else the path's
    first segment (path style, and S3-compatible servers); ``None`` when neither names one
    (a custom domain's root, an access point)."""
    h = "" if host.startswith("[") else host.split(":", 1)[0].lower().rstrip(".")
    if h.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        labels = h.split(".")
        for i, lab in enumerate(labels):
            if lab in ("s3-accesspoint", "s3-object-lambda") or "accesspoint" in lab:
                return None
            if lab == "s3" or lab.startswith("s3-"):
                if i > 0:
                    return ".".join(labels[:i])
                break
    first = path.split("?", 1)[0].lstrip("/").split("/", 1)[0]
    if not first:
        return None
    return percent_decode(first).decode("utf-8", "replace")[:255]


def parse_post_upload(content_type: str, body: bytes | bytearray | memoryview) -> PostUpload | None:
    """``post_upload(parse_form(content_type, body))`` for a buffered body."""
    form = parse_form(content_type, body)
    return None if form is None else post_upload(form)


# ---------------------------------------------------------------- signature


def verify_post_signature(upload: PostUpload, secret: str) -> bool:
    """Whether the form's signature is the one ``secret`` gives over the policy as sent.
    SigV4: hex HMAC-SHA256 under the signing key of ``x-amz-credential``'s scope; SigV2:
    base64 HMAC-SHA1 under the secret. Constant-time comparison; the computed value is not
    returned."""
    provided = upload.signature
    if provided is None:
        return False
    sts = upload.policy_b64.encode("utf-8", "surrogateescape")
    if upload.scheme is PostScheme.SIGV4:
        scope = upload.scope
        if scope is None or upload.scope_error or scope.terminator != "aws4_request":
            return False
        if upload.algorithm is not None and upload.algorithm.strip() != SIGV4_ALGORITHM:
            return False
        key = signing_key(secret, scope.date, scope.region or "", scope.service)
        return signature_matches(
            sigv4_signature(key, upload.policy_b64), normal_signature(provided)
        )
    mac = hmac.digest(secret.encode("utf-8", "surrogateescape"), sts, "sha1")
    computed = base64.b64encode(mac)
    return hmac.compare_digest(computed, provided.strip().encode("utf-8", "surrogateescape"))


# ---------------------------------------------------------------- the policy

# the expiration is read by dates.parse_policy_expiration (S3's ISO 8601 with Z, above)
_B64_ALPHABET = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


def _dump(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False)[:2048]
    except (TypeError, ValueError):  # pragma: no cover - json.loads output always dumps
        return repr(obj)[:2048]


def _bound(raw: Any) -> tuple[int | None, bool, str | None]:
    """A content-length-range bound: (value, numeric, problem). Integers and strings of
    digits are numbers (LocalStack: ``["content-length-range", "5", "10"]`` accepted); other
    strings fail the condition; floats, booleans, negatives and nulls make the policy
    invalid."""
    if isinstance(raw, bool) or raw is None:
        return None, False, "Invalid Policy: Invalid JSON."
    if isinstance(raw, int):
        if raw < 0:
            return None, False, "Invalid Policy: Invalid content-length-range: negative bound."
        return raw, True, None
    if isinstance(raw, float):
        return None, False, "Invalid Policy: Invalid JSON."
    if isinstance(raw, str):
        text = raw.strip()
        if text.isascii() and text.isdigit() and len(text) <= 19:
            return int(text), True, None
        return None, False, None  # not a number: the condition fails (S3: Policy Condition failed)
    return None, False, "Invalid Policy: Invalid JSON."


def _condition(index: int, item: Any) -> Condition:
    written = _dump(item)
    if isinstance(item, dict):
        if len(item) != 1:
            return Condition(
                index,
                ConditionKind.INVALID,
                written,
                written,
                problem="Invalid Policy: Invalid Simple-Condition: "
                "Simple-Conditions must have exactly one property specified.",
            )
        name, value = next(iter(item.items()))
        if value is None:
            problem: str | None = "Invalid Policy: Invalid JSON."
        elif not isinstance(value, str):
            problem = "Invalid Policy: Invalid Simple-Condition: value must be a string."
        else:
            problem = None
        s3_form = _dump(["eq", "$" + name, value])
        if problem:
            return Condition(
                index, ConditionKind.INVALID, written, s3_form, field=name, problem=problem
            )
        return Condition(
            index, ConditionKind.EXACT, written, s3_form, operator="eq", field=name, value=value
        )
    if isinstance(item, list):
        if not item or not isinstance(item[0], str):
            return Condition(
                index,
                ConditionKind.INVALID,
                written,
                written,
                problem="Invalid Policy: Invalid Condition: missing operation identifier.",
            )
        op = item[0]
        low = op.lower()
        if low == "content-length-range":
            if len(item) != 3:
                return Condition(
                    index,
                    ConditionKind.INVALID,
                    written,
                    written,
                    operator=op,
                    problem="Invalid Policy: Invalid content-length-range: wrong number of arguments.",
                )
            lo, lo_num, lo_problem = _bound(item[1])
            hi, hi_num, hi_problem = _bound(item[2])
            problem = lo_problem or hi_problem
            return Condition(
                index,
                ConditionKind.INVALID if problem else ConditionKind.CONTENT_LENGTH_RANGE,
                written,
                written,
                operator=op,
                minimum=lo,
                maximum=hi,
                bounds_numeric=lo_num and hi_num,
                problem=problem,
            )
        if low in ("eq", "starts-with"):
            if len(item) != 3:
                return Condition(
                    index,
                    ConditionKind.INVALID,
                    written,
                    written,
                    operator=op,
                    problem=f"Invalid Policy: Invalid {op}: wrong number of arguments.",
                )
            name, value = item[1], item[2]
            if not isinstance(name, str) or not isinstance(value, str):
                return Condition(
                    index,
                    ConditionKind.INVALID,
                    written,
                    written,
                    operator=op,
                    problem="Invalid Policy: Invalid JSON.",
                )
            has_dollar = name.startswith("$")
            return Condition(
                index,
                ConditionKind.EQ if low == "eq" else ConditionKind.STARTS_WITH,
                written,
                written,
                operator=op,
                field=name[1:] if has_dollar else name,
                has_dollar=has_dollar,
                value=value,
            )
        return Condition(
            index,
            ConditionKind.INVALID,
            written,
            written,
            operator=op,
            problem=f"Invalid Policy: Invalid Condition: unknown operation '{op[:60]}'.",
        )
    return Condition(
        index,
        ConditionKind.INVALID,
        written,
        written,
        problem="Invalid Policy: Invalid condition test: must be a List or Object.",
    )


def decode_policy(policy_b64: str) -> Policy | str:
    """Decode a policy field: a ``Policy`` (possibly with ``problems``), or a one-line
    reason (in S3's words where known) when it is not base64 JSON at all."""
    if len(policy_b64) > MAX_POLICY_CHARS:
        return f"the policy is {len(policy_b64)} characters long (bound {MAX_POLICY_CHARS})"
    text = policy_b64.strip()
    lenient = text != policy_b64
    compact = "".join(text.split())
    if compact != text:
        lenient = True
    if len(compact) % 4:
        compact += "=" * (-len(compact) % 4)
        lenient = True
    if not _B64_ALPHABET.match(compact):
        return "Invalid Policy: invalid Base64 encoding."
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return "Invalid Policy: invalid Base64 encoding."
    try:
        doc_text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "Invalid Policy: the policy is not UTF-8."
    try:
        doc = json.loads(doc_text)
    except (ValueError, RecursionError):
        return "Invalid Policy: Invalid JSON."
    if not isinstance(doc, dict):
        return "Invalid Policy: Invalid JSON."
    problems: list[str] = []
    for name in doc:
        if name not in ("expiration", "conditions"):
            problems.append(f"Invalid Policy: Unexpected: '{str(name).lower()[:60]}'")
    expiration_raw = doc.get("expiration")
    expiration: datetime | None = None
    if expiration_raw is None:
        problems.append("Invalid Policy: Policy missing expiration.")
    elif not isinstance(expiration_raw, str):
        problems.append("Invalid Policy: Invalid 'expiration' value.")
        expiration_raw = _dump(expiration_raw)
    else:
        expiration = parse_policy_expiration(expiration_raw)
        if expiration is None:
            problems.append(f"Invalid Policy: Invalid 'expiration' value: '{expiration_raw[:80]}'")
    raw_conditions = doc.get("conditions")
    conditions: list[Condition] = []
    if raw_conditions is None:
        problems.append("Invalid Policy: Policy missing conditions.")
    elif not isinstance(raw_conditions, list):
        problems.append("Invalid Policy: Invalid 'conditions' value: must be a List.")
    else:
        if len(raw_conditions) > MAX_CONDITIONS:
            problems.append(
                f"the policy has {len(raw_conditions)} conditions; only the first {MAX_CONDITIONS} were read"
            )
        for i, item in enumerate(raw_conditions[:MAX_CONDITIONS]):
            cond = _condition(i, item)
            conditions.append(cond)
            if cond.problem and cond.problem not in problems:
                problems.append(cond.problem)
    return Policy(
        text=doc_text,
        expiration=expiration,
        expiration_raw=expiration_raw if isinstance(expiration_raw, str) else None,
        conditions=tuple(conditions),
        problems=tuple(problems),
        base64_lenient=lenient,
    )


# ---------------------------------------------------------------- evaluation

# Fields no condition needs to cover (AWS, "Creating a POST Policy"; SigV2: HTML Forms).
_EXEMPT = frozenset({"x-amz-signature", "file", "policy"})
_EXEMPT_SIGV2 = frozenset({"awsaccesskeyid", "signature"})


def _expand_filename(value: str, filename: str | None, has_file: bool) -> str:
    if FILENAME_VARIABLE not in value:
        return value
    if has_file and filename is None:
        return value  # no filename parameter: S3 keeps the variable (LocalStack, validated)
    name = filename or ""
    base = name[max(name.rfind("/"), name.rfind("\\")) + 1 :]
    return value.replace(FILENAME_VARIABLE, base)


def _starts_with(field_low: str, value: str, prefix: str) -> bool:
    if field_low == "content-type" and "," in value:
        return all(item.strip(" \t").startswith(prefix) for item in value.split(","))
    return value.startswith(prefix)


def _evaluate_condition(
    cond: Condition,
    sent: dict[str, str],
    bucket: str | None,
    file_size: int | None,
) -> ConditionResult:
    kind = cond.kind
    if kind is ConditionKind.INVALID:
        return ConditionResult(
            cond, Outcome.MALFORMED, cond.field, None, cond.problem or "", "InvalidPolicyDocument"
        )
    if kind is ConditionKind.CONTENT_LENGTH_RANGE:
        if not cond.bounds_numeric or cond.minimum is None or cond.maximum is None:
            return ConditionResult(
                cond,
                Outcome.FAILED,
                None,
                None if file_size is None else str(file_size),
                f"content-length-range bounds {cond.written} are not numbers",
            )
        if file_size is None:
            return ConditionResult(
                cond, Outcome.NOT_APPLICABLE, None, None, "the file's size is not known"
            )
        size = str(file_size)
        if file_size > cond.maximum:
            return ConditionResult(
                cond,
                Outcome.FAILED,
                None,
                size,
                f"the file is {file_size} bytes, above the policy's maximum {cond.maximum}",
                "EntityTooLarge",
            )
        if file_size < cond.minimum:
            return ConditionResult(
                cond,
                Outcome.FAILED,
                None,
                size,
                f"the file is {file_size} bytes, below the policy's minimum {cond.minimum}",
                "EntityTooSmall",
            )
        return ConditionResult(
            cond,
            Outcome.OK,
            None,
            size,
            f"{file_size} bytes is within {cond.minimum}..{cond.maximum}",
        )
    name = cond.field or ""
    low = name.lower()
    expected = cond.value or ""
    if low == "bucket" and bucket is not None:
        value: str | None = bucket
        origin = "the request URL's bucket"
    else:
        value = sent.get(low)
        origin = f"field {name!r}"
    if low == "bucket" and value is None:
        return ConditionResult(
            cond, Outcome.NOT_APPLICABLE, name, None, "the request's bucket is not known"
        )
    if not cond.has_dollar:
        return ConditionResult(
            cond,
            Outcome.FAILED,
            name,
            value,
            f"the condition names {name!r} without '$', which S3 never satisfies",
        )
    if value is None:
        return ConditionResult(
            cond, Outcome.FAILED, name, None, f"the form has no field {name!r} before the file"
        )
    if kind is ConditionKind.STARTS_WITH:
        if _starts_with(low, value, expected):
            return ConditionResult(
                cond, Outcome.OK, name, value, f"{origin} starts with {expected!r}"
            )
        what = (
            "an item of the Content-Type list does not start with"
            if low == "content-type" and "," in value
            else "does not start with"
        )
        return ConditionResult(
            cond, Outcome.FAILED, name, value, f"{origin} {value[:200]!r}: {what} {expected!r}"
        )
    if value == expected:
        return ConditionResult(cond, Outcome.OK, name, value, f"{origin} equals {expected!r}")
    return ConditionResult(
        cond,
        Outcome.FAILED,
        name,
        value,
        f"{origin} is {value[:200]!r}, the policy requires {expected!r}",
    )


def evaluate(upload: PostUpload, bucket: str | None, now: datetime) -> PolicyEvaluation:
    """Check the policy's expiration and conditions, and the coverage rule, against the form
    as sent. ``bucket`` is the bucket the request addresses (from the host or the path;
    ``None`` when unknown); ``now`` the request time (a naive datetime is taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    form = upload.form
    file = form.file
    has_file = file is not None
    filename = None if file is None else file.filename
    sent: dict[str, str] = {}
    for f in upload.fields:
        low = f.name.lower()
        expanded = _expand_filename(f.value, filename, has_file)
        sent[low] = expanded if low not in sent else sent[low] + "," + expanded
    policy = upload.policy
    problems: list[str] = []
    results: list[ConditionResult] = []
    expired: bool | None = None
    expiration: datetime | None = None
    covered: set[str] = set()
    if policy is None:
        problems.append(upload.policy_error or "the policy cannot be read")
    else:
        problems.extend(policy.problems)
        expiration = policy.expiration
        if expiration is not None:
            expired = now > expiration
        for cond in policy.conditions:
            results.append(_evaluate_condition(cond, sent, bucket, upload.file_size))
            if cond.field is not None:
                covered.add(cond.field.lower())
    exempt = _EXEMPT | (_EXEMPT_SIGV2 if upload.scheme is PostScheme.SIGV2 else frozenset())
    extra: list[str] = []
    seen: set[str] = set()
    if policy is not None:
        for f in upload.fields:
            low = f.name.lower()
            if low in seen or low in exempt or low.startswith("x-ignore-") or low in covered:
                continue
            seen.add(low)
            extra.append(f.name)
    akid = upload.access_key_id or ""
    token_missing = akid.startswith("ASIA") and not upload.security_token
    return PolicyEvaluation(
        expiration=expiration,
        expired=expired,
        results=tuple(results),
        extra_fields=tuple(extra),
        ignored_fields=tuple(f.name for f in upload.ignored_fields),
        missing_fields=upload.missing_fields,
        misplaced_fields=upload.misplaced_fields,
        security_token_missing=token_missing,
        policy_problems=tuple(problems),
        fields_too_large=form.fields_too_large,
        file_parts=form.file_parts,
    )


# ---------------------------------------------------------------- S3's answers


class PolicyErrorKind(Enum):
    EXPIRED = "expired"  # "Invalid according to Policy: Policy expired."
    CONDITION_FAILED = "condition-failed"  # "... Policy Condition failed: [...]"
    EXTRA_FIELDS = "extra-fields"  # "... Extra input fields: name"
    INVALID_POLICY = "invalid-policy"  # InvalidPolicyDocument: "Invalid Policy: ..."
    ENTITY_SIZE = "entity-size"  # EntityTooLarge / EntityTooSmall messages
    MISSING_FIELD = "missing-field"  # "Bucket POST must contain a field named '...'"; the file
    OTHER = "other"  # another "Invalid according to Policy: ..." text


@dataclass(frozen=True)
class ConditionEcho:
    """A condition as S3 printed it: operator, field (``$`` removed), whether the ``$`` was
    there, and the other operands as strings."""

    operator: str
    field: str | None
    has_dollar: bool
    arguments: tuple[str, ...]

    @property
    def value(self) -> str | None:
        return self.arguments[-1] if self.arguments else None


@dataclass(frozen=True)
class PolicyErrorMessage:
    """S3's message, read: its kind, the condition it names (CONDITION_FAILED), the fields
    it names (EXTRA_FIELDS), and the rest of the text (``detail``: the field name for
    MISSING_FIELD, the reason for INVALID_POLICY)."""

    kind: PolicyErrorKind
    message: str
    condition: ConditionEcho | None = None
    extra_fields: tuple[str, ...] = ()
    detail: str | None = None


_ACCORDING = "invalid according to policy:"
_MISSING = re.compile(r"Bucket POST must contain a field named '([^']{0,200})'", re.IGNORECASE)


def _echo(text: str) -> ConditionEcho | None:
    candidates = [text, text.replace('\\"', '"'), text.replace("&quot;", '"')]
    for cand in candidates:
        start, end = cand.find("["), cand.rfind("]")
        if start < 0 or end <= start:
            continue
        try:
            item = json.loads(cand[start : end + 1])
        except (ValueError, RecursionError):
            continue
        if not isinstance(item, list) or not item or not isinstance(item[0], str):
            continue
        op = item[0]
        rest = [a if isinstance(a, str) else json.dumps(a) for a in item[1:]]
        if op.lower() == "content-length-range":
            return ConditionEcho(op, None, False, tuple(rest))
        if not rest:
            return ConditionEcho(op, None, False, ())
        name = rest[0]
        has_dollar = name.startswith("$")
        return ConditionEcho(op, name[1:] if has_dollar else name, has_dollar, tuple(rest[1:]))
    return None


def parse_policy_error(message: str) -> PolicyErrorMessage | None:
    """Read S3's message for a refused POST upload (the ``<Message>`` text; escaped quotes as
    ``\\"`` or ``&quot;`` are accepted). ``None`` when it is not a policy error."""
    text = " ".join(message[:MAX_MESSAGE_CHARS].split())
    low = text.lower()
    pos = low.find(_ACCORDING)
    if pos >= 0:
        rest = text[pos + len(_ACCORDING) :].strip()
        rlow = rest.lower()
        if rlow.startswith("policy expired"):
            return PolicyErrorMessage(PolicyErrorKind.EXPIRED, text)
        if rlow.startswith("policy condition failed"):
            return PolicyErrorMessage(
                PolicyErrorKind.CONDITION_FAILED,
                text,
                condition=_echo(rest[len("policy condition failed") :]),
            )
        if rlow.startswith("extra input fields"):
            names = rest.partition(":")[2]
            fields = tuple(n.strip().rstrip(".") for n in names.split(",") if n.strip())
            return PolicyErrorMessage(PolicyErrorKind.EXTRA_FIELDS, text, extra_fields=fields)
        return PolicyErrorMessage(PolicyErrorKind.OTHER, text, detail=rest)
    m = _MISSING.search(text)
    if m is not None:
        return PolicyErrorMessage(PolicyErrorKind.MISSING_FIELD, text, detail=m.group(1))
    if "post requires exactly one file upload per request" in low:
        return PolicyErrorMessage(PolicyErrorKind.MISSING_FIELD, text, detail="file")
    pos = low.find("invalid policy:")
    if pos >= 0:
        detail = text[pos + len("invalid policy:") :].strip()
        return PolicyErrorMessage(PolicyErrorKind.INVALID_POLICY, text, detail=detail)
    if "proposed upload exceeds the maximum allowed" in low or "proposed upload is smaller" in low:
        return PolicyErrorMessage(PolicyErrorKind.ENTITY_SIZE, text)
    return None


def find_condition(
    evaluation: PolicyEvaluation, echo: ConditionEcho | PolicyErrorMessage
) -> ConditionResult | None:
    """The local result for the condition S3 named (operator and field compared
    case-insensitively, operands exactly; a simple condition matches an ``eq`` echo)."""
    if isinstance(echo, PolicyErrorMessage):
        if echo.condition is None:
            return None
        echo = echo.condition
    op = echo.operator.lower()
    for r in evaluation.results:
        c = r.condition
        if c.kind is ConditionKind.CONTENT_LENGTH_RANGE or (
            c.kind is ConditionKind.INVALID and c.operator.lower() == "content-length-range"
        ):
            if op != "content-length-range":
                continue
            try:
                args = [
                    a if isinstance(a, str) else json.dumps(a) for a in json.loads(c.written)[1:]
                ]
            except (ValueError, TypeError):
                continue
            if tuple(args) == echo.arguments:
                return r
            continue
        c_op = "eq" if c.kind is ConditionKind.EXACT else c.operator.lower()
        if c_op != op or c.field is None or echo.field is None:
            continue
        if c.field.lower() != echo.field.lower() or c.has_dollar != echo.has_dollar:
            continue
        if (c.value,) == echo.arguments:
            return r
    return None
