"""One-call set-up for the book's notebooks: seeds and a plot style.

Every chapter's first (hidden) cell calls :func:`setup`, so that a notebook run
top to bottom in a fresh kernel gives the same numbers and the same figures
every time, and figures read well on a light or a dark page.
"""

from __future__ import annotations

import random

import numpy as np

__all__ = ["PLOT_STYLE", "setup"]

#: Matplotlib settings shared by every figure in the book: white background (so
#: figures stay legible in dark mode), readable fonts, light grid.
PLOT_STYLE: dict[str, object] = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def setup(seed: int = 0) -> np.random.Generator:
    """Seed every random number generator a chapter uses and set the plot style.

    Parameters
    ----------
    seed : int
        Non-negative seed for Python's :mod:`random`, NumPy's global state and
        torch's default generator.

    Returns
    -------
    numpy.random.Generator
        A fresh generator seeded with ``seed``; chapters draw from it rather
        than from global state.

    Raises
    ------
    TypeError
        If ``seed`` is not an int.
    ValueError
        If ``seed`` is negative.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    import matplotlib as mpl
    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- for third-party code that draws from global state
    torch.manual_seed(seed)
    mpl.rcParams.update(PLOT_STYLE)
    return np.random.default_rng(seed)
