"""The content of one bulletin in one language: every text, number and figure, ready for the
HTML and PDF renderers (which add layout only). Texts come from the catalogue
(:class:`~sowcast.bulletin.translator.Translator`), numbers from the products folder
(:class:`~sowcast.bulletin.products_folder.Products`), formatted for the language."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from sowcast.bulletin import charts, maps
from sowcast.bulletin.ensemble_uncertainty import decision_threshold, wilson_interval
from sowcast.bulletin.options import BulletinOptions
from sowcast.bulletin.products_folder import CATEGORIES, DrySpellRule, Products
from sowcast.bulletin.skill import OnsetScores, Skill
from sowcast.bulletin.translator import Translator
from sowcast.data.ocean_anchor import ATL3_BOX
from sowcast.errors import SowcastError
from sowcast.products.advice import OCEAN_SHIFT_MIN_DAYS, advice_sentence as shared_advice_sentence
from sowcast.products.planting import ADVICE_CODES, PlantingThresholds

DAY = pd.Timedelta(days=1)
SECTIONS = ("headline", "onset", "rain", "table", "chart", "method", "provenance")


@dataclass
class Figure:
    name: str    # file stem, e.g. onset_week2
    title: str
    png: bytes


@dataclass
class Bulletin:
    language: str
    locale: str                      # BCP 47, for <html lang>
    title: str
    issued: str
    valid: str
    sections: dict[str, str]         # section key -> heading
    headline: list[str]
    onset_maps: list[Figure]
    onset_text: str                  # caption, or why there are no maps
    rain_maps: list[Figure]
    rain_text: str
    table_group: str                 # heading over the week columns
    table_header: list[str]
    table_rows: list[list[str]]
    table_caption: str
    chart: Figure | None
    chart_caption: str
    method: list[str]
    provenance: list[tuple[str, str]]
    footer: str
    page_label: str                  # "Page {page}" with the field left in
    week_columns: list[int] = field(default_factory=list)

    @property
    def figures(self) -> list[Figure]:
        return [*self.onset_maps, *self.rain_maps, *([self.chart] if self.chart else [])]


def period_label(t: Translator, period: str) -> str:
    """``week1`` -> "Week 1"; ``weeks3-4`` -> "Weeks 3-4" (in the language)."""
    if period.startswith("weeks") and "-" in period:
        first, last = period.removeprefix("weeks").split("-", 1)
        return t("period.weeks", first=first, last=last)
    return t("period.week", n=period.removeprefix("week"))


def check_options(products: Products, options: BulletinOptions) -> None:
    """Map weeks and rain periods the products have; a one-line error otherwise."""
    if products.planting_map is not None:
        have = [int(w) for w in products.planting_map["week"].values]
        bad = [w for w in options.map_weeks if w not in have]
        if bad:
            raise SowcastError(f"bulletin.map_weeks {bad} not in the planting map (weeks {have})")
    bad = [p for p in options.rain_periods if p not in products.periods.index]
    if bad:
        raise SowcastError(f"bulletin.rain_periods {bad} not in weekly.nc (periods {', '.join(products.periods.index)})")


def advice_sentence(t: Translator, row, dry_spell: DrySpellRule, ocean_shift_days=None) -> str:
    """The advice of one locations.csv row in ``t``'s language (the one wording:
    :func:`sowcast.products.advice.advice_sentence` with the catalogue's advice.<code>;
    ``ocean_shift_days``: products.json's ``onset_ocean_shift_days``)."""
    return shared_advice_sentence(
        str(row.advice) if str(row.advice) in ADVICE_CODES else "no_data", row.advice_probability,
        int(row.advice_week), dry_spell.days, dry_spell.lookahead_days,
        getattr(row, "advice_skillful", None), message=lambda code: t(f"advice.{code}"), percent=t.percent,
        ocean_shift_days=ocean_shift_days)


