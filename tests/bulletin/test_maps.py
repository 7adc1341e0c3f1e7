"""The bulletin maps: smooth fields (grid_refine), names without collisions (place_labels), the
dry-season hatch of the rain maps, and the range of a percentage from few members."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sowcast.bulletin import maps
from sowcast.bulletin.ensemble_uncertainty import Z90, decision_threshold, wilson_interval
from sowcast.bulletin.grid_refine import fine_axis, refine
from sowcast.bulletin.place_labels import freeze_layout, place_labels
from sowcast.products.locations import read_locations
from sowcast.products.planting import PlantingThresholds

ROOT = Path(__file__).resolve().parents[2]   # the repository (not `from conftest`: another folder's conftest may be first)

DEFAULTS = PlantingThresholds()
LAT = np.arange(-2.0, 25.0)      # the demo grid: 1 degree, 27 x 37
LON = np.arange(-20.0, 17.0)


def demo_points() -> list[tuple[str, float, float]]:
    locs = read_locations(ROOT / "data/locations/west_africa_demo.csv")
    return [(n, float(a), float(b)) for n, a, b in zip(locs.names, locs.lat, locs.lon, strict=True)]


# ------------------------------------------------------------------ grid_refine

def test_refine_keeps_the_centres_and_blends_between_them():
    field = np.array([[0.0, 1.0], [2.0, 3.0]])
    lat, lon = np.array([10.0, 11.0]), np.array([0.0, 1.0])
    f_lat, f_lon, fine = refine(field, lat, lon, factor=4)
    assert fine.shape == (8, 8)
    np.testing.assert_allclose(f_lat, fine_axis(lat, 4))
    assert f_lat[0] == pytest.approx(9.5 + 0.125) and f_lat[-1] == pytest.approx(11.5 - 0.125)
    # bilinear: at (10.375, 0.375) -> 0.375 * 2 + 0.375 * 1; outside the centres the edge is held
    i, j = np.argmin(np.abs(f_lat - 10.375)), np.argmin(np.abs(f_lon - 0.375))
    assert fine[i, j] == pytest.approx(0.375 * 2 + 0.375 * 1)
    assert fine[0, 0] == 0.0 and fine[-1, -1] == 3.0
    assert fine.min() >= 0 and fine.max() <= 3


def test_refine_leaves_gaps_where_they_are():
    field = np.array([[1.0, np.nan, np.nan], [1.0, 1.0, np.nan], [1.0, 1.0, 1.0]])
    _, _, fine = refine(field, np.arange(3.0), np.arange(3.0), factor=4)
    assert np.isnan(fine[0, -1]) and np.isnan(fine[1, 9])      # inside the NaN corner
    assert np.nanmax(np.abs(fine - 1)) < 1e-12                   # known values blend to themselves
    _, _, stacked = refine(np.stack([field, 2 * field]), np.arange(3.0), np.arange(3.0), factor=4)
    assert stacked.shape == (2, 12, 12)
    np.testing.assert_allclose(stacked[1], 2 * fine)


# ------------------------------------------------------------------ place_labels

def _map(extent, width=5.2, dpi=120):
    fig, aspect = maps._figure(extent, side=0.9)
    ax = fig.add_subplot()
    credit = maps._map_axes(ax, extent, aspect, "title", "Borders: Natural Earth")
    fig.set_dpi(dpi)
    return fig, ax, credit


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


@pytest.mark.parametrize("dpi", [100, 120])
def test_demo_names_do_not_collide_and_stay_on_the_map(dpi):
    """The issue's clusters (Tamale/Wa/Kara/Parakou, Kaolack/Kolda/Tambacounda) on the demo map."""
    fig, ax, credit = _map(maps.grid_extent(LAT, LON), dpi=dpi)
    points = demo_points()
    for _n, y, x in points:
        ax.plot([x], [y], "o", ms=3.5)
    freeze_layout(fig)
    placed = place_labels(ax, points, reserved=[credit])
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer).extents
    for k, p in enumerate(placed):
        assert p.name == points[k][0] and p.overlap == 0, p
        assert frame[0] <= p.box[0] and p.box[2] <= frame[2] and frame[1] <= p.box[1] and p.box[3] <= frame[3], p
        for q in placed[k + 1:]:
            assert _overlap(p.box, q.box) == 0, (p.name, q.name)
        assert _overlap(p.box, credit.get_window_extent(renderer).extents) == 0
    # every label is drawn where it was measured: the texts' extents after a full draw
    fig.canvas.draw()
    drawn = {t.get_text(): tuple(t.get_window_extent(renderer).extents) for t in ax.texts if t.get_text()}
    for p in placed:
        np.testing.assert_allclose(drawn[p.name], p.box, atol=0.5)


def test_a_name_at_the_map_edge_turns_inward():
    extent = (0.0, 4.0, 8.0, 12.0)
    fig, ax, _credit = _map(extent)
    freeze_layout(fig)
    (p,) = place_labels(ax, [("Parakou", 9.34, 3.9)])           # a tenth of a degree from the right edge
    frame = ax.get_window_extent(fig.canvas.get_renderer()).extents
    assert p.overlap == 0 and p.box[2] <= frame[2]
    assert p.box[0] < ax.transData.transform((3.9, 9.34))[0]     # to the left of its point


