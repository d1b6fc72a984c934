"""One-call set-up for the book's notebooks: seeds and a plot style.

Every chapter's first (hidden) cell calls :func:`setup`, so that a notebook run
top to bottom in a fresh kernel gives the same numbers and the same figures
every time, and figures read well on a light or a dark page.
"""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np

__all__ = ["PLOT_STYLE", "animation_html", "setup"]

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


# Matplotlib's jshtml player links Font Awesome 4 from a CDN; offline (and in the
# book's browser check) that is a failed request and the buttons lose their
# icons. These Unicode symbols need no network and are in common fonts (DejaVu).
_ICONS = {
    "fa fa-fast-backward": "\u21e4",  # ⇤ first frame
    "fa fa-step-backward": "\u2190",  # ← previous frame
    "fa fa-play fa-flip-horizontal": "\u25c0",  # ◀ play backwards
    "fa fa-pause": "\u2016",  # ‖ pause
    "fa fa-play": "\u25b6",  # ▶ play
    "fa fa-step-forward": "\u2192",  # → next frame
    "fa fa-fast-forward": "\u21e5",  # ⇥ last frame
    "fa fa-minus": "\u2212",  # − slower
    "fa fa-plus": "+",  # faster
}


def animation_html(anim: Any, *, close: bool = True) -> Any:
    """Render a matplotlib animation as a self-contained, offline HTML player.

    The player is :meth:`matplotlib.animation.Animation.to_jshtml` with its
    only network dependency (a Font Awesome stylesheet on a CDN) removed and
    the button icons replaced by Unicode symbols, so it plays from ``file://``
    and in the rendered book without any failed request.

    Parameters
    ----------
    anim : matplotlib.animation.Animation
        The animation to render.
    close : bool
        Close the animation's figure afterwards, so the notebook does not also
        show its last frame as a static image.

    Returns
    -------
    IPython.display.HTML
        Display it as a cell's last expression.
    """
    from matplotlib.animation import Animation

    if not isinstance(anim, Animation):
        raise TypeError(f"anim must be a matplotlib Animation, got {type(anim).__name__}")
    import matplotlib.pyplot as plt
    from IPython.display import HTML

    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", anim.to_jshtml())
    for cls, symbol in _ICONS.items():
        html = html.replace(f'<i class="{cls}"></i>', symbol)
    if '<i class="fa' in html:  # a newer matplotlib added an icon we do not map
        raise RuntimeError("matplotlib's jshtml template changed: update rvqlib.book._ICONS")
    if close:
        plt.close(anim._fig)
    return HTML(html)