def advice_range(t: Translator, row, members: int | None, thresholds: PlantingThresholds) -> str:
    """How far the advice's percentage could be from what the members say: the 90 % Wilson
    interval from ``members`` runs (:mod:`.ensemble_uncertainty`); when it holds the
    threshold the advice turns on, a warning that the next forecast may advise otherwise.
    Empty where the advice rests on no member count (no data, onset already observed)."""
    code = str(row.advice) if str(row.advice) in ADVICE_CODES else "no_data"
    threshold = decision_threshold(code, int(row.advice_week), thresholds)
    low, high = wilson_interval(row.advice_probability, members) if members else (math.nan, math.nan)
    if threshold is None or math.isnan(low):
        return ""
    fields = {"members": members, "low": t.percent(low), "high": t.percent(high)}
    if round(100 * low) < round(100 * threshold) < round(100 * high):   # as the reader sees the numbers
        return t("advice.range_either_way", threshold=t.percent(threshold), **fields)
    return t("advice.range", **fields)


def headline(t: Translator, table: pd.DataFrame) -> list[str]:
    """One line per advice given, the most common first: the advice, how many locations, which."""
    from babel.lists import format_list

    counts = Counter(str(a) if str(a) in ADVICE_CODES else "no_data" for a in table["advice"])
    order = sorted(counts, key=lambda c: (-counts[c], ADVICE_CODES.index(c)))
    lines = []
    for code in order:
        names = [n for n, a in zip(table["location"], table["advice"], strict=True) if str(a) == code]
        lines.append(t("headline.group", advice=t(f"advice_label.{code}"), n=counts[code], total=len(table),
                       names=format_list(names or ["-"], locale=t.locale)))
    return lines


def _years(years: list[int], t: Translator) -> str:
    if not years:
        return t("common.not_available")
    return str(years[0]) if len(years) == 1 else f"{min(years)}–{max(years)}"


def rule_citation(products: Products) -> str:
    """The rule as a reader sees it ("Sivakumar (1988)"): its citation, else its name."""
    return products.meta.rules_citation


def box_text(t: Translator, box) -> str:
    """``[lat_min, lat_max, lon_min, lon_max]`` as ``3°S–3°N, 20°W–0°`` (the locale's compass letters)."""
    def degrees(value: float, negative: str, positive: str) -> str:
        letter = "" if value == 0 else t(negative if value < 0 else positive)
        return f"{t.decimal(abs(value), 0 if float(value).is_integer() else 1)}°{letter}"

    la0, la1, lo0, lo1 = (float(v) for v in box)
    return (f"{degrees(la0, 'compass.south', 'compass.north')}–{degrees(la1, 'compass.south', 'compass.north')}, "
            f"{degrees(lo0, 'compass.west', 'compass.east')}–{degrees(lo1, 'compass.west', 'compass.east')}")


def ocean_name(t: Translator, box) -> str:
    """Where the onset's ocean index is read: the equatorial Atlantic for ATL3 (and for a
    products folder written before the box was recorded, when ATL3 was the only box), else
    the box itself."""
    box = ATL3_BOX if box is None else tuple(float(v) for v in box)
    key = "ocean.equatorial_atlantic" if tuple(box) == tuple(ATL3_BOX) else "ocean.box"
    return t(key, box=box_text(t, box))


def method_text(t: Translator, products: Products, skill: Skill | None, periods: list[str]) -> list[str]:
    meta = products.meta
    paragraphs = [
        t("method.forecast", members=meta.members, init=t.date(meta.init_time),
          years=_years(products.climatology_years, t)),
        t("method.onset", rules=rule_citation(products)),
    ]
    shift = meta.onset_ocean_shift_days
    if shift is not None:   # the calibration moved the usual onset dates to this year's ocean
        days = round(abs(shift))
        key = "method.onset_ocean_usual" if days < OCEAN_SHIFT_MIN_DAYS else (
            "method.onset_ocean_later" if shift > 0 else "method.onset_ocean_earlier")
        paragraphs.append(t(key, days=days, ocean=ocean_name(t, meta.onset_ocean_box)))
    members = meta.members
    if members:
        low, high = wilson_interval(0.5, members)
        paragraphs.append(t("method.uncertainty", members=members, low=t.percent(low), high=t.percent(high)))
    return paragraphs + skill_text(t, skill, periods, members)


