"""Codebook health: a per-stage monitor for a training loop (chapter 9).

A codebook can fail without raising anything: codes that never win a vector
(dead codes), codes that are thrown away and redrawn from every batch (a
dead-code threshold too high for the batch, see chapter 9, "The threshold is
counted in vectors per batch"), a stage that no longer shrinks the residual.
The training loss often looks ordinary while it happens. :class:`CodebookMonitor`
reads the diagnostics that :class:`rvqlib.nn.VectorQuantizer` and
:class:`rvqlib.nn.ResidualVQ` keep (per-stage code counts, replacements,
residual norms) once per training step and turns them into a history, a text
summary, plain-language warnings and a figure (:func:`plot_health`)::

    monitor = CodebookMonitor(rvq, probe=held_out)
    for batch in loader:
        zq, codes, losses = rvq(encoder(batch))
        ...                                  # backward, optimiser step
        monitor.record()
    print(monitor.summary())
    for line in monitor.warnings():
        print(line)

What is recorded for every stage ``s`` at every step (one row per call of
:meth:`CodebookMonitor.record`):

- ``frames``: the vectors the stage quantized in the step's training batch
  (fewer than the batch under per-example quantizer dropout, or with a mask);
- ``usage``: the fraction of the ``K`` codes that won at least one of them;
- ``perplexity``: ``exp`` of the entropy of the step's code counts, the
  effective number of codes in use (between 1 and ``K``,
  :func:`rvqlib.metrics.code_perplexity`);
- ``idle``: codes that won nothing in the last ``window`` steps;
- ``replaced``: dead-code replacements made during the step;
- ``residual_norm``: the mean norm of the vectors entering the stage (the
  residual left by the stages before it);
- with a ``probe`` (held-out vectors, quantized in ``eval()`` mode, which
  changes nothing): ``churn``, the fraction of probe vectors whose code at the
  stage differs from the previous step's, and ``probe_mse``, the mean squared
  error per entry of the probe reconstructed from the first ``s`` stages.

A stage that the step did not use (quantizer dropout per batch) gets ``nan``
for the per-batch quantities. Only numpy and torch are needed;
:func:`plot_health` imports matplotlib when it is called.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rvqlib._validate import is_torch, positive_int
from rvqlib.nn import ResidualVQ, VectorQuantizer

__all__ = ["METRICS", "CodebookMonitor", "plot_health"]

#: The per-stage quantities :class:`CodebookMonitor` records, in the order of
#: :attr:`CodebookMonitor.history`.
METRICS: tuple[str, ...] = (
    "frames",
    "usage",
    "perplexity",
    "idle",
    "replaced",
    "residual_norm",
    "churn",
    "probe_mse",
)

_LABELS = {
    "frames": "vectors per step",
    "usage": "codes used (fraction of K)",
    "perplexity": "perplexity (codes)",
    "idle": "idle codes",
    "replaced": "replaced per step (fraction of K)",
    "residual_norm": "mean residual norm (units)",
    "churn": "probe codes changed (fraction)",
    "probe_mse": "probe MSE (squared units)",
}
_TITLES = {
    "frames": "Vectors reaching each stage",
    "usage": "Codes used per step",
    "perplexity": "Perplexity per step",
    "idle": "Idle codes",
    "replaced": "Dead-code replacements",
    "residual_norm": "Residual entering each stage",
    "churn": "Code churn on the probe",
    "probe_mse": "Probe distortion after s stages",
}


def _limit(value: Any, name: str) -> float:
    """A warning limit: a real number >= 0 (``inf`` turns the warning off)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (a fraction), got {type(value).__name__}")
    value = float(value)
    if not value >= 0:  # also NaN, which would silence the warning
        raise ValueError(f"{name} must be a fraction >= 0, got {value}")
    return value


