"""Ed25519 signature of a bundle: ``manifest.sig`` beside ``manifest.json``.

The manifest already carries the sha256 of every other file and of itself
(:mod:`sowcast.bundle.manifest`), so one signature over its bytes covers the whole bundle.
Ed25519 (RFC 8032) through the ``cryptography`` library; the signed message is the exact
bytes of ``manifest.json``, so ``openssl pkeyutl -verify -rawin`` checks it too.

``manifest.sig`` is one JSON object::

    {"format": "sowcast-signature-1", "algorithm": "ed25519",
     "key": "<fingerprint: sha256 hex of the raw 32-byte public key>",
     "public_key": "<base64 of the raw 32-byte public key>",
     "manifest_sha256": "<sha256 hex of the signed manifest.json bytes>",
     "signature": "<base64 of the 64-byte Ed25519 signature>"}

Key files (``sowcast export keygen``): ``<prefix>.key`` the private key (PKCS#8 PEM, mode
0600, refused when others may read it, like ssh), ``<prefix>.pub`` the public key
(SubjectPublicKeyInfo PEM). The key workflow is in deploy/edge/README.md.

:func:`check_signature` decides, in one line naming the bundle when it refuses:

* trusted keys given: the bundle must carry a signature made by one of them (refused:
  unsigned, signed by an unknown key, bad signature);
* none given: an unsigned bundle is accepted as before; a signed one must still verify
  against the key it names (a damaged signature is never passed over as if absent).

Returns the signer's fingerprint (None when unsigned), recorded in the forecast's attributes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sowcast.bundle.manifest import MANIFEST_FILE, SIGNATURE_FILE
from sowcast.errors import SowcastError

SIGNATURE_FORMAT = "sowcast-signature-1"
ALGORITHM = "ed25519"
SIGNATURE_KEYS = ("format", "algorithm", "key", "public_key", "manifest_sha256", "signature")
PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub"
MAX_KEY_BYTES = 16384        # a PEM Ed25519 key is ~120 bytes; anything this big is not one
MAX_SIGNATURE_BYTES = 4096


# -- keys ----------------------------------------------------------------------------------------
def fingerprint(public_key: Ed25519PublicKey) -> str:
    """sha256 hex of the raw 32-byte public key: the key's name in signatures and messages."""
    return hashlib.sha256(_raw(public_key)).hexdigest()


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_paths(prefix: str | os.PathLike) -> tuple[Path, Path]:
    """``(<prefix>.key, <prefix>.pub)``; a prefix given as ``name.key`` counts as ``name``."""
    text = str(prefix)
    if text.endswith(PRIVATE_SUFFIX):
        text = text[:-len(PRIVATE_SUFFIX)]
    if not text or text.endswith(("/", os.sep)):
        raise SowcastError(f"key prefix {str(prefix)!r} names no file (e.g. keys/agency-2026)")
    return Path(text + PRIVATE_SUFFIX), Path(text + PUBLIC_SUFFIX)


def generate_keypair(prefix: str | os.PathLike) -> tuple[Path, Path, str]:
    """Write a new ``<prefix>.key`` (mode 0600) and ``<prefix>.pub``; refuse to overwrite
    either. Returns both paths and the fingerprint."""
    key_path, pub_path = key_paths(prefix)
    for path in (key_path, pub_path):
        if path.exists() or path.is_symlink():
            raise SowcastError(f"{path} exists already; a key is never overwritten (choose another prefix)")
    if not key_path.parent.is_dir():
        raise SowcastError(f"no folder {key_path.parent} for the key files")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    pub = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # O_EXCL: never over a file or link
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        fd = os.open(pub_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, pub)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        key_path.unlink(missing_ok=True)  # both or neither
        raise
    return key_path, pub_path, fingerprint(private.public_key())


