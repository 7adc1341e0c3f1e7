"""Make ``africa_countries.geojson`` (coastlines and borders of the bulletin maps), once.

Source: Natural Earth 1:110m Admin 0 - Countries (public domain), in the copy geopandas
0.14.4 ships as ``geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp``. The
wheel is read as a zip; the shapefile with ``pyshp`` (a tool of this script only, not a
dependency of sowcast: ``pip install pyshp==3.1.6``). Keeps the countries whose
``continent`` is Africa, their name and ISO code, coordinates rounded to 0.01 degree::

    python src/sowcast/bulletin/data/make_borders.py geopandas-0.14.4-py3-none-any.whl
"""

from __future__ import annotations

import io
import itertools
import json
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).with_name("africa_countries.geojson")
MEMBER = "geopandas/datasets/naturalearth_lowres/naturalearth_lowres"


def _ring(points) -> list[list[float]]:
    ring = []
    for x, y in points:
        p = [round(x, 2), round(y, 2)]
        if not ring or p != ring[-1]:
            ring.append(p)
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    return ring


def _polygons(shape) -> list[list[list[list[float]]]]:
    """Rings of a shapefile polygon grouped as GeoJSON polygons (an outer ring, then its holes).

    Shapefile outer rings are clockwise, holes counter-clockwise (ESRI spec)."""
    parts = list(shape.parts) + [len(shape.points)]
    polygons: list[list] = []
    for a, b in itertools.pairwise(parts):
        pts = shape.points[a:b]
        area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True))
        ring = _ring(pts)
        if len(ring) < 4:
            continue
        if area <= 0 or not polygons:  # clockwise: a new outer ring
            polygons.append([ring])
        else:
            polygons[-1].append(ring)
    return polygons


def main(wheel: str) -> None:
    import shapefile  # pyshp

    with zipfile.ZipFile(wheel) as z:
        files = {ext: io.BytesIO(z.read(f"{MEMBER}.{ext}")) for ext in ("shp", "shx", "dbf")}
        encoding = z.read(f"{MEMBER}.cpg").decode().strip()  # the .dbf's code page
    reader = shapefile.Reader(**files, encoding=encoding)
    features = []
    for rec, shape in zip(reader.records(), reader.shapes(), strict=True):
        if rec["continent"] != "Africa":
            continue
        features.append({"type": "Feature", "properties": {"name": rec["name"], "iso_a3": rec["iso_a3"]},
                         "geometry": {"type": "MultiPolygon", "coordinates": _polygons(shape)}})
    features.sort(key=lambda f: f["properties"]["name"])
    collection = {"type": "FeatureCollection",
                  "source": "Natural Earth 1:110m Admin 0 - Countries (public domain), via geopandas 0.14.4 "
                            "naturalearth_lowres; Africa; coordinates rounded to 0.01 degree",
                  "features": features}
    OUT.write_text(json.dumps(collection, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(features)} countries, {OUT.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "geopandas-0.14.4-py3-none-any.whl")
