"""``sowcast export keygen`` and ``sowcast export sign``: the keys that sign bundles, and the
signing of a bundle already written (:mod:`sowcast.bundle.signature`). Torch-free."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from sowcast.errors import SowcastError
from sowcast.log import get_logger

_LOG = get_logger("export")


def _sign_key(cfg: DictConfig) -> str:
    value = cfg.export.get("sign_key")
    if value is None or not str(value).strip() or str(value).strip().lower() in ("null", "none"):
        raise SowcastError("export.sign_key is not set: give the private key file, e.g. export.sign_key=keys/agency-2026.key")
    return str(value)


def keygen(cfg: DictConfig) -> int:
    """Make a new Ed25519 key pair for signing bundles: export.sign_key=keys/NAME.key writes
    keys/NAME.key (the private key, mode 0600: it stays with whoever exports bundles) and
    keys/NAME.pub (the public key, for the met services' forecast.trusted_keys). An existing
    file is never overwritten.

        sowcast export keygen export.sign_key=keys/agency-2026.key

    Then: sowcast export ... export.sign_key=keys/agency-2026.key (or sowcast export sign) and,
    at the edge, forecast.trusted_keys=[keys/agency-2026.pub]. Key workflow: deploy/edge/README.md.
    """
    from sowcast.bundle.signature import generate_keypair

    key_path, pub_path, fp = generate_keypair(_sign_key(cfg))
    print(f"private key {key_path} (mode 0600: keep it where bundles are exported, never on an edge box)")
    print(f"public key  {pub_path} (give it to each met service for forecast.trusted_keys)")
    print(f"fingerprint {fp}")
    return 0


def sign(cfg: DictConfig) -> int:
    """Sign the bundle folder export.output with export.sign_key: writes manifest.sig, the
    Ed25519 signature of its manifest.json, and rewrites <output>.tar.gz when it exists. The
    bundle must verify first; an older signature is replaced. For a bundle exported unsigned,
    or one whose signature was dropped when sowcast hindcast/calibrate added a file.

        sowcast export sign export.output=bundles/small export.sign_key=keys/agency-2026.key
    """
    from sowcast.atomic import atomic_path
    from sowcast.bundle.manifest import MANIFEST_FILE, SIGNATURE_FILE
    from sowcast.bundle.reader import is_archive, load_bundle, write_archive
    from sowcast.bundle.signature import load_private_key, signature_bytes

    key = load_private_key(_sign_key(cfg))
    folder = Path(str(cfg.export.output))
    if is_archive(folder) or not folder.is_dir():
        raise SowcastError(f"export.output={folder} is not a bundle folder (sign the folder; its archive is rewritten)")
    bundle = load_bundle(folder)  # refuses a damaged bundle, or one whose old signature does not verify
    data = (folder / MANIFEST_FILE).read_bytes()
    with atomic_path(folder / SIGNATURE_FILE, overwrite=True) as tmp:
        tmp.write_bytes(signature_bytes(data, key))
    signed = load_bundle(folder)
    print(f"signed {folder} (manifest {bundle.sha256}) with key {signed.signed_by}")
    archive = folder.with_name(folder.name + ".tar.gz")
    if archive.exists():
        write_archive(folder, archive, overwrite=True)
        _LOG.info(f"archive {archive} rewritten")
    return 0
