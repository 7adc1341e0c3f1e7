"""Signed bundles (issue 16): keys from ``sowcast export keygen``, ``manifest.sig`` written by
``sowcast export sign``, and the reader's verdicts: a good signature loads (and names its
key); a one-bit flip of the manifest or of the signature, a wrong key, an unsigned bundle
where trusted keys are set are each refused with one line naming the bundle and why. The
bundle is the torch-free one of test_reader.py; every check is the real cryptography."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from sowcast.bundle import add_file_to_bundle, load_bundle, write_archive  # noqa: E402
from sowcast.bundle.reader import offer_file_to_bundle  # noqa: E402
from sowcast.bundle.signature import (  # noqa: E402
    check_signature,
    generate_keypair,
    load_private_key,
    load_public_key,
    load_trusted_keys,
    sign_folder,
)
from sowcast.cli.main import main  # noqa: E402
from sowcast.errors import SowcastError  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_reader import _judge_flips, make_bundle  # noqa: E402


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """Two key pairs made by the command: ``agency`` (trusted) and ``other``."""
    folder = tmp_path_factory.mktemp("keys")
    for name in ("agency", "other"):
        assert main(["export", "keygen", f"export.sign_key={folder / name}.key"]) == 0
    return {"agency": folder / "agency.key", "agency_pub": folder / "agency.pub",
            "other": folder / "other.key", "other_pub": folder / "other.pub"}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("pristine") / "bundle")


@pytest.fixture
def signed(pristine, keys, tmp_path) -> Path:
    folder = Path(shutil.copytree(pristine, tmp_path / "bundle"))
    assert main(["export", "sign", f"export.output={folder}", f"export.sign_key={keys['agency']}"]) == 0
    return folder


def one_line_refusal(fn, *needles: str) -> str:
    with pytest.raises(SowcastError) as info:
        fn()
    text = str(info.value)
    assert "\n" not in text and all(n in text for n in needles), text
    return text


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(keys, tmp_path, capsys):
    assert stat.S_IMODE(keys["agency"].stat().st_mode) == 0o600
    assert keys["agency_pub"].read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert keys["agency"].read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    private, public = load_private_key(keys["agency"]), load_public_key(keys["agency_pub"])
    assert private.public_key() == public
    before = keys["agency"].read_bytes()
    capsys.readouterr()
    assert main(["export", "keygen", f"export.sign_key={keys['agency']}"]) == 2
    assert "exists already; a key is never overwritten" in capsys.readouterr().err
    assert keys["agency"].read_bytes() == before
    # A prefix without .key works too, with the umask wide open.
    old = os.umask(0)
    try:
        key, pub, fp = generate_keypair(tmp_path / "plain")
    finally:
        os.umask(old)
    assert (key, pub) == (tmp_path / "plain.key", tmp_path / "plain.pub")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(fp) == 64


def test_signed_bundle_loads_with_and_without_trusted_keys(signed, keys):
    fp = next(iter(load_trusted_keys([keys["agency_pub"]])))
    assert load_bundle(signed).signed_by == fp
    assert load_bundle(signed, trusted_keys=[keys["agency_pub"]]).signed_by == fp
    assert load_bundle(signed, trusted_keys=[keys["other_pub"], keys["agency_pub"]]).signed_by == fp
    # The archive carries the signature (manifest.sig is not an unlisted file).
    archive = write_archive(signed)
    assert load_bundle(archive, trusted_keys=[keys["agency_pub"]]).signed_by == fp
    sig = json.loads((signed / "manifest.sig").read_text())
    assert sig["key"] == fp and sig["algorithm"] == "ed25519"


def test_unsigned_bundle_is_refused_only_when_trusted_keys_are_set(pristine, keys):
    assert load_bundle(pristine).signed_by is None
    assert load_bundle(pristine, trusted_keys=[]).signed_by is None
    one_line_refusal(lambda: load_bundle(pristine, trusted_keys=[keys["agency_pub"]]),
                     f"bundle {pristine}: unsigned (no manifest.sig)")


def test_wrong_key_is_refused(signed, keys):
    one_line_refusal(lambda: load_bundle(signed, trusted_keys=[keys["other_pub"]]),
                     f"bundle {signed}: signed by an unknown key")
    # A forger who re-signs the bundle with their own key is still unknown.
    sign_folder(signed, load_private_key(keys["other"]))
    one_line_refusal(lambda: load_bundle(signed, trusted_keys=[keys["agency_pub"]]), "signed by an unknown key")
    # ... and naming the trusted key's fingerprint over their own public key does not verify.
    sig = json.loads((signed / "manifest.sig").read_text())
    sig["key"] = next(iter(load_trusted_keys([keys["agency_pub"]])))
    (signed / "manifest.sig").write_text(json.dumps(sig))
    one_line_refusal(lambda: load_bundle(signed, trusted_keys=[keys["agency_pub"]]), "bad signature")


def _flips(data: bytes, read, bits=range(8)) -> tuple[int, list]:
    """test_reader's flip judge with the same bits at every byte; a refusal must be one line."""
    tried, accepted, other = _judge_flips(data, lambda i: bits, read)
    assert other == [], other[:3]
    return tried, accepted