# ------------------------------------------------------------------ rain tercile map

def _pixels(png: bytes, colour: str) -> int:
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    target = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return int((np.abs(rgb - target).sum(axis=2) <= 6).sum())


def test_dry_season_is_hatched_not_coloured():
    """A 70-100 % "below normal" everywhere; the north of 14 N marked dry: there the map shows
    the dry-season fill and hatch instead of the dark brown, and the legend has its entry."""
    prob = np.zeros((3, len(LAT), len(LON)))
    prob[0] = 0.8
    prob[1] = prob[2] = 0.1
    dry = (LAT[:, None] >= 14) & np.ones((1, len(LON)), bool)
    args = (prob, LAT, LON, "Week 1", ("Below normal", "Near normal", "Above normal"), "Probability (%)",
            "Borders: Natural Earth")
    plain = maps.tercile_map(*args, dpi=80)
    masked = maps.tercile_map(*args, dry=dry.astype(np.int8), dry_label="Dry season", dpi=80)
    brown = maps.BELOW[3]
    assert _pixels(plain, maps.DRY_FILL) == 0
    assert _pixels(masked, maps.DRY_FILL) > 2000                            # the Sahel and Sahara, filled
    assert _pixels(masked, brown) < 0.7 * _pixels(plain, brown)              # less coloured land
    assert _pixels(masked, brown) > 0.15 * _pixels(plain, brown)             # the south still is
    nothing_dry = maps.tercile_map(*args, dry=np.zeros_like(dry, np.int8), dpi=80)
    assert _pixels(nothing_dry, brown) == pytest.approx(_pixels(plain, brown), rel=0.02)


def test_the_most_likely_category_prefers_near_on_ties():
    p = np.array([[0.4, 0.5, np.nan], [0.4, 0.2, 0.3], [0.2, 0.3, 0.3]])
    cat, top = maps.most_likely_on_fine_grid(p)
    assert cat.tolist() == [1, 0, -1] and top[0] == 0.4 and math.isnan(top[2])


# ------------------------------------------------------------------ ensemble uncertainty

def test_wilson_interval():
    # closed forms: p = 0 gives [0, z^2 / (n + z^2)]; p = 1/2 is symmetric about 1/2
    low, high = wilson_interval(0.0, 8)
    assert low == 0 and high == pytest.approx(Z90 ** 2 / (8 + Z90 ** 2))
    low, high = wilson_interval(0.5, 16)
    assert low + high == pytest.approx(1.0)
    widths = [np.subtract(*wilson_interval(0.62, n)[::-1]) for n in (8, 16, 32, 64)]
    assert all(a > b for a, b in zip(widths, widths[1:]))                    # narrower with more members
    assert [round(100 * v) for v in wilson_interval(0.62, 8)] == [34, 84]
    assert all(math.isnan(v) for v in wilson_interval(float("nan"), 8) + wilson_interval(0.5, 0))


def test_decision_thresholds_follow_the_advice_rules():
    th = PlantingThresholds(onset_probability=0.5, false_start_max=0.3, dry_spell_max=0.25, no_onset_max=0.1)
    assert decision_threshold("plant_now", 1, th) == 0.5 and decision_threshold("plant_now", 0, th) is None
    assert decision_threshold("wait", 6, th) == 0.5
    assert decision_threshold("wait_false_start_risk", 6, th) == 0.3
    assert decision_threshold("season_started_dry_spell_risk", 0, th) == 0.25
    assert decision_threshold("no_onset_expected", 6, th) == pytest.approx(0.9)
    assert decision_threshold("no_data", 0, th) is None
    assert decision_threshold("wait", 6, PlantingThresholds()) == 0.5        # defaults of PlantingThresholds


def test_advice_range_in_both_languages():
    from sowcast.bulletin.document import advice_range
    from sowcast.bulletin.translator import Translator

    row = pd.Series({"advice": "plant_now", "advice_probability": 0.62, "advice_week": 1})
    row = next(pd.DataFrame([row]).itertuples(index=False))
    en, fr = Translator.load("en"), Translator.load("fr")
    assert advice_range(en, row, 8, DEFAULTS) == ("From 8 forecast runs: likely between 34% and 84%, on either side of "
                                            "50%, so the next forecast may advise otherwise.")
    assert advice_range(en, row, 64, DEFAULTS) == "From 64 forecast runs: likely between 52% and 71%."
    assert advice_range(fr, row, 64, DEFAULTS).startswith("D'après 64 prévisions\u00a0: probablement entre 52")
    assert advice_range(en, row, None, DEFAULTS) == ""
    # an upper end shown as the threshold itself (50.2 % -> "50%") is not "either side" of it
    edge = pd.DataFrame([{"advice": "wait", "advice_probability": 0.357, "advice_week": 6}])
    edge = next(edge.itertuples(index=False))
    assert advice_range(en, edge, 32, DEFAULTS) == "From 32 forecast runs: likely between 23% and 50%."
