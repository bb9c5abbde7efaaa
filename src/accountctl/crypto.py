"""The only module that calls cryptographic primitives; each function composes library calls.

Nothing here invents a primitive: AES-256-GCM, Argon2id, HKDF-SHA256, X25519 and Ed25519 all come
from `cryptography`. Imports are inside functions so `otp` and `cred show` load only what they use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

NONCE_LEN = 12
TAG_LEN = 16
KEY_LEN = 32
SALT_LEN = 16


class CryptoFailure(Exception):
    """Authentication of a ciphertext failed (wrong key or altered data)."""


def random_bytes(n: int) -> bytes:
    """`n` bytes from the OS CSPRNG."""
    return os.urandom(n)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a fresh random nonce; returns nonce || ciphertext || tag."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Inverse of `seal`; raises CryptoFailure when the key is wrong or anything was altered."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(blob) < NONCE_LEN + TAG_LEN:
        raise CryptoFailure("ciphertext too short")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], aad)
    except InvalidTag:
        raise CryptoFailure("authentication failed") from None


def encrypt_with_nonce(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a caller-chosen nonce (the body: its nonce lives in the header)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key).encrypt(nonce, plaintext, aad)


def encrypt_to(handle, key: bytes, nonce: bytes, plaintext, aad: bytes, chunk: int = 1 << 20) -> None:
    """AES-256-GCM, streamed to a file in chunks: the ciphertext is never held whole in memory.

    Writes ciphertext || tag, exactly what `encrypt_with_nonce` returns.
    """
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    view = memoryview(plaintext)
    for start in range(0, len(view), chunk):
        handle.write(encryptor.update(view[start : start + chunk]))
    handle.write(encryptor.finalize())
    handle.write(encryptor.tag)


def decrypt_with_nonce(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Inverse of `encrypt_with_nonce`; raises CryptoFailure."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise CryptoFailure("authentication failed") from None


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: memory in KiB, iterations (time cost) and lanes (parallelism)."""

    memory_kib: int
    iterations: int
    lanes: int


def argon2id(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """Derive a 32-byte key-encryption key from a passphrase."""
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    return Argon2id(
        salt=salt,
        length=KEY_LEN,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    ).derive(passphrase.encode("utf-8"))


def hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 to 32 bytes: for the high-entropy recovery key and X25519 shared secrets."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=KEY_LEN, salt=salt, info=info).derive(secret)


def x25519_keypair() -> tuple[bytes, bytes]:
    """A new X25519 key pair as raw (private, public) bytes."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    private = X25519PrivateKey.generate()
    return _raw_private(private), _raw_public(private.public_key())


def seal_to(recipient_public: bytes, plaintext: bytes, info: bytes, aad: bytes) -> bytes:
    """Encrypt to an X25519 public key, as age's X25519 recipient does.

    An ephemeral key pair's shared secret goes through HKDF (salt: both public keys; info: a
    versioned label) to an AES-256-GCM key. Returns ephemeral public || nonce || ciphertext || tag.
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = _raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    key = hkdf(shared, ephemeral_public + recipient_public, info)
    return ephemeral_public + seal(key, plaintext, aad)


def open_sealed_to(recipient_private: bytes, blob: bytes, info: bytes, aad: bytes) -> bytes:
    """Inverse of `seal_to`; raises CryptoFailure."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

    if len(blob) < 32 + NONCE_LEN + TAG_LEN:
        raise CryptoFailure("sealed key too short")
    private = X25519PrivateKey.from_private_bytes(recipient_private)
    ephemeral_public = blob[:32]
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    except ValueError:
        raise CryptoFailure("bad ephemeral key") from None
    key = hkdf(shared, ephemeral_public + _raw_public(private.public_key()), info)
    return open_sealed(key, blob[32:], aad)


def x25519_public_of(private: bytes) -> bytes:
    """The raw public key of a raw X25519 private key."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return _raw_public(X25519PrivateKey.from_private_bytes(private).public_key())


def ed25519_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 signing key pair as raw (private, public) bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    return _raw_private(private), _raw_public(private.public_key())


def ed25519_public_of(private: bytes) -> bytes:
    """The raw public key of a raw Ed25519 private key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return _raw_public(Ed25519PrivateKey.from_private_bytes(private).public_key())


def sign(private: bytes, message: bytes) -> bytes:
    """Ed25519 signature of `message`."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(private).sign(message)


def verify_signature(public: bytes, signature: bytes, message: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by `public`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _raw_private(key) -> bytes:
    return key.private_bytes_raw()  # not private_bytes(...): that imports the serialization package (4 ms)


def _raw_public(key) -> bytes:
    return key.public_bytes_raw()
