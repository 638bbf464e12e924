"""Label placement for scatter plots: each label goes to the first of a ring of candidate spots around its
point (nearest first) where its box meets no other label, no point and stays inside the plot; a label with no
free spot is left out (the caller lists it in the plot's numbered key instead).

Pure geometry in pixels (x to the right, y up or down, as long as it is consistent), shared by the static
(matplotlib) and the interactive (Plotly) charts, so both honour the same rule: no two label boxes intersect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

Box = Tuple[float, float, float, float]  # x0, y0, x1, y1 with x0 <= x1 and y0 <= y1

# Directions around the point, tried in this order at each distance (right, up-right, up, ...).
_DIRECTIONS = ((1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1))


@dataclass(frozen=True, kw_only=True)
class Placed:
    """Where a label went: its box, and the offset of the box's centre from its point (pixels)."""
    index: int
    box: Box
    dx: float
    dy: float


def intersects(first: Box, second: Box) -> bool:
    """True when two boxes overlap with a positive area (touching edges do not count)."""
    return first[0] < second[2] and second[0] < first[2] and first[1] < second[3] and second[1] < first[3]


def overlaps(boxes: Sequence[Box]) -> int:
    """How many pairs of the boxes intersect."""
    return sum(intersects(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes)))


def place(points: Sequence[Tuple[float, float]], sizes: Sequence[Tuple[float, float]], bounds: Box, *,
          obstacles: Sequence[Tuple[float, float]] = (), marker_radius: float = 5.0, pad: float = 2.0,
          max_distance: float = 60.0) -> List[Optional[Placed]]:
    """A spot for each label (width, height) near its point, or None where every candidate spot collides.

    Labels are placed in the order given (put the important ones first). `obstacles` are further points
    (markers) that labels must not cover; the labelled points themselves are obstacles too."""
    markers = [_marker_box(p, marker_radius) for p in list(points) + list(obstacles)]
    taken: List[Box] = []
    placed: List[Optional[Placed]] = []
    for index, ((x, y), (width, height)) in enumerate(zip(points, sizes)):
        spot = _first_free(x, y, width + 2 * pad, height + 2 * pad, bounds, taken, markers, marker_radius,
                           max_distance)
        if spot is None:
            placed.append(None)
            continue
        box, dx, dy = spot
        taken.append(box)
        inner = (box[0] + pad, box[1] + pad, box[2] - pad, box[3] - pad)
        placed.append(Placed(index=index, box=inner, dx=dx, dy=dy))
    return placed


def _first_free(x, y, width, height, bounds, taken, markers, marker_radius, max_distance):
    distance = marker_radius + 1.0
    while distance <= max_distance:
        for ux, uy in _DIRECTIONS:
            # The box's near edge sits `distance` from the point along the direction.
            cx = x + ux * (distance + width / 2)
            cy = y + uy * (distance + height / 2)
            box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
            if _inside(box, bounds) and not any(intersects(box, other) for other in taken) \
                    and not any(intersects(box, marker) for marker in markers):
                return box, cx - x, cy - y
        distance += 4.0
    return None


def _inside(box: Box, bounds: Box) -> bool:
    return box[0] >= bounds[0] and box[1] >= bounds[1] and box[2] <= bounds[2] and box[3] <= bounds[3]


def _marker_box(point: Tuple[float, float], radius: float) -> Box:
    return (point[0] - radius, point[1] - radius, point[0] + radius, point[1] + radius)
