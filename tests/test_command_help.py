"""``sowcast COMMAND --help`` for the commands with options classes: every option with its
default and doc (sowcast.options.describe), the keys set otherwise by the overrides given,
and the YAML of the other sections; commands without a class keep the YAML help."""

from __future__ import annotations

import dataclasses

import pytest

from sowcast.cli.main import COMMANDS, main


def _help(capsys, *argv: str) -> str:
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", [n for n, c in COMMANDS.items() if c.options])
def test_help_describes_every_option_of_the_command(capsys, name):
    import importlib

    out = _help(capsys, *name.split())
    assert out.startswith(f"sowcast {name}: {COMMANDS[name].summary}")
    assert "options, with their defaults (override with KEY=VALUE):" in out
    for group, target in COMMANDS[name].options:
        module, _, cls_name = target.partition(":")
        cls_name, _, key = cls_name.partition(".")
        cls = getattr(importlib.import_module(module), cls_name)
        assert (f"\n{group}:\n" if group else "\ntop-level keys:\n") in out
        for f in dataclasses.fields(cls):
            if not key or f.name == key:
                assert f"\n  {f.name}:" in out, f.name
                assert f.metadata["doc"].split()[0] in out


def test_help_names_what_the_overrides_change(capsys):
    out = _help(capsys, "train", "train.max_steps=7", "overwrite=yes", "model=tiny")
    changed = out.split("set otherwise in this config (presets, overrides):\n")[1].split("\n\n")[0].splitlines()
    assert "  train.max_steps: 7" in changed and "  overwrite: true" in changed
    assert "\n  max_steps: 2000 " in out                       # the default, in the options
    assert "# " in out.split("other config it reads")[1] and "model:\n  # " in out   # model: its YAML
    assert "\ntrain:\n  # " not in out                     # train: described, not its YAML


def test_help_of_a_bad_value_is_a_one_line_error(capsys):
    assert main(["serve", "serve.port=-1", "--help"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "sowcast: error: serve.port must be between 0 and 65535, not -1"


def test_commands_without_an_options_class_keep_the_yaml_help(capsys):
    out = _help(capsys, "data", "describe")
    assert "config it reads, with the defaults (override with KEY=VALUE):" in out
    assert "options, with their defaults" not in out and "\ndata:\n" in out


def test_overwrite_words_mean_what_they_say_at_the_command_line(capsys, tmp_path):
    out = tmp_path / "raw"
    assert main(["data", "synth", f"data.synth.output={out}", "overwrite=maybe"]) == 2
    assert capsys.readouterr().err.strip() == ("sowcast: error: overwrite must be true or false "
                                               "(or yes/no, on/off, 1/0), not 'maybe'")
    assert main(["data", "synth", f"data.synth.output={out}", "+data.synth.seeed=1"]) == 2
    assert capsys.readouterr().err.strip().startswith("sowcast: error: unknown option data.synth.seeed; known: output,")
    assert not out.exists()