def skill_text(t: Translator, skill: Skill | None, periods: list[str], members: int | None) -> list[str]:
    """The skill statement (the method section's last paragraphs; bulletin.json's ``skill`` for
    the dashboard): the tercile RPSS of ``periods`` with the interval of what is issued and its
    cautions, the onset's error, bias and cautions; or that the skill is not yet assessed. The
    skill may hold more periods than ``periods`` (the dashboard shows them all); they are left out."""
    if skill is None or (not skill.rpss and not math.isfinite(skill.onset_mae)):
        return [t("method.skill_none")]
    paragraphs: list[str] = []
    rpss = {p: v for p, v in skill.rpss.items() if p in periods}
    calibrated = {p: v for p, v in skill.rpss_calibrated.items() if p in periods}
    for values, key, extra in ((rpss, "method.skill_rain", {"years": _years(skill.years, t)}),
                               (calibrated, "method.skill_rain_calibrated", {})):
        if values:
            scores = t("method.skill_separator").join(
                t("method.skill_item", period=period_label(t, p), value=t.decimal(v, 2)) for p, v in values.items())
            paragraphs.append(t(key, scores=scores, **extra))
    # the interval of what is issued: the calibrated probabilities where there are, else the raw ones
    issued = (skill.rpss_calibrated_interval if skill.rpss_calibrated else skill.rpss_interval)
    issued = {p: v for p, v in issued.items() if p in periods}
    if issued:
        ranges = t("method.skill_separator").join(
            t("method.skill_range_item", period=period_label(t, p), low=t.decimal(lo, 2), high=t.decimal(hi, 2))
            for p, (lo, hi) in issued.items())
        paragraphs.append(t("method.skill_interval", years=len(skill.years) or t("common.not_available"),
                            ranges=ranges))
    # right after the range it names
    if any(v <= 0 for v in rpss.values()):
        paragraphs.append(t("method.skill_caution"))
    elif any(lo <= 0 for lo, _ in issued.values()):
        paragraphs.append(t("method.skill_interval_caution"))
    if (rpss or calibrated) and skill.members and members and skill.members != members:
        # the scores are of another ensemble size than this forecast's (calibrated for its own size)
        paragraphs.append(t("method.skill_members", reforecast=skill.members, members=members))
    if math.isfinite(skill.onset_mae):
        paragraphs.append(t("method.skill_onset", mae=t.decimal(skill.onset_mae, 1),
                            reference=t.decimal(skill.onset_reference, 1), n=skill.onset_cases))
    if math.isfinite(skill.onset_mae_calibrated):
        paragraphs.append(t("method.skill_onset_calibrated", mae=t.decimal(skill.onset_mae_calibrated, 1)))
    return paragraphs + onset_honesty(t, skill.onset_issued) + onset_by_week_text(t, skill.onset_by_week,
                                                                                  skill.onset_by_week_interval)


def onset_by_week_text(t: Translator, by_week: dict[str, float],
                       intervals: dict[str, tuple[float, float]] | None = None) -> list[str]:
    """The Brier skill of the chance of onset by each week (what the planting table shows), its
    90 % range over the years where the scorecard has one, and a caution where the skill was 0
    or below, or else where a range reaches 0."""
    if not by_week:
        return []
    scores = t("method.skill_separator").join(
        t("method.skill_item", period=period_label(t, w), value=t.decimal(v, 2)) for w, v in by_week.items())
    out = [t("method.skill_onset_by_week", scores=scores)]
    ranges = {w: intervals[w] for w in by_week if intervals and w in intervals}
    if ranges:
        out.append(t("method.skill_onset_by_week_interval", ranges=t("method.skill_separator").join(
            t("method.skill_range_item", period=period_label(t, w), low=t.decimal(lo, 2), high=t.decimal(hi, 2))
            for w, (lo, hi) in ranges.items())))
    if any(v <= 0 for v in by_week.values()):
        out.append(t("method.skill_onset_by_week_caution"))
    elif any(lo <= 0 for lo, _ in ranges.values()):
        out.append(t("method.skill_onset_by_week_interval_caution"))
    return out


