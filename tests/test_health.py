"""Tests of rvqlib.health: the codebook-health monitor and its panel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rvqlib.health import METRICS, CodebookMonitor, plot_health
from rvqlib.metrics import code_perplexity, code_usage
from rvqlib.nn import ResidualVQ, VectorQuantizer


def _blobs(n: int, seed: int, dim: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]])[:, :dim]
    pick = torch.randint(0, 4, (n,), generator=g)
    return centres[pick] + 0.3 * torch.randn(n, dim, generator=g)


def test_record_matches_the_codes_of_the_step() -> None:
    torch.manual_seed(0)
    rvq = ResidualVQ(2, 3, 8, dead_code_threshold=0.0)
    mon = CodebookMonitor(rvq)
    for seed in range(4):
        x = _blobs(200, seed)
        _, codes, _ = rvq(x)
        row = mon.record()
        for s in range(3):
            counts = code_usage(codes[:, s], 8)
            assert row["frames"][s] == 200
            assert row["usage"][s] == pytest.approx(float((counts > 0).sum()) / 8)
            assert row["perplexity"][s] == pytest.approx(code_perplexity(codes[:, s], 8))
        norms = rvq.residual_norms
        assert np.allclose(row["residual_norm"], norms)
        assert row["residual_norm"][0] == pytest.approx(float(x.norm(dim=1).mean()), rel=1e-5)
    hist = mon.history
    assert set(hist) == set(METRICS)
    assert all(v.shape == (4, 3) for v in hist.values())
    assert np.isnan(hist["churn"]).all() and np.isnan(hist["probe_mse"]).all()


def test_replacements_are_counted_per_step() -> None:
    torch.manual_seed(1)
    vq = VectorQuantizer(2, 64, dead_code_threshold=2.0)  # K > B/2: churn
    mon = CodebookMonitor(vq)
    total = []
    for seed in range(6):
        before = int(vq.n_replaced)
        vq(_blobs(64, seed))
        total.append(int(vq.n_replaced) - before)
        mon.record()
    assert mon.history["replaced"][:, 0].tolist() == total
    assert sum(total) > 0
    text = " ".join(mon.warnings(last=5))
    assert "replaced per step" in text and "dead_code_threshold 2" in text
    assert "0.1 x that, 0.1" in text  # B/K = 64/64 = 1 vector per code


def test_healthy_run_has_no_warnings_and_settles() -> None:
    torch.manual_seed(2)
    rvq = ResidualVQ(2, 2, 4, dead_code_threshold=1.0)
    mon = CodebookMonitor(rvq, probe=_blobs(300, 99))
    for seed in range(40):
        rvq(_blobs(256, seed))
        mon.record()
    assert mon.warnings() == []
    m = mon.means(last=10)
    assert m["usage"][0] == 1.0 and m["churn"][0] < 0.05
    assert m["probe_mse"][1] < m["probe_mse"][0]  # two stages reconstruct better than one
    assert m["residual_norm"][1] < m["residual_norm"][0]
    lines = mon.summary(last=10).splitlines()
    assert len(lines) == 3 and "churn" in lines[0]


def test_probe_leaves_the_quantizer_unchanged_and_in_training_mode() -> None:
    torch.manual_seed(3)
    rvq = ResidualVQ(2, 2, 8)
    probe = _blobs(50, 7)
    mon = CodebookMonitor(rvq, probe=probe)
    mon.record()  # before any training: nothing to quantize with, no error
    assert np.isnan(mon.history["probe_mse"]).all()
    rvq(_blobs(128, 0))
    state = {k: v.clone() for k, v in rvq.state_dict().items()}
    counts = rvq.usage_counts
    mon.record()
    assert rvq.training
    assert all(torch.equal(state[k], v) for k, v in rvq.state_dict().items())
    assert torch.equal(counts, rvq.usage_counts)
    rvq.eval()
    want = float(((rvq.decode(rvq.encode(probe)) - probe) ** 2).mean())
    assert mon.history["probe_mse"][-1, 1] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"codebook_dim": 2}, {"codebook_dim": 2, "normalize": True}, {"channel_dim": 1}],
)
def test_probe_mse_is_the_decode_with_the_first_stages_bit_for_bit(kwargs: dict) -> None:
    torch.manual_seed(8)
    rvq = ResidualVQ(3, 3, 8, **kwargs)
    cd = kwargs.get("channel_dim", -1)
    x = torch.cat([_blobs(200, 1), torch.randn(200, 1)], dim=1)
    probe = torch.cat([_blobs(60, 9), torch.randn(60, 1)], dim=1)
    if cd == 1:  # (B, D, T)
        x = x.reshape(2, 100, 3).transpose(1, 2)
        probe = probe.reshape(3, 20, 3).transpose(1, 2)
    mon = CodebookMonitor(rvq, probe=probe)
    for _ in range(3):
        rvq(x)
        mon.record()
    rvq.eval()
    codes = rvq.encode(probe)
    for s in range(3):
        recon = rvq.decode(codes.narrow(cd % codes.ndim, 0, s + 1))
        assert mon.history["probe_mse"][-1, s] == float(((recon - probe) ** 2).mean())


def test_churn_is_the_fraction_of_changed_probe_codes() -> None:
    torch.manual_seed(4)
    vq = VectorQuantizer(2, 16, dead_code_threshold=0.0)
    probe = _blobs(100, 5)
    mon = CodebookMonitor(vq, probe=probe)
    vq(_blobs(256, 0))
    mon.record()
    vq.eval()
    first = vq(probe)[1].clone()
    vq.train()
    vq(_blobs(256, 1))
    mon.record()
    vq.eval()
    second = vq(probe)[1]
    want = float((first != second).float().mean())
    assert mon.history["churn"][1, 0] == pytest.approx(want)
    assert math.isnan(mon.history["churn"][0, 0])


def test_idle_codes_and_unused_stages() -> None:
    torch.manual_seed(5)
    vq = VectorQuantizer(2, 8, kmeans_init=False, dead_code_threshold=0.0)
    far = torch.tensor([[-50.0, -50.0]]).repeat(8, 1)
    far[:2] = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
    vq.set_codebook(far)  # six codes far from every vector: they never win
    mon = CodebookMonitor(vq, window=3)
    for seed in range(4):
        vq(_blobs(64, seed))
        mon.record()
    assert mon.history["idle"][:, 0].tolist() == [0, 0, 6, 6]
    assert any("won nothing" in w for w in mon.warnings())
    # a stage that quantizer dropout left out of a step gets nan, not zeros
    rvq = ResidualVQ(2, 3, 4, quantizer_dropout=True)
    mon = CodebookMonitor(rvq)
    for seed in range(12):
        _, codes, _ = rvq(_blobs(64, seed))
        row = mon.record()
        used = codes.shape[-1]
        assert np.isfinite(row["usage"][:used]).all()
        assert np.isnan(row["usage"][used:]).all() and (row["frames"][used:] == 0).all()


def test_channel_dim_probe_and_masked_frames() -> None:
    torch.manual_seed(6)
    rvq = ResidualVQ(2, 2, 4, channel_dim=1)
    x = _blobs(2 * 30, 0).reshape(2, 30, 2).transpose(1, 2)  # (B, D, T)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 20:] = False
    mon = CodebookMonitor(rvq, probe=x.detach())
    rvq(x, mask=mask)
    row = mon.record()
    assert row["frames"].tolist() == [50.0, 50.0]
    assert np.isfinite(row["probe_mse"]).all()


def test_bad_arguments() -> None:
    rvq = ResidualVQ(2, 2, 4)
    with pytest.raises(TypeError, match="quantizer must be"):
        CodebookMonitor(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="probe must be a torch.Tensor"):
        CodebookMonitor(rvq, probe=np.zeros((3, 2)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="floating"):
        CodebookMonitor(rvq, probe=torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="2 channels"):
        CodebookMonitor(rvq, probe=torch.zeros(3, 5))
    with pytest.raises(ValueError, match="NaN"):
        CodebookMonitor(rvq, probe=torch.full((3, 2), math.nan))
    with pytest.raises(ValueError, match="window"):
        CodebookMonitor(rvq, window=0)
    mon = CodebookMonitor(rvq)
    with pytest.raises(ValueError, match="nothing recorded"):
        mon.summary()
    with pytest.raises(ValueError, match="nothing recorded"):
        plot_health(mon)
    rvq(_blobs(64, 0))
    mon.record()
    with pytest.raises(ValueError, match="needs a monitor built with a probe"):
        plot_health(mon, metrics=["churn"])
    with pytest.raises(ValueError, match="unknown metric"):
        plot_health(mon, metrics=["speed"])
    with pytest.raises(TypeError, match="CodebookMonitor"):
        plot_health("monitor")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["max_replaced", "max_idle", "max_churn"])
@pytest.mark.parametrize("value", ["a", None, True, torch.tensor(0.1), [0.1]])
def test_warnings_refuses_a_non_numeric_limit(name: str, value: object) -> None:
    # was: max_replaced="a" raised numpy's UFuncTypeError from the comparison
    rvq = ResidualVQ(2, 2, 4)
    mon = CodebookMonitor(rvq, probe=_blobs(32, 1))
    for seed in range(3):
        rvq(_blobs(64, seed))
        mon.record()
    with pytest.raises(TypeError, match=f"{name} must be a real number"):
        mon.warnings(**{name: value})


@pytest.mark.parametrize("name", ["max_replaced", "max_idle", "max_churn"])
@pytest.mark.parametrize("value", [-0.1, math.nan, -math.inf])
def test_warnings_refuses_a_negative_or_nan_limit(name: str, value: float) -> None:
    # NaN made every comparison false: the warning was silently off
    rvq = ResidualVQ(2, 1, 4)
    mon = CodebookMonitor(rvq)
    rvq(_blobs(64, 0))
    mon.record()
    with pytest.raises(ValueError, match=f"{name} must be a fraction >= 0"):
        mon.warnings(**{name: value})


def test_warnings_limits_accept_numpy_numbers_and_inf() -> None:
    rvq = ResidualVQ(2, 1, 64)
    mon = CodebookMonitor(rvq, window=1)
    rvq(_blobs(8, 0))  # 8 vectors for 64 codes: most codes idle
    mon.record()
    mon.record()
    assert any("won nothing" in line for line in mon.warnings(max_idle=np.float32(0.1)))
    assert not any("won nothing" in line for line in mon.warnings(max_idle=math.inf))
    with pytest.raises(TypeError, match="last must be an integer"):
        mon.warnings(last="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="last must be positive"):
        mon.means(last=0)


def test_plot_health_draws_one_line_per_stage() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.manual_seed(7)
    rvq = ResidualVQ(2, 3, 4)
    mon = CodebookMonitor(rvq, probe=_blobs(40, 1))
    for seed in range(5):
        rvq(_blobs(64, seed))
        mon.record()
    fig = plot_health(mon, title="run")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 4 and all(len(ax.lines) >= 3 for ax in shown)
    assert all(ax.get_xlabel() and ax.get_ylabel() and ax.get_title() for ax in shown)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    out = plot_health(mon, metrics=("usage", "idle"), axes=axes, title="A")
    assert out is fig and axes[0].get_title().startswith("A: ")
    with pytest.raises(ValueError, match="one per metric"):
        plot_health(mon, metrics=("usage",), axes=axes)
    plt.close(fig)


def test_import_does_not_load_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, rvqlib.health; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
