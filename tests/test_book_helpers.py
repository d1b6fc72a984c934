"""rvqlib.book: notebook set-up and offline animations."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.animation import FuncAnimation

from rvqlib.book import animation_html, setup


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


def test_animation_html_is_offline_and_keeps_controls():
    fig, ax = plt.subplots()
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
