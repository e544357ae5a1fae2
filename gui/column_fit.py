"""Column widths that fit a grid into the width it has (pure arithmetic, no Qt).

Seen before this module: at 1024×700 the results grid's columns, each as wide as a long
sample value, added up to about 1350 px, and the Images column was off-screen. Columns whose
content can be elided (names, descriptions) give up width first, each by the same fraction of
what it can spare; dates and counts keep their width.
"""

from __future__ import annotations

from collections.abc import Mapping


def fit_widths(natural: Mapping[int, int], minimum: Mapping[int, int],
               available: int) -> dict[int, int]:
    """Widths (px) for the columns of ``natural`` so their sum is at most ``available`` px.

    Args:
        natural: column -> the width it would like (px).
        minimum: column -> the least it may get (px); a column missing here keeps its
            natural width. A minimum above the natural width counts as the natural width.
        available: the width there is (px).

    Returns:
        column -> width. All natural widths when they fit; else every shrinkable column gives
        up the same fraction of its spare width (natural - minimum), never going below its
        minimum (then the sum can exceed ``available``: the grid scrolls). Rounding never
        makes the sum exceed ``available`` when the minimums fit.
    """
    total = sum(natural.values())
    if total <= available:
        return dict(natural)
    spare = {column: natural[column] - min(minimum.get(column, width), width)
             for column, width in natural.items()}
    room = sum(spare.values())
    if room <= 0:
        return dict(natural)
    fraction = min(1.0, (total - available) / room)
    widths = {column: width - int(spare[column] * fraction + 0.999)
              for column, width in natural.items()}
    return widths
