"""rvqlib.book: notebook set-up and offline animations."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.animation import FuncAnimation

from rvqlib.book import animation_html, plot_voronoi, setup, voronoi_labels
from rvqlib.vq import nearest


def test_setup_is_deterministic_and_sets_style():
    a = setup(3).normal(size=4)
    t1 = torch.rand(3)
    b = setup(3).normal(size=4)
    t2 = torch.rand(3)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(t1, t2)
    assert matplotlib.rcParams["figure.facecolor"] == "white"


@pytest.mark.parametrize("bad", [1.5, "0", None, True])
def test_setup_rejects_non_int_seed(bad):
    with pytest.raises(TypeError, match="seed"):
        setup(bad)


def test_setup_rejects_negative_seed():
    with pytest.raises(ValueError, match="seed"):
        setup(-1)


def test_setup_sets_one_torch_thread_by_default_and_can_leave_it():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        setup(0)
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        setup(0, threads=None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("bad", "error"), [(0, ValueError), (1.0, TypeError), (True, TypeError)])
def test_setup_rejects_bad_threads(bad, error):
    with pytest.raises(error, match="threads"):
        setup(0, threads=bad)


def test_animation_html_is_offline_and_keeps_controls():
    fig, ax = plt.subplots(figsize=(5, 4))
    (line,) = ax.plot([0, 1], [0, 1])
    anim = FuncAnimation(fig, lambda i: (line.set_ydata([0, i]), line)[1:], frames=3)
    html = animation_html(anim).data
    assert "http" not in html, "the player must not load anything from the network"
    assert "fa fa-" not in html, "Font Awesome icons must be replaced"
    assert "anim-slider" in html and "\u25b6" in html
    assert not plt.fignum_exists(fig.number), "the figure is closed after rendering"


def test_animation_html_rejects_non_animation():
    with pytest.raises(TypeError, match="anim"):
        animation_html("not an animation")


def _frame_width_px(html: str) -> int:
    import base64
    import re
    import struct

    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html).group(1))
    return struct.unpack(">I", png[16:20])[0]  # the IHDR width


def test_animation_frames_are_legible():
    fig, ax = plt.subplots(figsize=(5, 4), dpi=72)
    (line,) = ax.plot([0, 1], [0, 1])
    anim = FuncAnimation(fig, lambda i: (line.set_ydata([0, i]), line)[1:], frames=2)
    html = animation_html(anim).data
    assert _frame_width_px(html) >= 500, "frames are drawn at >= 100 dpi from >= 5 inches"


def test_animation_html_rejects_small_or_low_resolution_animations():
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    (line,) = ax.plot([0, 1], [0, 1])
    anim = FuncAnimation(fig, lambda i: (line.set_ydata([0, i]), line)[1:], frames=2)
    with pytest.raises(ValueError, match="in wide"):
        animation_html(anim)
    fig.set_size_inches(6, 4)
    with pytest.raises(ValueError, match="dpi"):
        animation_html(anim, dpi=72)
    with pytest.raises(TypeError, match="dpi"):
        animation_html(anim, dpi=100.0)
    animation_html(anim, dpi=100)  # the same animation, once it is fit to show, plays
    plt.close(fig)


CODEBOOK = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])


def test_voronoi_labels_match_nearest_with_rows_as_y():
    lab = voronoi_labels(CODEBOOK, (-2, 2, -1, 3), resolution=41)
    assert lab.shape == (41, 41) and lab.dtype == np.int64
    xs, ys = np.linspace(-2, 2, 41), np.linspace(-1, 3, 41)
    i, j = 5, 30  # row i is y = ys[i], column j is x = xs[j]
    assert lab[i, j] == nearest(np.array([xs[j], ys[i]]), CODEBOOK)
    assert lab[0, 0] == 0 and lab[0, -1] == 1 and lab[-1, 20] == 2  # bottom-left, -right, top
    assert set(np.unique(lab)) == {0, 1, 2}


def test_voronoi_labels_tie_goes_to_lowest_index_and_torch_is_accepted():
    # the grid's middle column is x = 0, exactly between codewords 0 and 1
    lab = voronoi_labels(CODEBOOK[:2], (-1, 1, -1, 1), resolution=3)
    assert lab[:, 1].tolist() == [0, 0, 0]
    np.testing.assert_array_equal(
        voronoi_labels(torch.from_numpy(CODEBOOK), (-2, 2, -1, 3), 21),
        voronoi_labels(CODEBOOK, (-2, 2, -1, 3), 21),
    )


@pytest.mark.parametrize(
    ("codebook", "extent", "resolution", "error", "match"),
    [
        (np.zeros((3, 3)), (-1, 1, -1, 1), 10, ValueError, "codebook"),
        (np.zeros((0, 2)), (-1, 1, -1, 1), 10, ValueError, "codebook"),
        (CODEBOOK, (-1, 1, -1), 10, ValueError, "extent"),
        (CODEBOOK, (1, -1, -1, 1), 10, ValueError, "xmin < xmax"),
        (CODEBOOK, "abcd", 10, TypeError, "extent"),
        (CODEBOOK, (-1, 1, -1, 1), 1, ValueError, "resolution"),
        (CODEBOOK, (-1, 1, -1, 1), 2.5, TypeError, "resolution"),
    ],
)
def test_voronoi_labels_rejects_bad_input(codebook, extent, resolution, error, match):
    with pytest.raises(error, match=match):
        voronoi_labels(codebook, extent, resolution)


def test_plot_voronoi_draws_cells_codewords_and_labels():
    fig, ax = plt.subplots()
    image = plot_voronoi(ax, CODEBOOK, (-2, 2, -1, 3), resolution=21)
    np.testing.assert_array_equal(image.get_array(), voronoi_labels(CODEBOOK, (-2, 2, -1, 3), 21))
    assert ax.get_xlim() == (-2, 2) and ax.get_ylim() == (-1, 3)
    assert "z_1" in ax.get_xlabel() and "dimensionless" in ax.get_ylabel()
    assert [t.get_text() for t in ax.texts] == ["0", "1", "2"]
    assert ax.get_legend_handles_labels()[1] == ["codewords $e_k$"]
    plt.close(fig)


def test_plot_voronoi_wraps_colours_and_can_skip_codewords():
    cb = np.stack([np.arange(25.0), np.zeros(25)], axis=1)  # 25 cells, tab20 has 20 colours
    lab = voronoi_labels(cb, (-1, 25, -1, 1), resolution=60)
    fig, ax = plt.subplots()
    image = plot_voronoi(ax, cb, (-1, 25, -1, 1), labels=lab, show_codewords=False)
    assert image.get_array().max() == 19 and np.array_equal(image.get_array(), lab % 20)
    assert not ax.texts and not ax.collections
    with pytest.raises(ValueError, match="labels"):
        plot_voronoi(ax, cb, (-1, 25, -1, 1), labels=lab.astype(float))
    plt.close(fig)
