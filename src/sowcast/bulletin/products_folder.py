"""Read what a bulletin shows from a ``sowcast products`` folder (its contract:
:mod:`sowcast.products.folder`): ``products.json`` (a
:class:`~sowcast.products.folder.ProductsManifest`: issue date, provenance), ``locations.csv``
(the numbers of the table, one row per location), ``locations.nc`` (the advice week and the
rule's dry-spell days), ``weekly.nc`` (rain tercile probabilities on the grid and, from
products that have it, the dry-season mask) and ``planting_map.nc`` (onset probabilities on
the grid, when the products have it). Anything missing is a one-line error here, never a
guess in the bulletin.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.folder import (
    LOCATIONS_CSV,
    LOCATIONS_CSV_COLUMNS,
    LOCATIONS_NC,
    LOCATIONS_NC_ATTRIBUTES,
    PLANTING_MAP_FILE,
    RERUN,
    WEEKLY_FILE,
    ProductsManifest,
    read_manifest,
)

RAIN = "total_precipitation"
TERCILES = f"{RAIN}_tercile_probability"
DRY_SEASON = f"{RAIN}_dry_season"   # sowcast.products.dry_season: 1 where a period is climatologically dry
CATEGORIES = ("below", "near", "above")


@dataclass(frozen=True)
class DrySpellRule:
    """The season rule's post-onset dry spell that the advice names (locations.nc attributes
    ``dry_spell_days``, ``dry_spell_lookahead_days``): longer than ``days`` days within
    ``lookahead_days`` days of the onset."""

    days: int
    lookahead_days: int


@dataclass
class Products:
    folder: Path
    meta: ProductsManifest           # products.json
    table: pd.DataFrame              # locations.csv, plus advice_week
    weeks: list[int]                 # the onset_by_week<k> columns
    dry_spell: DrySpellRule          # from locations.nc
    terciles: xr.DataArray | None    # (category, period, lat, lon), or None without climatology
    periods: pd.DataFrame            # index period: start, end (dates)
    planting_map: xr.Dataset | None  # onset_by_week_expected (week, lat, lon) ...
    climatology_years: list[int]     # years of the model climatology of the terciles
    dry_season: xr.DataArray | None = None   # (period, lat, lon) 1: no tercile shown; None: products without it

    @property
    def issue(self) -> pd.Timestamp:
        return pd.Timestamp(self.meta.issue_date)

    @property
    def locations(self) -> list[str]:
        return [str(n) for n in self.table["location"]]


def _read_nc(path: Path, variables: list[str] | None = None) -> xr.Dataset:
    """The file's ``variables`` (those it has; all if None) with their coordinates, loaded."""
    try:
        with xr.open_dataset(path) as ds:
            # every coordinate kept: with none of ``variables`` (terciles of products made without a
            # climatology) ds[[]] would drop the periods' dates too
            return (ds if variables is None else ds.drop_vars([v for v in ds.data_vars if v not in variables])).load()
    except (OSError, ValueError) as exc:
        raise SowcastError(f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None


def read_products(folder: str | os.PathLike) -> Products:
    """The products folder, or a one-line error if it is missing, foreign, of an older sowcast
    or incomplete."""
    folder = Path(os.path.expanduser(str(folder)))
    if not folder.is_dir():
        raise SowcastError(f"bulletin.products: no such folder {folder}")
    meta = read_manifest(folder)
    for name in (LOCATIONS_CSV, LOCATIONS_NC, WEEKLY_FILE):
        if not (folder / name).is_file():
            hint = " (run 'sowcast products' with products.observed for the planting outlook)" \
                if name.startswith("locations") else ""
            raise SowcastError(f"the products folder {folder} has no {name}{hint}")
    try:
        table = pd.read_csv(folder / LOCATIONS_CSV, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise SowcastError(f"cannot read {folder / LOCATIONS_CSV}: {exc}") from None
    weeks = sorted(int(c.removeprefix("onset_by_week")) for c in table.columns
                   if c.startswith("onset_by_week") and c.removeprefix("onset_by_week").isdigit())
    need = set(LOCATIONS_CSV_COLUMNS)
    if not weeks or need - set(table.columns):
        raise SowcastError(f"{folder / LOCATIONS_CSV} lacks columns "
                           f"{', '.join(sorted(need - set(table.columns)) or ['onset_by_week<k>'])}")
    outlook = _read_nc(folder / LOCATIONS_NC, ["advice_week"])
    if "advice_week" not in outlook:
        raise SowcastError(f"{folder / LOCATIONS_NC} has no advice_week: {RERUN} with this sowcast")
    names = [str(n) for n in outlook["location"].values]
    if names != [str(n) for n in table["location"]]:
        raise SowcastError(f"{folder}: {LOCATIONS_CSV} and {LOCATIONS_NC} name different locations")
    table = table.assign(location=table["location"].astype(str),
                         advice_week=outlook["advice_week"].values.astype(int))
    weekly = _read_nc(folder / WEEKLY_FILE, [TERCILES, DRY_SEASON])
    periods = pd.DataFrame({"start": pd.DatetimeIndex(weekly["period_start"].values),
                            "end": pd.DatetimeIndex(weekly["period_end"].values)},
                           index=[str(p) for p in weekly["period"].values])
    terciles = weekly[TERCILES].transpose("category", "period", "lat", "lon") if TERCILES in weekly else None
    planting_map = _read_nc(folder / PLANTING_MAP_FILE, ["onset_by_week_expected"]) \
        if (folder / PLANTING_MAP_FILE).is_file() else None
    years = [int(y) for y in str(weekly.attrs.get("climatology_years", "")).split() if y.isdigit()]
    dry = weekly[DRY_SEASON].transpose("period", "lat", "lon") if DRY_SEASON in weekly else None
    if dry is not None and "threshold_mm_per_day" not in dry.attrs:
        raise SowcastError(f"{folder / WEEKLY_FILE}: {DRY_SEASON} has no threshold_mm_per_day: {RERUN}")
    return Products(folder, meta, table, weeks, _dry_spell_rule(outlook.attrs, folder / LOCATIONS_NC), terciles,
                    periods, planting_map, years, dry)


def _dry_spell_rule(attrs: dict, path: Path) -> DrySpellRule:
    """The rule's dry spell from locations.nc's attributes, or a one-line error."""
    values = []
    for key in LOCATIONS_NC_ATTRIBUTES:
        try:
            values.append(int(attrs[key]))
        except KeyError:
            raise SowcastError(f"{path} has no attribute {key}: {RERUN}") from None
        except (TypeError, ValueError):
            raise SowcastError(f"{path}: {key} must be a whole number of days, not {attrs[key]!r}") from None
    return DrySpellRule(*values)
