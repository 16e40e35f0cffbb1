"""Key derivation: SigV4 signing keys (HMAC chain) and SigV4a ECDSA P-256 key pairs
(NIST SP 800-108 counter-mode KDF, exactly as aws-c-auth derives them).

Keys are cached (SigV4 per secret/date/region/service, SigV4a per access key id and
secret) and never leave this module except as opaque objects used to sign or verify.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

# Order of the NIST P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SIGV4A_ALGORITHM = "AWS4-ECDSA-P256-SHA256"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8", "surrogateescape"), "sha256")


@lru_cache(maxsize=512)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")."""
    k_date = _hmac(("AWS4" + secret).encode("utf-8", "surrogateescape"), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, "aws4_request")


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


@lru_cache(maxsize=512)
def _hmac_pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """SHA-256 states after the HMAC inner and outer pads of a (cached) signing key: each
    signature then costs two hash copies, not a new HMAC object (about half the time)."""
    block = (
        key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    )
    inner = hashlib.sha256(block.translate(_IPAD))
    outer = hashlib.sha256(block.translate(_OPAD))
    return inner, outer


def sigv4_signature(key: bytes, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 of the string to sign."""
    inner, outer = _hmac_pads(key)
    i = inner.copy()
    i.update(string_to_sign.encode("utf-8", "surrogateescape"))
    o = outer.copy()
    o.update(i.digest())
    return o.hexdigest()


def normal_signature(sig: str) -> str:
    """A provided hex signature as computed ones are written (trimmed, lower case)."""
    return sig.strip().lower()


def signature_matches(computed: str, provided_normal: str) -> bool:
    """Constant-time comparison of a computed signature with a normalised provided one."""
    return hmac.compare_digest(
        computed.encode("ascii"), provided_normal.encode("utf-8", "surrogateescape")
    )


@lru_cache(maxsize=256)
def sigv4a_private_key(access_key_id: str, secret: str) -> ec.EllipticCurvePrivateKey:
    """Derive the SigV4a P-256 private key from the credentials.

    HMAC key = "AWS4A" + secret; input = 0x00000001 || "AWS4-ECDSA-P256-SHA256" || 0x00 ||
    access_key_id || counter (1 byte, from 1) || 0x00000100 (256 bits); k0 = output as a
    big-endian integer; retry with the next counter while k0 > n - 2; d = k0 + 1.
    """
    hkey = ("AWS4A" + secret).encode("utf-8", "surrogateescape")
    fixed = SIGV4A_ALGORITHM.encode() + b"\x00" + access_key_id.encode("utf-8", "surrogateescape")
    for counter in range(1, 255):
        data = b"\x00\x00\x00\x01" + fixed + bytes([counter]) + b"\x00\x00\x01\x00"
        k0 = int.from_bytes(hmac.new(hkey, data, hashlib.sha256).digest(), "big")
        if k0 <= P256_N - 2:
            return ec.derive_private_key(k0 + 1, ec.SECP256R1())
    raise ValueError("SigV4a key derivation did not converge")  # pragma: no cover


def sigv4a_public_xy(access_key_id: str, secret: str) -> tuple[str, str]:
    """The derived public key's affine coordinates as 64-char lowercase hex."""
    nums = sigv4a_private_key(access_key_id, secret).public_key().public_numbers()
    return f"{nums.x:064x}", f"{nums.y:064x}"


def sigv4a_verify(
    public_key: ec.EllipticCurvePublicKey, string_to_sign: str, signature_hex: str
) -> bool:
    """Verify a hex DER ECDSA signature over SHA-256(string to sign). ``*`` padding is
    stripped (chunk signatures are padded to 144 characters)."""
    sig_hex = signature_hex.strip().rstrip("*")
    try:
        der = bytes.fromhex(sig_hex)
    except ValueError:
        return False
    digest = hashlib.sha256(string_to_sign.encode("utf-8", "surrogateescape")).digest()
    try:
        public_key.verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError):
        return False
    return True


def sigv4a_sign(private_key: ec.EllipticCurvePrivateKey, string_to_sign: str) -> str:
    """Hex DER ECDSA signature (used by tests and the demo to build SigV4a requests)."""
    digest = hashlib.sha256(string_to_sign.encode("utf-8", "surrogateescape")).digest()
    return private_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))).hex()
