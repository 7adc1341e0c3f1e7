"""Place names on a map without collisions and inside the map: a greedy placer over
candidate positions, measured with matplotlib's own text extents.

Candidate positions, in order: upper right of the point (the place cartographers prefer for
a point's name; Imhof 1975, "Positioning names on maps", The American Cartographer 2(2)),
right, lower right, upper left, left, lower left, above, below; then the same positions
farther out, with a thin leader line to the point. Points are placed most crowded first (most other points
within a label's width), each taking the first position whose box lies inside the axes and
overlaps no marker, no label already placed and no text reserved on the map (the credit
line); when none is free, the position with the least overlap.

Call it after the figure is laid out (:func:`freeze_layout`), so the extents measured are
those drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (dx, dy) in points from the point, horizontal and vertical alignment
POSITIONS = (
    (3, 2, "left", "bottom"), (4, 0, "left", "center"), (3, -2, "left", "top"),
    (-3, 2, "right", "bottom"), (-4, 0, "right", "center"), (-3, -2, "right", "top"),
    (0, 5, "center", "bottom"), (0, -5, "center", "top"),
)
FAR = 3.0          # the far ring: offsets x this, with a leader line
MARKER_PT = 3.0    # half the side of the box kept free around each marker, points
PAD_PX = 1.0       # gap kept between boxes, pixels


@dataclass
class Placed:
    name: str
    box: tuple[float, float, float, float]   # x0, y0, x1, y1 in display pixels
    overlap: float                           # pixels^2 of overlap left (0: free)
    far: bool


def freeze_layout(fig) -> None:
    """Lay the figure out once (draw), then keep that layout, so text measured now stays put."""
    fig.canvas.draw()
    fig.set_layout_engine("none")


def _area(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _outside(box, frame) -> float:
    """Pixels^2 of ``box`` outside ``frame`` (as overlap, so an edge costs like a collision)."""
    full = (box[2] - box[0]) * (box[3] - box[1])
    return full - _area(box, frame)


def place_labels(ax, points, fontsize: float = 7, reserved=(), path_effects=None, family: str | None = None,
                 zorder: float = 4) -> list[Placed]:
    """Label ``points`` ((name, lat, lon), data coordinates) on ``ax`` (module doc); returns
    where each went. ``reserved``: artists (texts) whose boxes labels must avoid."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_px = fig.dpi / 72.0
    frame = ax.get_window_extent(renderer).extents
    xy = [ax.transData.transform((lon, lat)) for _name, lat, lon in points]
    m = MARKER_PT * to_px
    markers = [(x - m, y - m, x + m, y + m) for x, y in xy]
    taken = [tuple(a.get_window_extent(renderer).extents) for a in reserved]

    # most crowded first: neighbours within 60 pixels
    pts = np.asarray(xy, dtype=float).reshape(-1, 2)
    crowd = [(int(((np.abs(pts - p) < 60 * fig.dpi / 120).all(axis=1)).sum()), -k) for k, p in enumerate(pts)]
    order = sorted(range(len(points)), key=lambda k: crowd[k], reverse=True)

    placed: dict[int, Placed] = {}
    for k in order:
        name, lat, lon = points[k]
        text = ax.annotate(name, xy=(lon, lat), xytext=(0, 0), textcoords="offset points", fontsize=fontsize,
                           zorder=zorder, path_effects=path_effects, family=family, annotation_clip=False)
        best = None
        for far in (False, True):
            for dx, dy, ha, va in POSITIONS:
                scale = FAR if far else 1.0
                text.set_position((dx * scale, dy * scale))
                text.set_ha(ha)
                text.set_va(va)
                b = text.get_window_extent(renderer).extents
                box = (b[0] - PAD_PX, b[1] - PAD_PX, b[2] + PAD_PX, b[3] + PAD_PX)
                cost = _outside(box, frame) * 4
                cost += sum(_area(box, o) for j, o in enumerate(markers) if j != k)
                cost += sum(_area(box, o) for o in taken)
                if best is None or cost < best[0]:
                    best = (cost, (dx * scale, dy * scale, ha, va), tuple(b), far)
                if cost == 0:
                    break
            if best[0] == 0:
                break
        _cost, (dx, dy, ha, va), box, far = best
        text.set_position((dx, dy))
        text.set_ha(ha)
        text.set_va(va)
        if far:
            ax.annotate("", xy=(lon, lat), xytext=(dx * 0.8, dy * 0.8), textcoords="offset points",
                        arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "#333333", "shrinkA": 0, "shrinkB": 2},
                        zorder=zorder, annotation_clip=False)
        taken.append(box)
        placed[k] = Placed(str(name), box, float(_cost), far)
    return [placed[k] for k in range(len(points))]
