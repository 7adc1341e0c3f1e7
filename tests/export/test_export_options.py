"""The ``export:`` group as ExportOptions: the YAML's defaults are the class's, a bad value is
one line naming ``export.<key>`` and writes nothing, ``sowcast export --help`` describes the
schema, and the checks that run before a checkpoint is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sowcast.cli.main import main
from sowcast.errors import SowcastError
from sowcast.export.options import ExportOptions, check_export_options
from sowcast.options import default_mismatches, parse

CONF = Path(__file__).resolve().parents[2] / "src" / "sowcast" / "conf"


def test_yaml_defaults_equal_the_options_class():
    section = OmegaConf.to_container(OmegaConf.load(CONF / "export" / "default.yaml"), resolve=False)
    assert default_mismatches(ExportOptions, section, "export") == {}


def test_values_are_coerced_as_the_command_line_gives_them():
    o = parse(ExportOptions, {"variants": "INT8", "archive": "no", "opset": "17", "sign_key": "null",
                              "store": "~/store.zarr", "parity_tolerance": "1e-3"}, "export")
    assert o.variants == ("int8",) and o.archive is False and o.opset == 17 and o.sign_key is None
    assert o.store == Path.home() / "store.zarr" and o.parity_tolerance == pytest.approx(1e-3)
    assert o.archive_path is None
    assert ExportOptions(output=Path("b/x")).archive_path == Path("b/x.tar.gz")


@pytest.mark.parametrize("key, value, message", [
    ("opset", 0, "export.opset must be at least 1, not 0"),
    ("variants", ["int4"], "export.variants must name each of fp16, int8 at most once, not ['int4']"),
    ("variants", ["int8", "INT8"], "export.variants must name each of fp16, int8 at most once, not ['int8', 'int8']"),
    ("archive", "maybe", "export.archive must be true or false (or yes/no, on/off, 1/0), not 'maybe'"),
    ("parity_real_windows", -1, "export.parity_real_windows must be at least 0, not -1"),
    ("max_skill_change", "abc", "export.max_skill_change must be a number, not 'abc'"),
    ("chekpoint", "best", "unknown option export.chekpoint; known: checkpoint, output,"),
])
def test_a_bad_value_is_one_line_naming_the_key(key, value, message):
    with pytest.raises(SowcastError) as info:
        ExportOptions.from_config({key: value})
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_checks_before_loading_anything(tmp_path):
    out = tmp_path / "bundle"
    check_export_options(ExportOptions(output=out), overwrite=False)          # nothing in the way
    out.with_name("bundle.tar.gz").write_bytes(b"an old archive")
    with pytest.raises(SowcastError, match=r"bundle\.tar\.gz exists already; set overwrite=true"):
        check_export_options(ExportOptions(output=out), overwrite=False)
    check_export_options(ExportOptions(output=out), overwrite=True)
    check_export_options(ExportOptions(output=out, archive=False), overwrite=False)
    for options, message in [
        (ExportOptions(output=out, archive=False, parity_batch=1), "export.parity_batch must be at least 2"),
        (ExportOptions(output=out, archive=False, parity_tolerance=0.0), "export.parity_tolerance must be positive"),
        (ExportOptions(output=out, archive=False, climatology=tmp_path / "no.nc"), "export.climatology: no file at"),
    ]:
        with pytest.raises(SowcastError, match=message):
            check_export_options(options, overwrite=False)


def test_cli_bad_option_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bundle"
    assert main(["export", f"export.output={out}", "export.variants=[fp16,int4]", "progress=false"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err == ["sowcast: error: export.variants must name each of fp16, int8 at most once, not ['fp16', 'int4']"]
    assert list(tmp_path.iterdir()) == []


def test_cli_output_in_the_way_is_refused_before_any_checkpoint(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bundle"
    out.mkdir()
    assert main(["export", f"export.output={out}", f"train.run_dir={tmp_path / 'no_run'}"]) == 2
    assert capfd.readouterr().err.strip() == f"sowcast: error: {out} exists already; set overwrite=true to replace it"
    assert main(["export", f"export.output={out}", "export.archive=false", "overwrite=yes",
                 f"train.run_dir={tmp_path / 'no_run'}"]) == 2   # now the missing checkpoint
    assert "no checkpoint in" in capfd.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"] and list(out.iterdir()) == []


def test_help_describes_the_schema(capsys):
    assert main(["export", "model=tiny", "export.opset=17", "--help"]) == 0
    out = capsys.readouterr().out
    assert "\nexport:\n" in out and "\n  opset: 18 " in out and "# ONNX opset" in out
    assert "\n  sign_key: null " in out and "<path or null>" in out
    assert "  export.opset: 17" in out.split("set otherwise in this config")[1]
    assert "train.run_dir: checkpoints/tiny" in out and "\ntop-level keys:\n  overwrite: false" in out
    assert "# Export (sowcast.export)" not in out   # the schema, not the YAML file