def _perplexity(counts: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


class CodebookMonitor:
    """Record the health of every codebook of a quantizer, once per training step.

    Call :meth:`record` after each training ``forward`` (before or after the
    optimiser step: the quantizer's statistics are updated in ``forward``). The
    monitor reads the module's own diagnostics (``code_counts``,
    ``n_replaced``, ``last_input_norm`` of every stage) and, when a ``probe`` is
    given, quantizes it in ``eval()`` mode, which changes no parameter or
    buffer. Chapter 9 ("A health panel") uses it.

    Parameters
    ----------
    quantizer : rvqlib.nn.ResidualVQ or rvqlib.nn.VectorQuantizer
        The quantizer being trained (a single ``VectorQuantizer`` is one stage).
    probe : torch.Tensor, optional
        Held-out vectors in the quantizer's input layout (vectors on its
        ``channel_dim`` axis), on its device. They give the ``churn`` and
        ``probe_mse`` columns; a few hundred vectors are enough. For a
        ``VectorQuantizer`` the probe is quantized by an ``eval()``-mode
        ``forward``, so its ``last_input_norm`` then describes the probe (the
        monitor reads the training value first).
    window : int, default 20
        A code is ``idle`` when it has won no vector in the last ``window``
        recorded steps (codes that never won become idle after ``window``
        steps).

    Attributes
    ----------
    quantizer : rvqlib.nn.ResidualVQ or rvqlib.nn.VectorQuantizer
        The monitored module.
    n_stages : int
        Number of codebooks (``n_q``, or 1).
    codebook_size : int
        Codes per stage ``K``.
    window : int
        The idle window, in steps.

    Raises
    ------
    TypeError
        If ``quantizer`` is not one of the two modules, ``probe`` is not a
        floating torch tensor, or ``window`` is not an int.
    ValueError
        If ``probe`` does not have the quantizer's dimension on its vector
        axis, is on another device, or ``window < 1``.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> rvq = ResidualVQ(dim=2, n_q=2, codebook_size=8)
    >>> monitor = CodebookMonitor(rvq, probe=torch.randn(100, 2))
    >>> for _ in range(3):
    ...     _ = rvq(torch.randn(256, 2))
    ...     row = monitor.record()
    >>> monitor.history["usage"].shape  # (steps, stages)
    (3, 2)
    >>> bool(row["frames"][0] == 256)
    True
    """

    def __init__(
        self,
        quantizer: ResidualVQ | VectorQuantizer,
        *,
        probe: torch.Tensor | None = None,
        window: int = 20,
    ) -> None:
        if isinstance(quantizer, ResidualVQ):
            layers = list(quantizer.layers)
        elif isinstance(quantizer, VectorQuantizer):
            layers = [quantizer]
        else:
            raise TypeError(
                "quantizer must be an rvqlib.nn.ResidualVQ or rvqlib.nn.VectorQuantizer, "
                f"got {type(quantizer).__name__}"
            )
        self.quantizer = quantizer
        self._layers = layers
        self.n_stages = len(layers)
        self.codebook_size = int(layers[0].codebook_size)
        self.window = positive_int(window, "window")
        self.probe = None if probe is None else self._check_probe(probe)
        self._prev_counts = [layer.code_counts.detach().clone() for layer in layers]
        self._prev_replaced = [int(layer.n_replaced) for layer in layers]
        self._last_win = np.full((self.n_stages, self.codebook_size), -1, dtype=np.int64)
        self._prev_probe_codes: np.ndarray | None = None
        self._rows: list[dict[str, np.ndarray]] = []

    # ------------------------------------------------------------------ set-up
    def _check_probe(self, probe: Any) -> torch.Tensor:
        if not is_torch(probe):
            raise TypeError(f"probe must be a torch.Tensor, got {type(probe).__name__}")
        if not probe.is_floating_point():
            raise TypeError(f"probe must be a floating tensor, got dtype {probe.dtype}")
        dim = int(self.quantizer.dim)
        channel_dim = int(self.quantizer.channel_dim)
        if probe.ndim < 1 or not -probe.ndim <= channel_dim < probe.ndim:
            raise ValueError(
                f"probe must have a vector axis at channel_dim={channel_dim}, "
                f"got shape {tuple(probe.shape)}"
            )
        if probe.shape[channel_dim] != dim:
            raise ValueError(
                f"probe must have {dim} channels (the quantizer's dim) on axis {channel_dim}, "
                f"got shape {tuple(probe.shape)}"
            )
        if probe.numel() == 0:
            raise ValueError("probe is empty: give at least one held-out vector")
        device = self._layers[0].embed.device
        if probe.device != device:
            raise ValueError(f"probe is on {probe.device} but the quantizer is on {device}")
        if not bool(torch.isfinite(probe).all()):
            raise ValueError("probe contains NaN or infinite values")
        return probe.detach()

    # ------------------------------------------------------------------ recording
    @property
    def n_steps(self) -> int:
        """Number of steps recorded so far."""
        return len(self._rows)

    def record(self) -> dict[str, np.ndarray]:
        """Read the quantizer's state after one training step and append it.

        Returns
        -------
        dict of str to numpy.ndarray
            This step's values, one ``(n_stages,)`` array per name of
            :data:`METRICS` (``nan`` where a value does not exist: a stage the
            step did not use, or no probe).
        """
        step = len(self._rows)
        k = self.codebook_size
        row = {name: np.full(self.n_stages, np.nan) for name in METRICS}
        for s, layer in enumerate(self._layers):
            now = layer.code_counts.detach().clone()
            counts = (now - self._prev_counts[s]).cpu().numpy().astype(np.float64)
            self._prev_counts[s] = now
            replaced = int(layer.n_replaced)
            row["replaced"][s] = replaced - self._prev_replaced[s]
            self._prev_replaced[s] = replaced
            frames = counts.sum()
            row["frames"][s] = frames
            if frames > 0:
                won = counts > 0
                row["usage"][s] = won.sum() / k
                row["perplexity"][s] = _perplexity(counts)
                self._last_win[s, won] = step
                row["residual_norm"][s] = layer.last_input_norm
            row["idle"][s] = int((step - self._last_win[s] >= self.window).sum())
        if self.probe is not None:
            self._probe(row)
        self._rows.append(row)
        return {key: value.copy() for key, value in row.items()}

    @torch.no_grad()
    def _probe(self, row: dict[str, np.ndarray]) -> None:
        if not all(bool(layer.initialized) for layer in self._layers):
            return  # nothing to quantize with yet (k-means waits for a training batch)
        q = self.quantizer
        was_training = q.training
        q.eval()
        try:
            probe = self.probe
            assert probe is not None
            axis = int(q.channel_dim) % probe.ndim
            target = probe.movedim(axis, -1).reshape(-1, probe.shape[axis])
            if isinstance(q, ResidualVQ):
                codes = q.encode(probe)
                code_rows = codes.movedim(axis, -1).reshape(-1, self.n_stages)
                # the decode with the first s + 1 stages, for every s at once: the
                # running sum of the stages' codewords, added in decode's order
                # (bit for bit q.decode(codes[..., : s + 1]), one pass instead of n_q)
                rec_rows = None
                for s, layer in enumerate(self._layers):
                    part = layer._decode_rows(code_rows[:, s])
                    rec_rows = part if rec_rows is None else rec_rows + part
                    row["probe_mse"][s] = float(((rec_rows - target) ** 2).mean())
            else:
                zq, idx, _ = q(probe)
                code_rows = idx.reshape(-1, 1)
                rec_rows = zq.movedim(axis, -1).reshape(target.shape)
                row["probe_mse"][0] = float(((rec_rows - target) ** 2).mean())
        finally:
            q.train(was_training)
        codes_np = code_rows.cpu().numpy()
        if self._prev_probe_codes is not None:
            row["churn"][:] = (codes_np != self._prev_probe_codes).mean(axis=0)
        self._prev_probe_codes = codes_np

    # ------------------------------------------------------------------ reading
    @property
    def history(self) -> dict[str, np.ndarray]:
        """All the steps recorded: ``(n_steps, n_stages)`` arrays, keyed by :data:`METRICS`."""
        if not self._rows:
            return {name: np.empty((0, self.n_stages)) for name in METRICS}
        return {name: np.stack([r[name] for r in self._rows]) for name in METRICS}

    def _window(self, last: Any) -> dict[str, np.ndarray]:
        if not self._rows:
            raise ValueError("nothing recorded yet: call record() after a training step")
        n = self.n_steps if last is None else positive_int(last, "last")
        return {name: values[-n:] for name, values in self.history.items()}

    def means(self, last: int | None = None) -> dict[str, np.ndarray]:
        """Per-stage means over the last ``last`` steps (default: all), ignoring ``nan``.

        ``idle`` is the value at the last step (a count, not a rate).

        Parameters
        ----------
        last : int, optional
            Number of most recent steps to average.

        Returns
        -------
        dict of str to numpy.ndarray
            One ``(n_stages,)`` array per name of :data:`METRICS`.

        Raises
        ------
        ValueError
            If nothing has been recorded yet.
        """
        hist = self._window(last)
        out = {}
        for name, values in hist.items():
            if name == "idle":
                out[name] = values[-1].copy()
                continue
            with np.errstate(all="ignore"):
                finite = np.isfinite(values)
                total = np.where(finite, values, 0.0).sum(axis=0)
                count = finite.sum(axis=0)
                out[name] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return out

    def summary(self, last: int | None = None) -> str:
        """A per-stage table of :meth:`means` over the last ``last`` steps (default: all).

        Parameters
        ----------
        last : int, optional
            Number of most recent steps to average.

        Returns
        -------
        str
            One line per stage: vectors per step, codes used, perplexity, idle
            codes, replacements per step, residual norm and, with a probe,
            churn and probe MSE.

        Raises
        ------
        ValueError
            If nothing has been recorded yet.
        """
        m = self.means(last)
        probe = self.probe is not None
        head = (
            f"{'stage':>5} {'vectors':>8} {'used':>6} {'ppl':>7} {'idle':>5} "
            f"{'repl':>7} {'norm':>7}"
        )
        if probe:
            head += f" {'churn':>6} {'mse':>9}"
        lines = [head]
        for s in range(self.n_stages):
            line = (
                f"{s + 1:>5} {m['frames'][s]:>8.1f} {m['usage'][s]:>6.0%} "
                f"{m['perplexity'][s]:>7.1f} {int(m['idle'][s]):>5d} "
                f"{m['replaced'][s]:>7.2f} {m['residual_norm'][s]:>7.3f}"
            )
            if probe:
                line += f" {m['churn'][s]:>6.1%} {m['probe_mse'][s]:>9.3g}"
            lines.append(line.replace("nan%", "  -").replace("nan", "  -"))
        return "\n".join(lines)

    def warnings(
        self,
        last: int | None = 20,
        *,
        max_replaced: float = 0.05,
        max_idle: float = 0.5,
        max_churn: float = 0.1,
    ) -> list[str]:
        """Plain-language warnings about the last ``last`` steps (an empty list when healthy).

        Four symptoms are checked per stage:

        - more than ``max_replaced`` of the codes replaced per step on average:
          the dead-code threshold is too close to the ``B_s / K`` vectors a code
          wins per batch (``B_s`` the vectors reaching the stage); the message
          gives the threshold ``0.1 B_s / K``;
        - more than ``max_idle`` of the codes idle (no win in ``window`` steps);
        - with a probe, more than ``max_churn`` of the probe vectors changing
          their code at the stage from one step to the next;
        - a stage whose incoming residual is not smaller than the one before
          (the stage before it does not refine).

        Parameters
        ----------
        last : int or None, default 20
            Number of most recent steps to look at (None: all).
        max_replaced, max_idle, max_churn : float
            The limits above, as fractions (``>= 0``; ``inf`` turns a check off).

        Returns
        -------
        list of str

        Raises
        ------
        TypeError
            If ``last`` is not an int or None, or a limit is not a real number.
        ValueError
            If nothing has been recorded yet, ``last < 1``, or a limit is
            negative or NaN.
        """
        max_replaced = _limit(max_replaced, "max_replaced")
        max_idle = _limit(max_idle, "max_idle")
        max_churn = _limit(max_churn, "max_churn")
        m = self.means(last)
        k = self.codebook_size
        thresholds = [float(layer.dead_code_threshold) for layer in self._layers]
        out = []
        for s in range(self.n_stages):
            name = f"stage {s + 1}"
            rate = m["replaced"][s] / k
            per_code = m["frames"][s] / k
            if np.isfinite(rate) and rate > max_replaced:
                t = thresholds[s]
                ratio = t / per_code if per_code > 0 else math.inf
                out.append(
                    f"{name}: {rate:.0%} of its {k} codes are replaced per step. Its "
                    f"dead_code_threshold {t:g} is {ratio:.2g} x the {per_code:.3g} vectors "
                    f"a code wins per batch on average ({m['frames'][s]:.0f} vectors reach "
                    f"this stage): use about 0.1 x that, {0.1 * per_code:.3g}"
                )
            idle = m["idle"][s]
            if np.isfinite(idle) and idle > max_idle * k:
                out.append(
                    f"{name}: {int(idle)} of its {k} codes won nothing in the last "
                    f"{self.window} steps"
                )
            churn = m["churn"][s]
            if np.isfinite(churn) and churn > max_churn:
                out.append(
                    f"{name}: {churn:.0%} of the probe vectors change their code from one "
                    "step to the next: the codebook is not settling"
                )
            if s > 0:
                before, here = m["residual_norm"][s - 1], m["residual_norm"][s]
                if np.isfinite(before) and np.isfinite(here) and here >= before:
                    out.append(
                        f"stage {s}: the residual it leaves (mean norm {here:.3g}) is not "
                        f"smaller than what enters it ({before:.3g})"
                    )
        return out


def plot_health(
    monitor: CodebookMonitor,
    *,
    metrics: Sequence[str] | None = None,
    axes: Sequence[Any] | None = None,
    title: str | None = None,
) -> Any:
    """Draw a monitor's history: one panel per metric, one line per stage.

    ``replaced`` is drawn as a fraction of ``K`` per step; ``churn`` and
    ``probe_mse`` need a probe. matplotlib is imported here, not with the module.

    Parameters
    ----------
    monitor : CodebookMonitor
        A monitor with at least one recorded step.
    metrics : sequence of str, optional
        Names from :data:`METRICS`, one panel each. Default: ``perplexity``,
        ``replaced``, ``residual_norm`` and ``churn`` (``idle`` when the
        monitor has no probe).
    axes : sequence of matplotlib axes, optional
        One axis per metric to draw into (e.g. a row of a larger grid). By
        default a new figure with the panels side by side in rows of two.
    title : str, optional
        Figure title (with new axes) or a prefix of each panel's title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the panels.

    Raises
    ------
    TypeError
        If ``monitor`` is not a :class:`CodebookMonitor`.
    ValueError
        If a metric is unknown, needs a probe the monitor does not have,
        ``axes`` has the wrong length, or nothing has been recorded.
    """
    if not isinstance(monitor, CodebookMonitor):
        raise TypeError(f"monitor must be a CodebookMonitor, got {type(monitor).__name__}")
    if metrics is None:
        last = "churn" if monitor.probe is not None else "idle"
        metrics = ("perplexity", "replaced", "residual_norm", last)
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one of METRICS")
    for name in metrics:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; choose from {list(METRICS)}")
        if name in ("churn", "probe_mse") and monitor.probe is None:
            raise ValueError(f"metric {name!r} needs a monitor built with a probe")
    if monitor.n_steps == 0:
        raise ValueError("nothing recorded yet: call monitor.record() after training steps")
    import matplotlib.pyplot as plt

    if axes is None:
        cols = min(2, len(metrics))
        rows = math.ceil(len(metrics) / cols)
        fig, grid = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
        flat = list(grid.ravel())
        for extra in flat[len(metrics) :]:
            extra.set_visible(False)
        axes = flat[: len(metrics)]
        if title:
            fig.suptitle(title)
        prefix = ""
    else:
        axes = list(axes)
        if len(axes) != len(metrics):
            raise ValueError(
                f"axes must hold {len(metrics)} axes (one per metric), got {len(axes)}"
            )
        fig = axes[0].figure
        prefix = f"{title}: " if title else ""
    hist = monitor.history
    steps = np.arange(1, monitor.n_steps + 1)
    k = monitor.codebook_size
    for ax, name in zip(axes, metrics, strict=True):
        values = hist[name] / k if name == "replaced" else hist[name]
        for s in range(monitor.n_stages):
            ax.plot(steps, values[:, s], lw=1.2, label=f"stage {s + 1}")
        ax.set(xlabel="training step (count)", ylabel=_LABELS[name], title=prefix + _TITLES[name])
        if name == "perplexity":
            ax.axhline(k, color="0.5", ls=":", lw=1)
        if name in ("replaced", "churn", "usage"):
            ax.set_ylim(-0.03, 1.03)
        if name in ("residual_norm", "probe_mse"):
            ax.set_yscale("log")
    axes[0].legend(fontsize="small")
    return fig
