"""Helpers shared by the book's notebooks: set-up, animations and Voronoi plots.

Every chapter's first (hidden) cell calls :func:`setup`, so that a notebook run
top to bottom in a fresh kernel gives the same numbers and the same figures
every time, and figures read well on a light or a dark page.
:func:`animation_html` embeds animations that play offline, and
:func:`voronoi_labels` / :func:`plot_voronoi` draw the cells of a 2-D codebook
(chapters 2 and 3).
"""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np

__all__ = [
    "ANIMATION_MIN_DPI",
    "ANIMATION_MIN_WIDTH_IN",
    "PLOT_STYLE",
    "animation_html",
    "plot_voronoi",
    "setup",
    "voronoi_labels",
]

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


def setup(seed: int = 0, *, threads: int | None = 1) -> np.random.Generator:
    """Seed every random number generator a chapter uses, set the plot style and torch's threads.

    One torch thread is the default because the book's tensors are small: on a
    2-core machine that is busy with other work, torch's parallel kernels wait
    for a free core on every call, and a chapter ran 18 times slower with two
    threads than with one. A chapter that measures threading passes
    ``threads=None`` and sets them itself.

    Parameters
    ----------
    seed : int
        Non-negative seed for Python's :mod:`random`, NumPy's global state and
        torch's default generator.
    threads : int or None
        Number of torch intra-op threads (``torch.set_num_threads``); ``None``
        leaves torch's setting alone.

    Returns
    -------
    numpy.random.Generator
        A fresh generator seeded with ``seed``; chapters draw from it rather
        than from global state.

    Raises
    ------
    TypeError
        If ``seed`` or ``threads`` is not an int.
    ValueError
        If ``seed`` is negative or ``threads`` is below 1.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int | np.integer):
            raise TypeError(f"threads must be an int or None, got {type(threads).__name__}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
    import matplotlib as mpl
    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- for third-party code that draws from global state
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(int(threads))
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


#: Smallest resolution and width of an animation's frames: below them the
#: text of a frame is smaller than that of the book's static figures.
ANIMATION_MIN_DPI = 100
ANIMATION_MIN_WIDTH_IN = 5.0


def animation_html(anim: Any, *, close: bool = True, dpi: int = ANIMATION_MIN_DPI) -> Any:
    """Render a matplotlib animation as a self-contained, offline HTML player.

    The player is :meth:`matplotlib.animation.Animation.to_jshtml` with its
    only network dependency (a Font Awesome stylesheet on a CDN) removed and
    the button icons replaced by Unicode symbols, so it plays from ``file://``
    and in the rendered book without any failed request.

    Frames are drawn at ``dpi`` dots per inch (at least
    :data:`ANIMATION_MIN_DPI`) from a figure at least
    :data:`ANIMATION_MIN_WIDTH_IN` inches wide, so that their text is as
    legible as the book's static figures. Keep the page light with fewer
    frames, not smaller ones.

    Parameters
    ----------
    anim : matplotlib.animation.Animation
        The animation to render.
    close : bool
        Close the animation's figure afterwards, so the notebook does not also
        show its last frame as a static image.
    dpi : int
        Resolution of the embedded frames, at least :data:`ANIMATION_MIN_DPI`.

    Returns
    -------
    IPython.display.HTML
        Display it as a cell's last expression.

    Raises
    ------
    TypeError
        If ``anim`` is not a matplotlib animation or ``dpi`` not an int.
    ValueError
        If ``dpi`` is below :data:`ANIMATION_MIN_DPI` or the figure is
        narrower than :data:`ANIMATION_MIN_WIDTH_IN` inches.
    """
    from matplotlib.animation import Animation

    if not isinstance(anim, Animation):
        raise TypeError(f"anim must be a matplotlib Animation, got {type(anim).__name__}")
    if isinstance(dpi, bool) or not isinstance(dpi, int | np.integer):
        raise TypeError(f"dpi must be an int, got {type(dpi).__name__}")
    if dpi < ANIMATION_MIN_DPI:
        raise ValueError(f"dpi must be at least {ANIMATION_MIN_DPI} (legible frames), got {dpi}")
    width = float(anim._fig.get_size_inches()[0])
    if width < ANIMATION_MIN_WIDTH_IN:
        raise ValueError(
            f"the animation's figure is {width:g} in wide; make it at least "
            f"{ANIMATION_MIN_WIDTH_IN:g} in (figsize) so its text is legible"
        )
    import matplotlib.pyplot as plt
    from IPython.display import HTML

    with plt.rc_context({"savefig.dpi": int(dpi)}):
        html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", anim.to_jshtml())
    for cls, symbol in _ICONS.items():
        html = html.replace(f'<i class="{cls}"></i>', symbol)
    if '<i class="fa' in html:  # a newer matplotlib added an icon we do not map
        raise RuntimeError("matplotlib's jshtml template changed: update rvqlib.book._ICONS")
    if close:
        plt.close(anim._fig)
    return HTML(html)


def _extent(extent: Any) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(v) for v in extent)
    except (TypeError, ValueError):
        raise TypeError(
            f"extent must be four numbers (xmin, xmax, ymin, ymax), got {extent!r}"
        ) from None
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ValueError(
            f"extent must be four finite numbers (xmin, xmax, ymin, ymax), got {extent!r}"
        )
    x0, x1, y0, y1 = values
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"extent must have xmin < xmax and ymin < ymax, got {extent!r}")
    return values


def voronoi_labels(codebook: Any, extent: Any, resolution: int = 300) -> np.ndarray:
    """Colour a regular 2-D grid by nearest codeword: the Voronoi cells as an image.

    The cells need no geometry: every point of a ``resolution`` x ``resolution``
    grid spanning ``extent`` gets the index :func:`rvqlib.vq.nearest` gives it
    (ties to the lowest index, as the encoder does).

    Parameters
    ----------
    codebook : array_like or torch.Tensor, shape (K, 2)
        The codewords, one per row.
    extent : sequence of 4 floats
        ``(xmin, xmax, ymin, ymax)`` of the grid, as for
        :meth:`matplotlib.axes.Axes.imshow`.
    resolution : int
        Grid points along each axis (at least 2).

    Returns
    -------
    numpy.ndarray of int64, shape (resolution, resolution)
        Entry ``[i, j]`` is the index of the codeword nearest to the point
        ``(x_j, y_i)``, with ``x`` and ``y`` increasing along columns and rows:
        show it with ``imshow(..., origin="lower", extent=extent)``.

    Raises
    ------
    TypeError
        If ``extent`` is not four numbers or ``resolution`` is not an int.
    ValueError
        If ``codebook`` is not a non-empty finite (K, 2) array, ``extent`` is
        empty or not finite, or ``resolution`` is below 2.
    """
    from rvqlib._validate import positive_int
    from rvqlib.vq import nearest

    if hasattr(codebook, "detach"):  # a torch tensor, possibly on a GPU
        codebook = codebook.detach().cpu().numpy()
    cb = np.asarray(codebook, dtype=np.float64)
    if cb.ndim != 2 or cb.shape[1] != 2 or cb.shape[0] == 0:
        raise ValueError(f"codebook must have shape (K, 2) with K >= 1, got {cb.shape}")
    x0, x1, y0, y1 = _extent(extent)
    n = positive_int(resolution, "resolution", minimum=2)
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    return np.asarray(nearest(grid, cb)).reshape(n, n)


def plot_voronoi(
    ax: Any,
    codebook: Any,
    extent: Any,
    *,
    labels: np.ndarray | None = None,
    resolution: int = 300,
    cmap: Any = "tab20",
    alpha: float = 0.45,
    show_codewords: bool = True,
    numbers: bool = True,
) -> Any:
    """Draw the Voronoi cells of a 2-D codebook on a matplotlib axes.

    Shades each cell in its own colour (colours repeat beyond the colormap's
    size), marks the codewords as black dots numbered by their index, and sets
    equal aspect (so bisectors look perpendicular), the limits to ``extent`` and
    the axis labels ``z_1``, ``z_2`` (dimensionless).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    codebook : array_like or torch.Tensor, shape (K, 2)
        The codewords, one per row.
    extent : sequence of 4 floats
        ``(xmin, xmax, ymin, ymax)`` of the picture.
    labels : numpy.ndarray, optional
        The cell index of every grid point, from :func:`voronoi_labels` with
        the same ``codebook`` and ``extent``; computed when omitted.
    resolution : int
        Grid points along each axis when ``labels`` is computed here.
    cmap : str or matplotlib.colors.Colormap
        A qualitative colormap; cell ``k`` gets colour ``k mod cmap.N``.
    alpha : float
        Opacity of the shading, so that data drawn on top stays visible.
    show_codewords : bool
        Mark the codewords (black dots, label ``"codewords $e_k$"`` for a legend).
    numbers : bool
        Print each codeword's index next to it (only with ``show_codewords``).

    Returns
    -------
    matplotlib.image.AxesImage
        The shaded cells; an animation can update them with
        ``image.set_data(voronoi_labels(new_codebook, extent, resolution) % image.cmap.N)``.
    """
    import matplotlib as mpl

    if labels is None:
        labels = voronoi_labels(codebook, extent, resolution)
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 2-D integer array, got {labels.dtype} {labels.shape}")
    x0, x1, y0, y1 = _extent(extent)
    colormap = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap
    image = ax.imshow(
        labels % colormap.N,  # beyond N cells the colours repeat
        origin="lower",
        extent=(x0, x1, y0, y1),
        cmap=colormap,
        vmin=-0.5,
        vmax=colormap.N - 0.5,
        alpha=alpha,
        interpolation="nearest",
    )
    if show_codewords:
        cb = codebook.detach().cpu().numpy() if hasattr(codebook, "detach") else codebook
        cb = np.asarray(cb, dtype=np.float64)
        ax.scatter(cb[:, 0], cb[:, 1], c="black", s=30, zorder=3, label="codewords $e_k$")
        if numbers:
            for k, (x, y) in enumerate(cb):
                ax.annotate(str(k), (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.set(
        xlim=(x0, x1),
        ylim=(y0, y1),
        aspect="equal",
        xlabel="$z_1$ (dimensionless)",
        ylabel="$z_2$ (dimensionless)",
    )
    ax.grid(False)
    return image
