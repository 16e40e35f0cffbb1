"""sigv4core: a sans-IO verifier and diagnostician for AWS request signatures.

Nothing here imports mitmproxy or touches the network (only `credentials` reads the
user's AWS files, through botocore): callers hand in a
request exactly as it crossed the wire (:class:`WireRequest`) plus a way to look up secrets
(:class:`Keyring`), and get plain data back (:class:`Verification`).
"""

from sigv4core.model import (
    Credential,
    Finding,
    Keyring,
    ParsedAuth,
    Verification,
    WireRequest,
)

__all__ = [
    "Credential",
    "Finding",
    "Keyring",
    "ParsedAuth",
    "Verification",
    "WireRequest",
]
