"""Scorecard rows, CSV round trip, and the PNG plots."""

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify.categorical import reliability_table
from sowcast.verify.scorecard import (
    Scorecard,
    plot_reliability,
    plot_skill_by_lead,
    skill_from,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _card() -> Scorecard:
    card = Scorecard()
    # RMSE 1.5 against a reference 2.0: skill 1 - 1.5/2 = 0.25.
    card.add("rmse", "2m_temperature", "week1", 1.5, reference=2.0, n=120)
    # ACC 0.6 against 0.2, perfect 1: (0.6 - 0.2) / (1 - 0.2) = 0.5.
    card.add("acc", "2m_temperature", "week1", 0.6, reference=0.2, n=120, perfect=1.0)
    card.add_scores("rpss", "total_precipitation",
                    xr.DataArray([0.1, 0.05], dims="period", coords={"period": ["weeks3-4", "weeks5-6"]}),
                    n=xr.DataArray([80, 80], dims="period"),
                    interval=(xr.DataArray([0.02, -0.01], dims="period"), xr.DataArray([0.15, 0.09], dims="period")))
    card.add("crps", "total_precipitation", "week2", 3.25)  # no reference: skill NaN, n missing
    # a 0-D score gives one row labelled "all": 1 - 2/4 = 0.5
    card.add_scores("crps", "2m_temperature", xr.DataArray(2.0), reference=xr.DataArray(4.0))
    return card


def test_rows_and_skill():
    frame = _card().to_frame()
    assert list(frame.columns) == ["metric", "variable", "period", "value", "reference", "skill", "n",
                                   "low", "high"]
    assert list(frame["low"].iloc[2:4]) == [0.02, -0.01] and list(frame["high"].iloc[2:4]) == [0.15, 0.09]
    assert frame["low"].drop(index=[2, 3]).isna().all()      # no interval unless given
    assert frame["skill"].iloc[0] == pytest.approx(0.25)
    assert frame["skill"].iloc[1] == pytest.approx(0.5)
    assert list(frame["period"]) == ["week1", "week1", "weeks3-4", "weeks5-6", "week2", "all"]
    assert frame["skill"].iloc[5] == pytest.approx(0.5)
    assert list(frame["n"].iloc[2:4]) == [80, 80]
    assert math.isnan(frame["skill"].iloc[4]) and frame["n"].isna().iloc[4]
    assert math.isnan(skill_from(1.0, 0.0))  # a perfect reference leaves the skill undefined


def test_csv_round_trip(tmp_path):
    card = _card()
    path = tmp_path / "out" / "scorecard.csv"
    card.to_csv(path)
    back = Scorecard.from_csv(path)
    assert len(back.rows) == len(card.rows)
    for a, b in zip(card.rows, back.rows):
        for key in ("metric", "variable", "period", "n"):
            assert a[key] == b[key]
        for key in ("value", "reference", "skill", "low", "high"):
            assert a[key] == b[key] or (math.isnan(a[key]) and math.isnan(b[key]))
    assert list(path.parent.iterdir()) == [path]  # no temporary left behind
    older = tmp_path / "older.csv"   # a scorecard made before the intervals: read, with none
    pd.read_csv(path).drop(columns=["low", "high"]).to_csv(older, index=False)
    rows = Scorecard.from_csv(older).rows
    assert len(rows) == len(card.rows) and all(math.isnan(r["low"]) for r in rows)
    with pytest.raises(SowcastError, match="exists"):
        card.to_csv(path, overwrite=False)


def _check_png(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_plot_reliability_writes_a_png(tmp_path):
    rng = np.random.default_rng(9)
    p = xr.DataArray(rng.integers(0, 11, 300) / 10, dims="x")
    o = xr.DataArray((rng.random(300) < p).astype(float), dims="x")
    path = tmp_path / "reliability.png"
    plot_reliability(reliability_table(p, o), path, title="Rain above the upper tercile, weeks 3-4")
    _check_png(path)
    two = reliability_table(p.expand_dims(period=["a", "b"]), o.expand_dims(period=["a", "b"]), dims="x")
    with pytest.raises(SowcastError, match="one reliability table"):
        plot_reliability(two, tmp_path / "bad.png")


def test_plot_skill_by_lead_writes_a_png(tmp_path):
    path = tmp_path / "skill.png"
    plot_skill_by_lead(_card(), path)
    _check_png(path)
    plot_skill_by_lead(_card().to_frame(), tmp_path / "values.png", column="value")
    _check_png(tmp_path / "values.png")
