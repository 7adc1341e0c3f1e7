"""The model climatology of a finished ``sowcast hindcast`` run (``hindcast.climatology``).

The hindcasts' lead-period aggregates, with the store's observed aggregates at the same
starts, give ``climatology.nc`` (:func:`sowcast.products.climatology.build_climatology`),
written into the hindcast folder and, with ``add_to_bundle``, added to the bundle folder
(:func:`sowcast.bundle.reader.offer_file_to_bundle`). It sits in ``products`` because it
builds what the products read; the hindcast stage below it only runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sowcast.forecast.hindcast import open_hindcast
from sowcast.forecast.hindcast_options import HindcastOptions


@dataclass(frozen=True)
class HindcastClimatology:
    path: Path                  # <hindcast.output>/climatology.nc
    bundle_note: str | None     # what became of the bundle (added, or why not); None: not offered
    drift: list[str]            # the model's drift on the hindcast years, lines to print (products.model_drift)


def build_hindcast_climatology(options: HindcastOptions) -> HindcastClimatology:
    """climatology.nc of the hindcasts in ``options.output`` pooled over
    ``options.climatology.window_days`` (module doc)."""
    from sowcast.bundle.reader import load_bundle, offer_file_to_bundle
    from sowcast.data.store import open_store
    from sowcast.products.climatology import build_climatology, write_climatology
    from sowcast.products.daily import store_daily
    from sowcast.products.model_drift import drift_lines
    from sowcast.products.periods import observed_periods

    periods = open_hindcast(options.output, "periods")
    with open_store(options.store, chunks=None) as store:
        names = [v for v in options.variables if v in store.data_vars]
        observed = observed_periods(store_daily(store[names]), periods["start"].values)
    clim = build_climatology(periods, observed, window_days=options.climatology.window_days)
    clim.attrs["bundle_sha256"] = str(load_bundle(options.bundle).sha256)
    path = Path(options.output) / "climatology.nc"
    write_climatology(clim, path)
    note = None
    if options.climatology.add_to_bundle:
        note = offer_file_to_bundle(options.bundle, path, "climatology", "products.climatology")
    years = str(clim.attrs.get("years", "")).split()
    drift = drift_lines(clim, f" over {years[0]}-{years[-1]}" if years else "")
    return HindcastClimatology(path, note, drift)
