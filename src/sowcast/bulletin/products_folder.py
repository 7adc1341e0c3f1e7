"""Read what a bulletin shows from a ``sowcast products`` folder (see
:mod:`sowcast.cli.products_command`): ``products.json`` (issue date, provenance),
``locations.csv`` (the numbers of the table, one row per location), ``locations.nc`` (the
advice week and the rule's dry-spell days), ``weekly.nc`` (rain tercile probabilities on the
grid and, from products that have it, the dry-season mask) and ``planting_map.nc`` (onset
probabilities on the grid, when the products have it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError

RAIN = "total_precipitation"
TERCILES = f"{RAIN}_tercile_probability"
DRY_SEASON = f"{RAIN}_dry_season"   # sowcast.products.dry_season: 1 where a period is climatologically dry
CATEGORIES = ("below", "near", "above")


@dataclass
class Products:
    folder: Path
    meta: dict
    table: pd.DataFrame              # locations.csv, plus advice_week
    weeks: list[int]                 # the onset_by_week<k> columns
    attrs: dict                      # locations.nc attributes (rules, dry-spell days, thresholds)
    terciles: xr.DataArray | None    # (category, period, lat, lon), or None without climatology
    periods: pd.DataFrame            # index period: start, end (dates)
    planting_map: xr.Dataset | None  # onset_by_week_expected (week, lat, lon) ...
    climatology_years: list[int]     # years of the model climatology of the terciles
    dry_season: xr.DataArray | None = None   # (period, lat, lon) 1: no tercile shown; None: products without it

    @property
    def issue(self) -> pd.Timestamp:
        return pd.Timestamp(self.meta["issue_date"])

    @property
    def locations(self) -> list[str]:
        return [str(n) for n in self.table["location"]]


def _read_nc(path: Path, variables: list[str] | None = None) -> xr.Dataset:
    """The file's ``variables`` (those it has; all if None) with their coordinates, loaded."""
    try:
        with xr.open_dataset(path) as ds:
            return (ds if variables is None else ds[[v for v in variables if v in ds.data_vars]]).load()
    except (OSError, ValueError) as exc:
        raise SowcastError(f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None


def read_products(folder: str | os.PathLike) -> Products:
    """The products folder, or a one-line error if it is missing, foreign or incomplete."""
    folder = Path(os.path.expanduser(str(folder)))
    if not folder.is_dir():
        raise SowcastError(f"bulletin.products: no such folder {folder}")
    meta_path = folder / "products.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise SowcastError(f"{folder} is not a 'sowcast products' folder (no products.json)") from None
    except (OSError, ValueError) as exc:
        raise SowcastError(f"cannot read {meta_path}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("product") != "sowcast products" or "issue_date" not in meta:
        raise SowcastError(f"{meta_path} was not written by 'sowcast products'")
    for name in ("locations.csv", "locations.nc", "weekly.nc"):
        if not (folder / name).is_file():
            hint = " (run 'sowcast products' with products.observed for the planting outlook)" \
                if name.startswith("locations") else ""
            raise SowcastError(f"the products folder {folder} has no {name}{hint}")
    try:
        table = pd.read_csv(folder / "locations.csv", keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise SowcastError(f"cannot read {folder / 'locations.csv'}: {exc}") from None
    weeks = sorted(int(c.removeprefix("onset_by_week")) for c in table.columns
                   if c.startswith("onset_by_week") and c.removeprefix("onset_by_week").isdigit())
    need = {"location", "advice", "advice_probability", "false_start_risk", "dry_spell_risk",
            "planting_window_start", "planting_window_end"}
    if not weeks or need - set(table.columns):
        raise SowcastError(f"{folder / 'locations.csv'} lacks columns "
                           f"{', '.join(sorted(need - set(table.columns)) or ['onset_by_week<k>'])}")
    outlook = _read_nc(folder / "locations.nc", ["advice_week"])
    if "advice_week" not in outlook:
        raise SowcastError(f"{folder / 'locations.nc'} has no advice_week: remake the products with this sowcast")
    names = [str(n) for n in outlook["location"].values]
    if names != [str(n) for n in table["location"]]:
        raise SowcastError(f"{folder}: locations.csv and locations.nc name different locations")
    table = table.assign(location=table["location"].astype(str),
                         advice_week=outlook["advice_week"].values.astype(int))
    weekly = _read_nc(folder / "weekly.nc", [TERCILES, DRY_SEASON])
    periods = pd.DataFrame({"start": pd.DatetimeIndex(weekly["period_start"].values),
                            "end": pd.DatetimeIndex(weekly["period_end"].values)},
                           index=[str(p) for p in weekly["period"].values])
    terciles = weekly[TERCILES].transpose("category", "period", "lat", "lon") if TERCILES in weekly else None
    planting_map = _read_nc(folder / "planting_map.nc", ["onset_by_week_expected"]) \
        if (folder / "planting_map.nc").is_file() else None
    years = [int(y) for y in str(weekly.attrs.get("climatology_years", "")).split() if y.isdigit()]
    dry = weekly[DRY_SEASON].transpose("period", "lat", "lon") if DRY_SEASON in weekly else None
    return Products(folder, meta, table, weeks, dict(outlook.attrs), terciles, periods, planting_map, years, dry)

