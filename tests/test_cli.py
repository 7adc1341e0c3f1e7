"""The sowcast command line: help, config composition, one-line errors."""

from sowcast.cli.main import COMMANDS, compose


def test_help_lists_every_command(sowcast_cli):
    r = sowcast_cli("--help")
    assert r.returncode == 0
    for name in COMMANDS:
        assert name in r.stdout


def test_command_help_shows_config(sowcast_cli):
    r = sowcast_cli("data", "synth", "--help")
    assert r.returncode == 0, r.stderr
    assert "synth:" in r.stdout and "seed:" in r.stdout


def test_overrides_compose():
    cfg = compose(["data.synth.seed=7", "cluster=local_cluster"])
    assert cfg.data.synth.seed == 7
    assert cfg.cluster.address == "local-cluster"


def test_bad_override_is_one_line_error(sowcast_cli):
    r = sowcast_cli("data", "synth", "data.synth.no_such_key=1")
    assert r.returncode == 2
    assert r.stderr.startswith("sowcast: error: bad configuration override")
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_unknown_command_is_one_line_error(sowcast_cli):
    r = sowcast_cli("fly")
    assert r.returncode == 2
    assert r.stderr.strip() == "sowcast: error: unknown command 'fly'; run 'sowcast --help'"


def test_describe_missing_store_is_one_line_error(sowcast_cli, tmp_path):
    r = sowcast_cli("data", "describe", f"data.store={tmp_path / 'nope.zarr'}")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "no store at" in r.stderr