def _read_key_file(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise SowcastError(f"{what}: no key file at {path}")
    if path.stat().st_size > MAX_KEY_BYTES:
        raise SowcastError(f"{what}: {path} is not a key file (too large)")
    return path.read_bytes()


def load_private_key(path: str | os.PathLike, what: str = "export.sign_key") -> Ed25519PrivateKey:
    """The Ed25519 private key of a ``.key`` file; refused if others may read it (mode 0600)."""
    path = Path(path)
    data = _read_key_file(path, what)
    if b"PUBLIC KEY" in data and b"PRIVATE KEY" not in data:
        raise SowcastError(f"{what}: {path} is a public key; signing needs the private key (<prefix>.key)")
    mode = path.stat().st_mode & 0o777
    if os.name == "posix" and mode & 0o077:
        raise SowcastError(f"{what}: {path} may be read by others (mode {mode:03o}); a private key must be "
                           f"private: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SowcastError(f"{what}: {path} is encrypted; sowcast reads unencrypted keys kept in a private "
                           "account (deploy/edge/README.md)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise SowcastError(f"{what}: {path} is not a PEM private key (make one with: sowcast export keygen)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SowcastError(f"{what}: {path} is a {type(key).__name__.removeprefix('_')} key, not Ed25519 "
                           "(make one with: sowcast export keygen)")
    return key


def load_public_key(path: str | os.PathLike, what: str = "trusted_keys") -> Ed25519PublicKey:
    """The Ed25519 public key of a ``.pub`` file (PEM); a private key given here is refused."""
    path = Path(path)
    data = _read_key_file(path, what)
    if b"PRIVATE KEY" in data:
        raise SowcastError(f"{what}: {path} is a private key; give its .pub (a private key never goes "
                           "to the edge)")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise SowcastError(f"{what}: {path} is not a PEM public key (the .pub of sowcast export keygen)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SowcastError(f"{what}: {path} is not an Ed25519 public key")
    return key


def trusted_key_paths(value: Any, what: str) -> tuple[str, ...]:
    """The ``trusted_keys`` option as paths: null or ``[]`` is none; one path or a list."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null", "none")):
        return ()
    if isinstance(value, (str, os.PathLike)):
        return (str(value),)
    if isinstance(value, Sequence) and all(isinstance(v, (str, os.PathLike)) for v in value):
        return tuple(str(v) for v in value)
    raise SowcastError(f"{what} must be a list of public key files (.pub), not {value!r}")


def trusted_keys_option(value: Any, what: str) -> tuple[str, ...]:
    """The ``trusted_keys`` option of a command (``forecast.trusted_keys``, ...): its paths,
    each key read now, so a bad key file fails when the options are parsed."""
    paths = trusted_key_paths(value, what)
    load_trusted_keys(paths, what)
    return paths


def load_trusted_keys(paths: Sequence[str | os.PathLike], what: str = "trusted_keys") -> dict[str, Ed25519PublicKey]:
    """``{fingerprint: key}`` of the public key files ``paths``."""
    return {fingerprint(k): k for k in (load_public_key(p, what) for p in paths)}


# -- signing -----------------------------------------------------------------------------------------
def signature_bytes(manifest_data: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """The bytes of ``manifest.sig`` for the bytes of ``manifest.json`` (module doc)."""
    public = private_key.public_key()
    entry = {"format": SIGNATURE_FORMAT, "algorithm": ALGORITHM, "key": fingerprint(public),
             "public_key": base64.b64encode(_raw(public)).decode(),
             "manifest_sha256": hashlib.sha256(manifest_data).hexdigest(),
             "signature": base64.b64encode(private_key.sign(manifest_data)).decode()}
    return (json.dumps(entry, indent=1) + "\n").encode()


def sign_folder(folder: str | os.PathLike, private_key: Ed25519PrivateKey) -> str:
    """Write ``manifest.sig`` for the ``manifest.json`` of ``folder``; returns the fingerprint.
    The caller publishes the folder (the export signs inside its temporary folder)."""
    folder = Path(folder)
    data = (folder / MANIFEST_FILE).read_bytes()
    sig = signature_bytes(data, private_key)
    check_signature(data, sig, None, str(folder))  # what is written reads back
    (folder / SIGNATURE_FILE).write_bytes(sig)
    return fingerprint(private_key.public_key())


# -- checking ----------------------------------------------------------------------------------------
def _parse(sig_data: bytes, bundle: str) -> dict[str, Any]:
    bad = f"bundle {bundle}: bad signature ({SIGNATURE_FILE} is damaged"
    if len(sig_data) > MAX_SIGNATURE_BYTES:
        raise SowcastError(f"{bad}: too large)")
    try:
        entry = json.loads(sig_data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SowcastError(f"{bad}: not JSON)") from None
    if not isinstance(entry, Mapping) or sorted(entry) != sorted(SIGNATURE_KEYS) \
            or not all(isinstance(entry[k], str) for k in SIGNATURE_KEYS):
        raise SowcastError(f"{bad}: keys must be {', '.join(SIGNATURE_KEYS)}, all strings)")
    if entry["format"] != SIGNATURE_FORMAT or entry["algorithm"] != ALGORITHM:
        raise SowcastError(f"bundle {bundle}: bad signature ({SIGNATURE_FILE} is {entry['format']} "
                           f"{entry['algorithm']}; this sowcast reads {SIGNATURE_FORMAT} {ALGORITHM})")
    try:
        raw_key = base64.b64decode(entry["public_key"], validate=True)
        raw_sig = base64.b64decode(entry["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise SowcastError(f"{bad}: not base64)") from None
    if len(raw_key) != 32 or len(raw_sig) != 64:
        raise SowcastError(f"{bad}: a 32-byte key and a 64-byte signature expected)")
    if base64.b64encode(raw_key).decode() != entry["public_key"] or base64.b64encode(raw_sig).decode() != entry["signature"]:
        raise SowcastError(f"{bad}: base64 not in its one canonical form)")  # unused low bits set: not as written
    return {**entry, "raw_key": raw_key, "raw_sig": raw_sig}


def check_signature(manifest_data: bytes, sig_data: bytes | None,
                    trusted: Mapping[str, Ed25519PublicKey] | None, bundle: str) -> str | None:
    """Judge the signature of the manifest bytes (module doc); returns the signer's
    fingerprint, or None for an unsigned bundle accepted because ``trusted`` is empty."""
    if sig_data is None:
        if trusted:
            raise SowcastError(f"bundle {bundle}: unsigned (no {SIGNATURE_FILE}) but trusted_keys is set: "
                               "only bundles signed by a trusted key are accepted")
        return None
    entry = _parse(sig_data, bundle)
    own = Ed25519PublicKey.from_public_bytes(entry["raw_key"])
    named = entry["key"]
    if fingerprint(own) != named:
        raise SowcastError(f"bundle {bundle}: bad signature ({SIGNATURE_FILE}: its public key does not match "
                           f"the fingerprint {named})")
    if trusted:
        if named not in trusted:
            raise SowcastError(f"bundle {bundle}: signed by an unknown key {named} (not one of trusted_keys)")
        key = trusted[named]
    else:
        key = own
    if entry["manifest_sha256"] != hashlib.sha256(manifest_data).hexdigest():
        raise SowcastError(f"bundle {bundle}: bad signature (it signs another {MANIFEST_FILE}: the bundle "
                           "changed after signing, or was tampered with; sign it again: sowcast export sign)")
    try:
        key.verify(entry["raw_sig"], manifest_data)
    except InvalidSignature:
        raise SowcastError(f"bundle {bundle}: bad signature ({SIGNATURE_FILE} does not verify with key "
                           f"{named}: tampered or corrupt)") from None
    return named