def onset_honesty(t: Translator, onset: OnsetScores | None) -> list[str]:
    """What the reforecasts say about the onset dates as issued: a bias whose 90 % interval
    over the years excludes 0 (with the usual date's in the same years: late years make every
    date early), and a caution when the MAE was no better than the usual date's, or its
    interval reaches 0."""
    if onset is None:
        return []
    out = []
    if onset.bias_is_clear:
        way = "early" if onset.bias < 0 else "late"
        sizes = sorted((abs(onset.bias_low), abs(onset.bias_high)))
        text = t(f"method.skill_onset_{way}", days=t.decimal(abs(onset.bias), 1),
                 low=t.decimal(sizes[0], 1), high=t.decimal(sizes[1], 1))
        if math.isfinite(onset.bias_reference):
            ref_way = "early" if onset.bias_reference < 0 else "late"
            text += " " + t(f"method.skill_onset_usual_{ref_way}", days=t.decimal(abs(onset.bias_reference), 1))
        out.append(text)
    if math.isfinite(onset.mae_skill) and onset.mae_skill <= 0:
        out.append(t("method.skill_onset_caution"))
    elif math.isfinite(onset.mae_skill_low) and onset.mae_skill_low <= 0:
        out.append(t("method.skill_onset_interval_caution"))
    return out


def provenance(t: Translator, products: Products) -> list[tuple[str, str]]:
    meta = products.meta
    sha = meta.bundle_sha256 or meta.forecast_bundle_sha256 or ""
    return [
        (t("prov.bundle"), sha[:12] or t("common.not_available")),
        (t("prov.init"), f"{pd.Timestamp(meta.init_time):%Y-%m-%d %H:%M} UTC"),
        (t("prov.members"), str(meta.members)),
        (t("prov.version"), meta.sowcast_version),
        (t("prov.rules"), rule_citation(products)),
        (t("prov.rules_source"), meta.rules_source_in(t.language)),
        (t("prov.created"), meta.created),
        (t("prov.map_data"), t("prov.map_data_source")),
    ]


def map_points(table: pd.DataFrame) -> list[tuple[str, float, float]]:
    """The locations marked on every map: (name, lat, lon), none when the table has no coordinates."""
    if not {"lat", "lon"} <= set(table.columns):
        return []
    return list(zip(table["location"], table["lat"], table["lon"], strict=True))


def onset_maps(products: Products, t: Translator, options: BulletinOptions,
               points: list[tuple[str, float, float]]) -> tuple[list[Figure], str]:
    """The onset map of each of ``options.map_weeks`` (probability that the rains have started
    by the end of that week) and their caption; no maps and the reason without a planting map."""
    pm = products.planting_map
    if pm is None or "onset_by_week_expected" not in pm:
        return [], t("map.no_onset_maps")
    figures = []
    for week in options.map_weeks:
        prob = pm["onset_by_week_expected"].sel(week=week).transpose("lat", "lon").values
        title = t("map.onset_title", date=t.date(products.issue + 7 * week * DAY), week=week)
        png = maps.onset_map(prob, pm["lat"].values, pm["lon"].values, title, t("map.onset_colorbar"),
                             t("map.data_credit"), points=points, dpi=options.dpi)
        figures.append(Figure(f"onset_week{week}", title, png))
    return figures, t("map.onset_caption", rules=rule_citation(products))


def rain_maps(products: Products, t: Translator, options: BulletinOptions,
              points: list[tuple[str, float, float]]) -> tuple[list[Figure], str]:
    """The tercile map of each of ``options.rain_periods`` (dry-season points hatched) and their
    caption; no maps and the reason without terciles."""
    terciles, dry_mask = products.terciles, products.dry_season
    if terciles is None:
        return [], t("map.no_rain_maps")
    names = (t("category.below"), t("category.near"), t("category.above"))
    lat, lon = terciles["lat"].values, terciles["lon"].values
    figures = []
    for period in options.rain_periods:
        prob = terciles.sel(period=period).sel(category=list(CATEGORIES)).transpose("category", "lat", "lon").values
        dry = dry_mask.sel(period=period).values if dry_mask is not None else None
        span = products.periods.loc[period]
        title = t("map.rain_title", period=period_label(t, period), dates=t.date_range(span["start"], span["end"]))
        png = maps.tercile_map(prob, lat, lon, title, names, t("label.probability"), t("map.data_credit"), dry=dry,
                               dry_label=t("map.dry_season"), points=points, dpi=options.dpi)
        figures.append(Figure(f"rain_{period}", title, png))
    caption = t("map.rain_caption", threshold=t.percent(maps.TERCILE_BOUNDS[0]))
    if dry_mask is not None:
        mm = float(dry_mask.attrs["threshold_mm_per_day"])
        caption += " " + t("map.rain_caption_dry", mm=t.decimal(mm, 0 if mm == int(mm) else 1))
    return figures, caption


