"""Exact scaling by powers of two, so that sums of squares neither overflow nor underflow.

Several measures (sums of squares, covariances, a coder's loop) are computed on
data scaled by ``2**-e`` and the result scaled back: multiplying by a power of
two is exact in binary floating point, so the scaled computation gives the
unscaled one's result bit for bit, without overflowing near ``1.8e308`` or
losing everything to underflow near ``1e-308``.
"""

from __future__ import annotations

import math
from typing import Any

#: Largest magnitudes that need no scaling: their squares, and sums of very many of
#: them, stay far inside float64's range (squares below ``2**-1022`` are lost, but
#: next to a largest square of at least ``2**-800`` they are below its rounding error).
SAFE_LO, SAFE_HI = 2.0**-400, 2.0**400


def pow2_shift(top: float) -> int:
    """The ``e`` with ``top / 2**e`` in ``[1/2, 1)`` when ``top`` lies outside the safe range.

    ``top`` is a largest magnitude (``max |x|``, at least 0). Returns 0 when it
    lies in ``[SAFE_LO, SAFE_HI]`` or is 0, so that data in the ordinary range
    are never touched.
    """
    return math.frexp(top)[1] if top > 0 and not SAFE_LO <= top <= SAFE_HI else 0


def ldexp_(a: Any, exp: int) -> Any:
    """``a * 2**-exp`` in place, for a float numpy array or torch tensor.

    Exact unless results under- or overflow; steps of at most ``2**1000`` keep
    every factor a finite float64.
    """
    while exp:
        step = max(-1000, min(1000, exp))
        a *= 2.0**-step
        exp -= step
    return a
