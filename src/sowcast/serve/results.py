"""Reading a published run (``<root>/published/<job id>/``) for the API.

The folder holds ``products/`` (see :mod:`sowcast.cli.products_command`: products.json,
locations.csv, locations.nc, weekly.nc, planting_map.nc) and, when the chain has the
bulletin step, ``bulletin/`` (see :mod:`sowcast.cli.bulletin_command`: bulletin_<lang>.html
and .pdf, sms.csv, maps/*.png, bulletin.json).

Per location (:func:`read_locations`): the numbers and the English advice from
``locations.csv``; the advice in the other languages from ``bulletin/advice.csv``
(location, language, advice sentence), or else the location's SMS in ``bulletin/sms.csv``.
Its weekly rain tercile
probabilities (:func:`rain_terciles`, for the detail only) from ``locations.nc``
(``weekly_total_precipitation_tercile_probability``), else from the
``rain_<period>_below/above`` columns of the CSV (near = 1 - below - above). Which periods
are climatologically dry, with no tercile chance to show (:func:`rain_dry_season`), from
``weekly_total_precipitation_dry_season`` there, else the ``rain_<period>_dry_season`` columns.
The skill (:func:`skill`) from ``bulletin/bulletin.json``, as the bulletin states it.
NaN becomes null. A published folder never changes once in place, so what is read is
cached by the folder and its files' inode and mtime.
"""

from __future__ import annotations

import csv
import json
import math
import re
import threading
from pathlib import Path
from typing import Any

RAIN_TERCILES = "weekly_total_precipitation_tercile_probability"
DRY_SEASON = "weekly_total_precipitation_dry_season"  # 1: climatologically dry, no tercile forecast
CATEGORIES = ("below", "near", "above")
_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) or math.isinf(out) else round(out, 4)


def _key(folder: Path, *names: str) -> tuple:
    parts = [str(folder)]
    for name in names:
        try:
            st = (folder / name).stat()
            parts.append((name, st.st_ino, st.st_mtime_ns))
        except OSError:
            parts.append((name, None))
    return tuple(parts)


_key_locks: dict[tuple, threading.Lock] = {}


def _cached(key: tuple, make):
    """``make()`` once per key, even when several requests ask for it at the same moment."""
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        value = make()
        with _cache_lock:
            if len(_cache) > 16:
                _cache.clear()
                _key_locks.clear()
            _cache[key] = value
    return value


def products_meta(folder: Path) -> dict[str, Any]:
    """products.json of a published run ({} when absent or unreadable)."""
    try:
        return json.loads((folder / "products" / "products.json").read_text())
    except (OSError, ValueError):
        return {}


def issue_date(folder: Path | None) -> str | None:
    return None if folder is None else products_meta(folder).get("issue_date")


def read_locations(folder: Path) -> list[dict[str, Any]]:
    """Every location of the published run (see the module doc); no terciles."""
    return _cached(_key(folder, "products/locations.csv", "bulletin/sms.csv"), lambda: _read_locations(folder))


def rain_terciles(folder: Path, row_name: str) -> dict[str, dict[str, float | None]]:
    """The weekly rain tercile probabilities of one location, by period."""
    nc = folder / "products" / "locations.nc"
    by_name = _cached(_key(folder, "products/locations.nc"), lambda: _nc_terciles(nc))
    if row_name in by_name:
        return by_name[row_name]
    return next((loc["_csv_terciles"] for loc in read_locations(folder) if loc["name"] == row_name), {})


def _read_locations(folder: Path) -> list[dict[str, Any]]:
    path = folder / "products" / "locations.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    sms = _sms(folder / "bulletin" / "sms.csv")
    for name, texts in _advice(folder / "bulletin" / "advice.csv").items():
        sms.setdefault(name, {}).update(texts)
    out = []
    for row in rows:
        name = row.get("location", "")
        weeks = sorted((int(m.group(1)), k) for k in row if (m := re.fullmatch(r"onset_by_week(\d+)", k)))
        start, end = row.get("planting_window_start") or "", row.get("planting_window_end") or ""
        texts = {"en": row.get("advice_text") or None}
        texts.update({lang: msg for lang, msg in sms.get(name.casefold(), {}).items() if lang != "en"})
        out.append({
            "name": name, "lat": _num(row.get("lat")), "lon": _num(row.get("lon")),
            "advice": row.get("advice") or None, "advice_probability": _num(row.get("advice_probability")),
            "advice_text": texts,
            "onset_by_week": [_num(row[k]) for _w, k in weeks],
            "false_start_risk": _num(row.get("false_start_risk")), "dry_spell_risk": _num(row.get("dry_spell_risk")),
            "planting_window": [start, end] if start and end else None,
            "_csv_terciles": _csv_terciles(row),
            "_csv_dry_season": {m.group(1): (v or "").strip() == "1" for k, v in row.items()
                                if (m := re.fullmatch(r"rain_(.+)_dry_season", k))},
        })
    return out