def test_every_one_bit_flip_of_the_signature_or_the_manifest_is_refused(signed, keys):
    trusted = load_trusted_keys([keys["agency_pub"]])
    manifest, sig = (signed / "manifest.json").read_bytes(), (signed / "manifest.sig").read_bytes()
    assert check_signature(manifest, sig, trusted, "b") == check_signature(manifest, sig, None, "b")
    for judge in (trusted, None):  # with trusted keys, and without: a signature present must verify
        tried, accepted = _flips(sig, lambda s: check_signature(manifest, s, judge, "b"))
        assert tried == 8 * len(sig) and accepted == [], accepted[:5]
        tried, accepted = _flips(manifest, lambda m: check_signature(m, sig, judge, "b"))
        assert tried == 8 * len(manifest) and accepted == [], accepted[:5]
    # One bit per byte of manifest.sig through the whole reader from disk, no trusted keys.
    path = signed / "manifest.sig"

    def load(flipped: bytes) -> None:
        path.write_bytes(flipped)
        load_bundle(signed)

    tried, accepted = _flips(sig, load, bits=[3])
    assert tried == len(sig) and accepted == []


def test_adding_a_file_drops_the_signature_and_sign_puts_it_back(signed, keys, tmp_path, capsys):
    extra = tmp_path / "climatology.nc"
    shutil.copyfile(signed / "static.nc", extra)
    line = offer_file_to_bundle(signed, extra, "climatology", "products.climatology")
    assert "its signature was dropped" in line and "sowcast export sign" in line
    assert not (signed / "manifest.sig").exists() and load_bundle(signed).signed_by is None
    one_line_refusal(lambda: load_bundle(signed, trusted_keys=[keys["agency_pub"]]), "unsigned")
    assert main(["export", "sign", f"export.output={signed}", f"export.sign_key={keys['agency']}"]) == 0
    assert load_bundle(signed, trusted_keys=[keys["agency_pub"]]).climatology_path is not None
    # An old signature kept beside a changed manifest would be refused, not passed over.
    old_sig = (signed / "manifest.sig").read_bytes()
    add_file_to_bundle(signed, extra, "calibration")
    (signed / "manifest.sig").write_bytes(old_sig)
    one_line_refusal(lambda: load_bundle(signed), "bad signature (it signs another manifest.json")


def test_key_files_that_are_not_what_they_should_be(keys, tmp_path):
    loose = tmp_path / "loose.key"
    shutil.copyfile(keys["agency"], loose)
    loose.chmod(0o644)
    one_line_refusal(lambda: load_private_key(loose), "may be read by others (mode 644)", "chmod 600")
    one_line_refusal(lambda: load_private_key(keys["agency_pub"]), "is a public key")
    one_line_refusal(lambda: load_public_key(keys["agency"]), "is a private key; give its .pub")
    ec_key = tmp_path / "ec.key"
    ec_key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ec_key.chmod(0o600)
    one_line_refusal(lambda: load_private_key(ec_key), "not Ed25519")
    junk = tmp_path / "junk.pub"
    junk.write_text("ssh-ed25519 AAAA not a PEM key\n")
    one_line_refusal(lambda: load_public_key(junk), "is not a PEM public key")
    one_line_refusal(lambda: load_public_key(tmp_path / "absent.pub"), "no key file at")


def test_sign_says_its_result_on_stdout_and_its_progress_as_log_lines(pristine, keys, tmp_path, sowcast_cli):
    """``sowcast export sign``: the result line on stdout; the archive's rewrite a log line on
    stderr, which -q silences and -v keeps (sowcast.log)."""
    folder = Path(shutil.copytree(pristine, tmp_path / "bundle"))
    write_archive(folder)
    args = ["export", "sign", f"export.output={folder}", f"export.sign_key={keys['agency']}"]
    env = {"SOWCAST_LOG_LEVEL": ""}
    for flags, logged in (([], True), (["-q"], False), (["-v"], True)):
        r = sowcast_cli(*flags, *args, env=env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"signed {folder} (manifest ") and r.stdout.count("\n") == 1
        line = f"sowcast export: archive {folder.with_name('bundle.tar.gz')} rewritten"
        assert (r.stderr.splitlines() == [line]) if logged else (r.stderr == ""), (flags, r.stderr)
    assert load_bundle(folder.with_name("bundle.tar.gz"), trusted_keys=[keys["agency_pub"]]).signed_by