def location_table(products: Products, t: Translator) -> tuple[list[str], list[list[str]], str]:
    """The table of locations.csv as the reader sees it: header, one row per location (onset by
    week, false start and dry spell risks, planting window, advice with its range), caption."""
    table, meta, weeks = products.table, products.meta, products.weeks
    header = [t("table.location"), *[t("table.week", n=k) for k in weeks], t("table.false_start"),
              t("table.dry_spell"), t("table.window"), t("table.advice")]
    rows = []
    for row in table.itertuples(index=False):
        start, end = row.planting_window_start, row.planting_window_end
        window = t.date_range(start, end) if isinstance(start, str) and start and isinstance(end, str) and end \
            else t("table.window_none")
        rows.append([row.location, *[t.percent(getattr(row, f"onset_by_week{k}")) for k in weeks],
                     t.percent(row.false_start_risk), t.percent(row.dry_spell_risk), window,
                     " ".join(filter(None, [advice_sentence(t, row, products.dry_spell, meta.onset_ocean_shift_days),
                                            advice_range(t, row, meta.members, meta.thresholds)]))])
    caption = t("table.caption", weeks=weeks[-1], dry_days=products.dry_spell.days,
                lookahead=products.dry_spell.lookahead_days, threshold=t.percent(meta.thresholds.onset_probability),
                false_start_max=t.percent(meta.thresholds.false_start_max))
    return header, rows, caption


def onset_chart(products: Products, t: Translator, options: BulletinOptions) -> Figure | None:
    """Onset probability by week for every location against the advice threshold; None without locations."""
    table, weeks = products.table, products.weeks
    if not len(table):
        return None
    probs = table[[f"onset_by_week{k}" for k in weeks]].to_numpy(dtype=float)
    title = t("chart.title")
    return Figure("onset_chart", title, charts.onset_chart(
        list(table["location"]), probs, weeks, [str(k) for k in weeks], products.meta.thresholds.onset_probability,
        title, t("chart.week_axis"), t("label.probability"), dpi=options.dpi))


def build_bulletin(products: Products, t: Translator, options: BulletinOptions, skill: Skill | None = None) -> Bulletin:
    """Every text, number and figure of the bulletin in ``t``'s language."""
    import sowcast

    issue, weeks = products.issue, products.weeks
    points = map_points(products.table)
    onset_figures, onset_text = onset_maps(products, t, options, points)
    rain_figures, rain_text = rain_maps(products, t, options, points)
    header, rows, table_caption = location_table(products, t)
    chart = onset_chart(products, t, options)
    return Bulletin(
        language=t.language, locale=str(t.locale).replace("_", "-"),
        title=t("bulletin.title"),
        issued=t("bulletin.issued", date=t.date(issue), agency=options.agency.name),
        valid=t("bulletin.valid", period=t.date_range(issue + DAY, issue + 7 * weeks[-1] * DAY, "yMMMd")),
        sections={k: t(f"section.{k}") for k in ("contents", *SECTIONS)},
        headline=headline(t, products.table),
        onset_maps=onset_figures, onset_text=onset_text, rain_maps=rain_figures, rain_text=rain_text,
        table_group=t("table.onset_by_week"), table_header=header, table_rows=rows, table_caption=table_caption,
        chart=chart, chart_caption=t("chart.caption", threshold=t.percent(products.meta.thresholds.onset_probability)),
        method=method_text(t, products, skill, options.rain_periods),
        provenance=provenance(t, products),
        footer=t("footer.made_by", agency=options.agency.name, version=sowcast.__version__),
        page_label=t.messages["footer.page"],
        week_columns=list(weeks),
    )
