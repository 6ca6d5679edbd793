"""Where a scalar function crosses zero or peaks: what the exercises' answers are read from.

Every answer of the problem set that is a place (a distance, a rest point, where an
error changes sign) is the zero of a scalar function of one variable, found by
bracketing it on a grid and bisecting, or the peak of sampled values, read off the
parabola through the best sample and its neighbours.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Scalar = Callable[[float], float]


def bisect(f: Scalar, lo: float, hi: float, xtol: float = 1e-12) -> float:
    """The zero of ``f`` in ``[lo, hi]`` by bisection; ``f(lo)`` and ``f(hi)`` differ in sign.

    Raises:
      ValueError: ``f`` has the same sign at both ends.
    """
    f_lo = f(lo)
    if f_lo * f(hi) > 0:
        raise ValueError(f"f has the same sign at {lo} and {hi}: no zero is bracketed")
    while hi - lo > xtol * max(1.0, abs(lo)):
        mid = 0.5 * (lo + hi)
        f_mid = f(mid)
        if f_mid * f_lo > 0:
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def first_crossing(f: Scalar, grid: np.ndarray, falling: bool) -> float:
    """The first zero of ``f`` along ``grid`` at which ``f`` goes from + to - (``falling``)
    or from - to +, bracketed between two grid points and bisected.

    Raises:
      ValueError: ``f`` crosses zero nowhere on ``grid`` in that direction.
    """
    values = [f(float(x)) for x in grid]
    for i in range(len(grid) - 1):
        before, after = values[i], values[i + 1]
        if (before > 0 >= after) if falling else (before < 0 <= after):
            return bisect(f, float(grid[i]), float(grid[i + 1]))
    direction = "from + to -" if falling else "from - to +"
    raise ValueError(f"f crosses zero nowhere {direction} on [{grid[0]}, {grid[-1]}]")


def parabola_peak(x: np.ndarray, y: np.ndarray) -> float:
    """The ``x`` of the vertex of the parabola through the largest ``y`` and its two neighbours.

    Raises:
      ValueError: the largest ``y`` is at an end of the samples.
    """
    i = int(np.argmax(y))
    if i in (0, len(y) - 1):
        raise ValueError("the largest value is at an end of the samples: no peak inside")
    (x0, x1, x2), (y0, y1, y2) = x[i - 1 : i + 2], y[i - 1 : i + 2]
    numerator = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    denominator = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    return float(x1 - 0.5 * numerator / denominator)
