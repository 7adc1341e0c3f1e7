"""``locations.csv`` of the products folder: one row per location, the numbers a bulletin table
shows (:data:`sowcast.products.folder.LOCATIONS_CSV_COLUMNS` and ``onset_by_week<k>``), the
weekly rain tercile chances at the location and the advice in English."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.products.planting import ADVICE_CODES, advice_text

RAIN = "total_precipitation"
TABLE_PERIODS = ("week1", "week2", "weeks3-4", "weeks5-6")


def location_table(outlook: xr.Dataset, weekly: xr.Dataset | None, locations: Any) -> pd.DataFrame:
    """One row per location of ``outlook`` (``planting_outlook`` on the ``location`` dim) and
    ``weekly`` (the weekly products at the same locations); numbers rounded to 3 decimals."""
    rows = []
    for i, name in enumerate(locations.names):
        o = outlook.isel(location=i)
        row = {"location": name, "lat": float(locations.lat[i]), "lon": float(locations.lon[i])}
        for k in o["week"].values:
            row[f"onset_by_week{int(k)}"] = round(float(o["onset_by_week_expected"].sel(week=k)), 3)
        row["false_start_risk"] = round(float(o["false_start_risk"]), 3)
        row["dry_spell_risk"] = round(float(o["dry_spell_risk"]), 3)
        for key in ("planting_window_start", "planting_window_end"):
            t = o[key].values
            row[key] = "" if np.isnat(t) else f"{pd.Timestamp(t):%Y-%m-%d}"
        row["advice"] = ADVICE_CODES[int(o["advice"])]
        row["advice_probability"] = round(float(o["advice_probability"]), 3)
        if "onset_skillful" in o:
            week = int(o["advice_week"])
            row["advice_skillful"] = 1 if week < 1 else int(o["onset_skillful"].sel(
                week=min(week, int(o["week"].max()))))
        row["advice_text"] = advice_text(outlook, name, lang="en")
        if weekly is not None and f"{RAIN}_tercile_probability" in weekly:
            row.update(_weekly_row(weekly, i))
        rows.append(row)
    return pd.DataFrame(rows)


def _weekly_row(weekly: xr.Dataset, i: int) -> dict[str, float | int]:
    """The below- and above-normal rain chances of each table period at location ``i``, and
    its dry-season flag where the products have the mask."""
    tp = weekly[f"{RAIN}_tercile_probability"].isel(location=i)
    row: dict[str, float | int] = {}
    for period in TABLE_PERIODS:
        for cat in ("below", "above"):
            row[f"rain_{period}_{cat}"] = round(float(tp.sel(period=period, category=cat)), 3)
        if f"{RAIN}_dry_season" in weekly:
            row[f"rain_{period}_dry_season"] = int(weekly[f"{RAIN}_dry_season"].isel(location=i).sel(
                period=period) >= 0.5)
    return row
