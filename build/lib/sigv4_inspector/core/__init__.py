"""The pure core: a sans-IO verifier and diagnostician for AWS request signatures.

Callers hand in a request exactly as it crossed the wire (:class:`WireRequest`), a way to
look up secrets (:class:`Keyring`) and "now", and get plain data back. Nothing here imports
mitmproxy, botocore, threading, subprocess, socket or time, or reads a clock
(tests/test_layers.py checks it).
"""

from sigv4_inspector.core.model import (
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
