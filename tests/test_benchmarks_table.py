"""benchmarks/run_all.py: the table from canned benchmark outputs (no benchmark is run)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_all():
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_rows_and_table_from_json(run_all, tmp_path):
    canned = {"benchmark": "edge_forecast", "details": {"ignored": 1}, "figures": [
        {"figure": "torch eager / onnxruntime step time, batch 1", "value": 1.234567, "unit": "ratio"},
        {"figure": "forecast 8 members x 20 days", "value": 26.47, "unit": "member-days/CPU-s"},
        {"figure": "forecast peak resident memory", "value": 240.05, "unit": "MiB"},
        {"figure": "a | in a name", "value": "30 Jul (IQR 10 d)", "unit": "date"}]}
    (tmp_path / "edge.json").write_text(json.dumps(canned))
    rows = run_all.rows_from_json(tmp_path / "edge.json", "python benchmarks/edge_forecast.py --quick")
    rows.append(run_all.status_row("graph_build", "skipped", "no store", "python benchmarks/graph_build.py"))
    assert [r["value"] for r in rows] == ["1.23", "26.5", "240", "30 Jul (IQR 10 d)", "no store"]

    lines = run_all.table(rows).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == list(run_all.COLUMNS)
    assert set(lines[1]) == {"|", "-"}
    assert len(lines) == 2 + len(rows)
    assert len({len(line) for line in lines}) == 1  # columns line up
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells == ["edge_forecast", "torch eager / onnxruntime step time, batch 1", "1.23", "ratio",
                     "python benchmarks/edge_forecast.py --quick"]
    assert "a / in a name" in lines[5]  # a "|" would break the markdown row
    assert lines[-1].split("|")[2].strip() == "skipped"


def test_format_value(run_all):
    assert [run_all.format_value(v) for v in (0.5663, 12.34, 1234.5, 7, float("nan"), "27 Jun")] == \
        ["0.57", "12.3", "1234", "7", "nan", "27 Jun"]


def test_chain_skill_from_scorecard(run_all, tmp_path):
    card = tmp_path / "chain" / "scorecard"
    card.mkdir(parents=True)
    (card / "scores.csv").write_text(
        "metric,variable,period,value,reference,skill,n\n"
        "rpss,total_precipitation,week1,0.21,0.0,0.21,80\n"
        "rpss,total_precipitation,weeks3-4,0.02,0.0,0.02,80\n"
        "rpss,2m_temperature,week1,0.5,0.0,0.5,80\n"
        "onset_mae_days,total_precipitation,onset,9.5,12.3,0.23,40\n")
    (card / "summary.json").write_text(json.dumps({"starts": 20, "members": 4, "rules": "sivakumar1988"}))
    figures = run_all.chain_skill_figures(tmp_path / "chain", tmp_path / "unused.log")
    assert [(f["figure"], f["value"]) for f in figures] == [
        ("rain tercile RPSS week1 (20 starts x 4 members)", 0.21),
        ("rain tercile RPSS weeks3-4 (20 starts x 4 members)", 0.02),
        ("onset MAE (sivakumar1988; climatology 12.3 d)", 9.5)]


def test_serve_load_from_its_summary(run_all, tmp_path):
    log = tmp_path / "serve_load.log"
    log.write_text(
        "tiny real chain made in 21 s\n\n"
        "500 requests in 6.2 s (81 req/s), concurrency 8, 2 CPU cores, while job 2 ran (step ...)\n\n"
        "endpoint        requests  errors      p50     p90     p99     max      p50     p99     max\n"
        "/api/status           50       0     12.0    30.1    80.2    95.0      1.0     2.0     3.0\n"
        "overall              500       1     14.5    40.0    99.9   120.0      1.1     5.0     9.0\n")
    figures = {f["figure"]: f["value"] for f in run_all.serve_load_figures(tmp_path, log)}
    assert figures == {"requests served (concurrency 8, while a job runs)": 81.0, "errors of 500 requests": 1,
                       "client latency p50": 14.5, "client latency p99": 99.9}
    log.write_text("Traceback ...\n")
    with pytest.raises(ValueError, match="no summary"):
        run_all.serve_load_figures(tmp_path, log)


def test_a_benchmark_without_its_inputs_is_skipped(tmp_path):
    """The real command line, on a benchmark whose input is missing: a skipped row, exit 0."""
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--only", "synthetic_chain_skill",
                        "--bundle", str(tmp_path / "nothing"), "--json", str(tmp_path / "rows.json")],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False)
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [(row["benchmark"], row["figure"]) for row in rows] == [("synthetic_chain_skill", "skipped")]
    assert "is not a bundle folder" in rows[0]["value"]
    assert "| synthetic_chain_skill | skipped |" in " ".join(r.stdout.split())


def test_chain_skill_scores_the_years_after_training(run_all, tmp_path):
    """The held-out years come from the bundle's training period and the store's last year."""
    from sowcast.data.testing import make_canonical_store

    store = make_canonical_store(tmp_path / "store.zarr", n_times=3 * 365, grid=(4, 8), levels=None,
                                 start="2000-01-01")
    bundle = tmp_path / "bundle"
    bundle.mkdir()

    def options(train_end: str):
        (bundle / "manifest.json").write_text(json.dumps({"provenance": {"train_range": ["2000-01-01", train_end]}}))
        return run_all.Options(store=Path(store), bundle=bundle, timeout=1)

    assert run_all.held_out_years(options("2000-12-31")) == "2001,2002"
    assert run_all._no_bundle(options("2000-12-31")) is None
    assert run_all.held_out_years(options("2002-12-31")) is None
    assert "has no year after the training period" in run_all._no_bundle(options("2002-12-31"))