def _advice(path: Path) -> dict[str, dict[str, str]]:
    """{location (casefolded): {language: advice sentence}} from the bulletin's advice.csv."""
    if not path.is_file():
        return {}
    out: dict[str, dict[str, str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("location") and row.get("language") and row.get("advice"):
                out.setdefault(row["location"].casefold(), {})[row["language"]] = row["advice"]
    return out


def _sms(path: Path) -> dict[str, dict[str, str]]:
    """{location (casefolded): {language: message}} from the bulletin's sms.csv."""
    if not path.is_file():
        return {}
    out: dict[str, dict[str, str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("location") and row.get("language") and row.get("message"):
                out.setdefault(row["location"].casefold(), {})[row["language"]] = row["message"]
    return out


def _location_variable(path: Path, name: str):
    """``name`` of ``locations.nc``, loaded, if the file has it by location; else None."""
    if not path.is_file():
        return None
    import xarray as xr

    with xr.open_dataset(path) as ds:
        if name not in ds or "location" not in ds[name].dims:
            return None
        return ds[name].load()


def _nc_terciles(path: Path) -> dict[str, dict[str, dict[str, float | None]]]:
    da = _location_variable(path, RAIN_TERCILES)
    if da is None:
        return {}
    out = {}
    for name in da["location"].values:
        point = da.sel(location=name)
        out[str(name)] = {str(p): {c: _num(point.sel(period=p, category=c)) for c in CATEGORIES}
                          for p in da["period"].values}
    return out


def rain_dry_season(folder: Path, row_name: str) -> dict[str, bool]:
    """The periods of one location that are climatologically dry (true) or not; {} when the
    products have no dry-season mask (older products)."""
    nc = folder / "products" / "locations.nc"
    by_name = _cached(("dry_season", *_key(folder, "products/locations.nc")), lambda: _nc_dry_season(nc))
    if row_name in by_name:
        return by_name[row_name]
    return next((loc["_csv_dry_season"] for loc in read_locations(folder) if loc["name"] == row_name), {})


def _nc_dry_season(path: Path) -> dict[str, dict[str, bool]]:
    da = _location_variable(path, DRY_SEASON)
    if da is None:
        return {}
    return {str(name): {str(p): bool(float(da.sel(location=name, period=p)) >= 0.5) for p in da["period"].values}
            for name in da["location"].values}


def _csv_terciles(row: dict[str, str]) -> dict[str, dict[str, float | None]]:
    out = {}
    for key, value in row.items():
        m = re.fullmatch(r"rain_(.+)_below", key)
        if m:
            below, above = _num(value), _num(row.get(f"rain_{m.group(1)}_above"))
            near = None if below is None or above is None else round(max(0.0, 1 - below - above), 4)
            out[m.group(1)] = {"below": below, "near": near, "above": above}
    return out


def public(location: dict[str, Any]) -> dict[str, Any]:
    """A location as the API shows it (without the internal keys)."""
    return {k: v for k, v in location.items() if not k.startswith("_")}


def find_location(locations: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The location of that name, ignoring case."""
    wanted = name.casefold()
    return next((loc for loc in locations if str(loc["name"]).casefold() == wanted), None)


def bulletin_index(folder: Path, url_prefix: str = "/files/latest") -> dict[str, Any] | None:
    """The published bulletin: issue date, languages, file URLs, map URLs; None if there is none."""
    bdir = folder / "bulletin"
    if not bdir.is_dir():
        return None
    try:
        meta = json.loads((bdir / "bulletin.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    files, languages = {}, list(meta.get("languages") or [])
    for path in sorted(p for p in bdir.iterdir() if p.is_file()):
        m = re.fullmatch(r"bulletin_([A-Za-z0-9_-]+)\.(html|pdf)", path.name)
        if m:
            files[f"{m.group(2)}_{m.group(1)}"] = f"{url_prefix}/bulletin/{path.name}"
            if m.group(1) not in languages:
                languages.append(m.group(1))
        elif path.suffix in (".csv", ".json"):
            files[path.name.replace(".", "_")] = f"{url_prefix}/bulletin/{path.name}"
    maps = [f"{url_prefix}/bulletin/maps/{p.name}" for p in sorted((bdir / "maps").glob("*.png"))] \
        if (bdir / "maps").is_dir() else []
    return {"issue_date": meta.get("issue_date") or issue_date(folder), "languages": languages,
            "files": files, "maps": maps}


def skill(folder: Path) -> dict[str, Any] | None:
    """The published bulletin's skill (bulletin.json ``skill``: whether the forecasts were assessed
    on held-out years, the scores of what is issued and the bulletin's skill paragraphs per
    language; :func:`sowcast.bulletin.stage.skill_json`); None without a bulletin that has one."""
    try:
        meta = json.loads((folder / "bulletin" / "bulletin.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    out = meta.get("skill") if isinstance(meta, dict) else None
    return out if isinstance(out, dict) else None
