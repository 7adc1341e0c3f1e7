"""The operator's surface of ``sowcast``: --version, per-command --help, a closed pipe, log levels."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from sowcast.cli.main import COMMANDS
from sowcast.config_tree import default_config_dir, top_level_block
from sowcast.log import LineFormatter, get_logger, level_from
from sowcast.serve.settings import STEPS

CONF = default_config_dir()


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_is_the_installed_package_version(sowcast_cli, flag):
    r = sowcast_cli(flag)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"sowcast {metadata.version('sowcast')}\n" and r.stderr == ""


def test_command_help_shows_its_own_options_not_the_whole_config(sowcast_cli):
    r = sowcast_cli("forecast", "--help")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"sowcast forecast: {COMMANDS['forecast'].summary}\n")
    assert "\nforecast:\n" in out and "overwrite: false" in out
    assert "\n  checkpoint_every: 5 " in out and "# steps between saved rollout states" in out  # from the schema
    # Not the other stages' sections, nor the whole composed config.
    for other in ("train", "serve", "bulletin", "products", "model", "demo"):
        assert f"\n{other}:" not in out
    assert len(out.splitlines()) < 100


def test_command_help_follows_a_group_override(sowcast_cli):
    r = sowcast_cli("train", "model=tiny", "--help")
    assert r.returncode == 0, r.stderr
    assert str(CONF / "model" / "tiny.yaml") in r.stdout and "name: tiny" in r.stdout
    assert "data.store: " in r.stdout  # a key elsewhere that train reads, with its value


def test_every_command_names_sections_that_exist():
    config_yaml = (CONF / "config.yaml").read_text()
    for name, command in COMMANDS.items():
        for section in command.sections:
            assert (CONF / section).is_dir() or top_level_block(config_yaml, section) is not None, (name, section)


def test_the_service_chain_steps_are_commands():
    """serve/settings.py no longer asks sowcast.cli at run time: this keeps its steps real commands."""
    assert set(STEPS) <= set(COMMANDS)


@pytest.mark.parametrize("args", [["--help"], ["forecast", "--help"], ["forecast", "--cfg", "job"]])
def test_output_into_a_closed_pipe_ends_quietly(args):
    """``sowcast ... | head`` with head gone: no traceback, status 141 as for SIGPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: the first write fails with EPIPE
    try:
        r = subprocess.run([sys.executable, "-m", "sowcast", *args], stdout=write_end, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    finally:
        os.close(write_end)
    assert r.returncode == 141, r.stderr
    assert r.stderr == ""


def _record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_log_lines_name_the_component_and_the_level():
    plain, journal = LineFormatter(), LineFormatter(journal=True)
    assert plain.format(_record("sowcast.serve", logging.INFO, "stopped")) == "sowcast serve: stopped"
    assert plain.format(_record("sowcast.bulletin", logging.WARNING, "x")) == "sowcast bulletin: warning: x"
    assert plain.format(_record("sowcast", logging.ERROR, "x")) == "sowcast: error: x"
    assert journal.format(_record("sowcast.serve", logging.INFO, "a\nb")) == "<6>sowcast serve: a\n<6>b"
    assert journal.format(_record("sowcast.serve", logging.WARNING, "x")) == "<4>sowcast serve: warning: x"
    assert journal.format(_record("sowcast.serve", logging.DEBUG, "x")) == "<7>sowcast serve: x"
    get_logger("demo", prefix="[demo] ")
    assert plain.format(_record("sowcast.demo", logging.INFO, "ingest: done in 1 s")) == "[demo] ingest: done in 1 s"


def test_level_from_flags_then_environment():
    assert level_from(0, {}) == logging.INFO
    assert level_from(1, {"SOWCAST_LOG_LEVEL": "error"}) == logging.DEBUG
    assert level_from(-1, {}) == logging.WARNING and level_from(-2, {}) == logging.ERROR
    assert level_from(0, {"SOWCAST_LOG_LEVEL": "warning"}) == logging.WARNING


_LOGS = "from sowcast.cli.main import main; import sys; sys.exit(main(sys.argv[1:]))"


def _synth(tmp_path: Path, *flags: str, env: dict | None = None, stderr=subprocess.PIPE):
    """``sowcast data synth`` of 2 days on a 3 x 3 grid: one INFO line when it has written."""
    out = tmp_path / f"raw{len(list(tmp_path.iterdir()))}"
    args = [*flags, "data", "synth", f"data.synth.output={out}", "data.synth.start=2000-01-01",
            "data.synth.end=2000-01-02", "data.synth.grid={lat_min: 10, lat_max: 12, lon_min: 0, lon_max: 2, resolution: 1}",
            "progress=false"]
    r = subprocess.run([sys.executable, "-c", _LOGS, *args], stderr=stderr, stdout=subprocess.PIPE, text=True,
                       timeout=300, env={**os.environ, **(env or {})})
    return r, out


@pytest.mark.slow
def test_quiet_verbose_and_the_environment_set_the_level(tmp_path):
    r, out = _synth(tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"sowcast data: wrote 1 yearly files to {out}" in r.stderr.splitlines()
    r, _ = _synth(tmp_path, "-q")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r, _ = _synth(tmp_path, env={"SOWCAST_LOG_LEVEL": "warning"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r, _ = _synth(tmp_path, "-v", env={"SOWCAST_LOG_LEVEL": "warning"})
    assert r.returncode == 0 and "sowcast data: wrote" in r.stderr
    r, _ = _synth(tmp_path, env={"SOWCAST_LOG_LEVEL": "loud"})
    assert r.returncode == 2
    assert r.stderr.strip() == ("sowcast: error: SOWCAST_LOG_LEVEL=loud is not a level; "
                                "use one of debug, info, warning, error, critical")


@pytest.mark.slow
def test_under_systemd_lines_carry_the_syslog_priority(tmp_path):
    """JOURNAL_STREAM names stderr's device:inode (systemd.exec(5)): a file stands in for the journal."""
    log_path = tmp_path / "journal.log"
    with open(log_path, "w") as stderr:
        st = os.fstat(stderr.fileno())
        r, out = _synth(tmp_path, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stderr=stderr)
    assert r.returncode == 0, log_path.read_text()
    assert f"<6>sowcast data: wrote 1 yearly files to {out}" in log_path.read_text().splitlines()
    # The same variable inherited by a process whose stderr is elsewhere (a step's log file): plain lines.
    r, out = _synth(tmp_path, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert f"sowcast data: wrote 1 yearly files to {out}" in r.stderr.splitlines()
