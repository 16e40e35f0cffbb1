"""Signature Version 2: recognised, and refused on the REST API as today ("Please use
AWS4-HMAC-SHA256", knowledge.md section 2); computed for S3 POST Object's SigV2 form
(``AWSAccessKeyId`` + ``signature``: base64 HMAC-SHA1 of the base64 policy with the secret
key, Amazon S3 User Guide, "Browser-based uploads using POST (AWS signature version 2)",
"Constructing a signature")."""

from __future__ import annotations

import base64
import hashlib
import hmac


def is_sigv2_header(authorization: str) -> bool:
    """``Authorization: AWS AKID:signature`` (or the AWS3 variants)."""
    return authorization.startswith("AWS ") or authorization.startswith("AWS3")


def is_sigv2_query(params: dict[str, str]) -> bool:
    """A SigV2 presigned URL: ``AWSAccessKeyId`` and ``Signature`` in the query."""
    return "AWSAccessKeyId" in params and "Signature" in params


def post_policy_signature(secret_key: str, policy_b64: str) -> str:
    """The SigV2 POST ``signature`` field: base64(HMAC-SHA1(secret, base64 policy))."""
    mac = hmac.new(secret_key.encode(), policy_b64.encode("latin-1"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()
