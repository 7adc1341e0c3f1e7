"""The real chain at a tiny size, for the tests of products, bulletins and the service:
a canonical store over West Africa -> a torch-free bundle (a small ONNX graph, see
tests/forecast/forecast_helpers.py) -> hindcasts and their climatology -> an ensemble
forecast -> ``sowcast calibrate`` (calibration.nc added to the bundle) -> the products
(raw: the bulletin tests need advice of every kind, which 2 years of random weather calibrate
away; tests/calibrate runs the products with the calibration). Every step is the real code;
only sizes are small."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent / "forecast"))

from forecast_helpers import write_bundle  # noqa: E402

from sowcast.data.grid import Grid  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LOCATIONS = REPO / "data" / "locations" / "west_africa_demo.csv"
ISSUE_DATE = "2001-04-27"


def west_africa_grid() -> Grid:
    return Grid(lat=np.arange(4.0, 18.0, 1.0), lon=np.arange(-18.0, 5.0, 1.0))


def make_chain(root: Path, members: int = 4) -> dict[str, Path]:
    """Store (2000-01-01 .. 2001-12-31), bundle with climatology.nc, forecast from
    :data:`ISSUE_DATE`, and the products folder; returns their paths."""
    from sowcast.calibrate.calibration import CalibrateOptions
    from sowcast.calibrate.calibration import run as calibrate
    from sowcast.config_tree import compose
    from sowcast.data.testing import make_canonical_store
    from sowcast.forecast.engine import ForecastOptions, run_forecast
    from sowcast.forecast.hindcast_options import HindcastOptions
    from sowcast.products.hindcast_stage import run as hindcast
    from sowcast.products.options import ProductsOptions
    from sowcast.products.stage import run as make_products

    root.mkdir(parents=True, exist_ok=True)
    store = make_canonical_store(root / "store.zarr", n_times=730, grid=west_africa_grid(), levels=None,
                                 start="2000-01-01", seed=3)
    bundle = write_bundle(root / "bundle", store, "dynamics")
    cfg = compose([f"hindcast.bundle={bundle}", f"hindcast.store={store}", f"hindcast.output={root / 'hindcast'}",
                   "hindcast.years=[2000,2001]", "hindcast.first=04-20", "hindcast.last=06-29",
                   "hindcast.every_days=14", "hindcast.members=2", "hindcast.threads=1", "hindcast.keep_daily=true"])
    hindcast(HindcastOptions.from_config(cfg.hindcast), progress=False)
    cfg = compose([f"calibrate.hindcast={root / 'hindcast'}", f"calibrate.store={store}",
                   f"calibrate.bundle={bundle}", "calibrate.neighbourhood=1"])
    calibrate(CalibrateOptions.from_config(cfg.calibrate))  # adds calibration.nc to the bundle
    forecast = run_forecast(ForecastOptions.from_config(
        {"bundle": str(bundle), "init": str(store), "init_time": ISSUE_DATE, "output": str(root / "forecast.zarr"),
         "members": members, "lead": "46D", "threads": 1,
         "perturbation": {"variable_scale": {}}}))  # rain at scale 0.5, as the chain's checked values were made
    cfg = compose([f"products.forecast={forecast.output}", f"products.bundle={bundle}",
                   f"products.observed={store}", f"products.locations={LOCATIONS}",
                   f"products.output={root / 'products'}", "products.calibration=none"])
    make_products(ProductsOptions.from_config(cfg.products))
    return {"store": store, "bundle": bundle, "hindcast": root / "hindcast", "forecast": forecast.output,
            "calibration": root / "hindcast" / "calibration.nc",
            "products": root / "products"}
