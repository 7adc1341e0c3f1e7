"""``sowcast products``: weekly and planting products of one ensemble forecast
(:mod:`sowcast.products.stage`; the folder it writes: :mod:`sowcast.products.folder`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

if TYPE_CHECKING:
    from sowcast.products.options import ProductsOptions
    from sowcast.products.stage import ProductsResult


def run(cfg: DictConfig) -> int:
    """Weekly and planting products of one ensemble forecast (issue date = its init date):

        sowcast products products.forecast=fc.zarr products.bundle=bundles/demo \\
            products.observed=data/demo/demo.zarr products.locations=data/locations/west_africa_demo.csv

    Writes products.json, weekly.nc, locations.nc, locations.csv and planting_map.nc into
    products.output (replaced as a whole); prints the advice of the first 12 locations.
    """
    from sowcast.products.options import ProductsOptions
    from sowcast.products.stage import run as make_products

    options = ProductsOptions.from_config(cfg.products)
    finish(options, make_products(options))
    return 0


def finish(options: ProductsOptions, result: ProductsResult) -> None:
    """What the command prints after the stage (the demo too): the files and the advice of the
    first 12 locations."""
    print(f"products of {result.issue:%Y-%m-%d} in {result.output}: {', '.join(result.files)}")
    for name, line in result.advice[:12]:
        print(f"  {name}: {line}")
