"""Trainable vector quantizers as torch modules (chapters 4, 5, 6, 8 and 9).

- :class:`VectorQuantizer`: one codebook trained either by the VQ-VAE codebook
  loss or by exponential moving averages with Laplace smoothing, with k-means
  initialisation, dead-code replacement and usage statistics (chapter 4, "The
  codebook and commitment losses", and chapter 5, "EMA codebook updates"), and
  the options codec code uses: the layout ``channel_dim``, padding masks,
  factorized (projected) and l2-normalized codes, the rotation trick, and
  data-parallel training.
- :class:`ResidualVQ`: a stack of :class:`VectorQuantizer` stages, each
  quantizing the residual the stages before it left, with quantizer dropout per
  batch or per example (chapter 6, "Residual vector quantization").
- :func:`straight_through` and :func:`rotation_trick`: the gradient estimators
  (chapter 8; they live in :mod:`rvqlib.estimators` and are re-exported here).

The searches themselves are not reimplemented here: nearest codewords come from
:mod:`rvqlib.vq` (with its work type for half precision and extreme
magnitudes), k-means from :func:`rvqlib.kmeans.kmeans`, and
``ResidualVQ.encode`` / ``decode`` are :func:`rvqlib.rvq.rvq_encode` /
:func:`rvqlib.rvq.rvq_decode` applied to the modules' codebooks.

**Compiling.** Both modules work inside ``torch.compile`` (eager, aot_eager and
inductor back ends, training and evaluation) and give the codes of the
uncompiled module: the search and the codebook updates (k-means, EMA, dead
codes, the collectives of data-parallel training) run eagerly, handed back to
Python at a graph break, while the projections, losses and estimators are
compiled. ``torch.jit.trace`` would freeze the data-dependent search into
constants, so the modules raise ``RuntimeError`` under it.

**Data-parallel training.** Inside an initialised ``torch.distributed`` process
group with more than one process, every codebook update is synchronised over
the default group, so that all ranks hold the same codebooks after every
training step: the first batch's k-means runs on rank 0 on the vectors of all
ranks (gathered in rank order) and is broadcast; the per-code counts and sums
of the EMA update are all-reduced; dead codes (the same on every rank, since
their statistics are) are replaced by vectors that rank 0 draws from the
concatenation of all ranks' batches; the per-batch number of stages of
quantizer dropout is drawn on rank 0 and broadcast. Rank 0's random number
generator makes every draw, in the order a single process would make them, so
a run on ``W`` processes, each with one part of a batch, gives the codebooks of
a single-process run on the concatenated batch (the per-code sums are
accumulated in float64 on every rank, so the two differ at most by float64
rounding before the codebooks are rounded to their dtype). Every rank must
call ``forward`` in training mode the same number of times (a rank with no
valid frame passes an empty or fully masked batch), as with any collective.
Outside a process group, or with one process, nothing of this runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rvqlib._validate import (
    as_index,
    check_codebook,
    check_dense,
    check_finite,
    compiling,
    eager,
    finite_max_abs,
    is_torch,
    nonnegative_float,
    positive_int,
)
from rvqlib.estimators import _rotation, rotation_trick, straight_through
from rvqlib.kmeans import kmeans
from rvqlib.rvq import _encode_prepared, rvq_decode, rvq_plan
from rvqlib.vq import _Plan, _prepare_codebook, _search, _work_dtype, plan_search

__all__ = ["ResidualVQ", "VectorQuantizer", "rotation_trick", "straight_through"]

_GRADIENTS = ("ste", "rotation")


# --------------------------------------------------------------------------- helpers
def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def _check_channel_dim(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"channel_dim must be an int (an axis of z), got {type(value).__name__}")
    return value


def _perplexity(counts: torch.Tensor) -> float:
    """``exp`` of the entropy (in nats) of the distribution proportional to ``counts``."""
    counts = counts.detach().to(torch.float64)
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@eager
def _check_input(
    z: Any, mask: Any, dim: int, channel_dim: int, device: torch.device, name: str = "z"
) -> int:
    """Validate ``z`` (and ``mask``) for a module of dimension ``dim``; return the vector axis.

    ``z`` holds vectors along ``channel_dim`` (``-1``: the last axis); ``mask`` is
    None or a boolean tensor of ``z``'s shape without that axis. Empty batches are
    accepted. Runs eagerly (see :mod:`rvqlib.nn`, "Compiling").
    """
    if not is_torch(z):
        raise TypeError(
            f"{name} must be a torch.Tensor with {dim} channels on axis {channel_dim}, "
            f"got {type(z).__name__}"
        )
    check_dense(z, name)
    if not z.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {z.dtype}")
    if z.ndim < 1:
        raise ValueError(f"{name} must have at least one axis (the vector), got a scalar")
    if not -z.ndim <= channel_dim < z.ndim:
        raise ValueError(
            f"channel_dim={channel_dim} is not an axis of {name}, which has shape "
            f"{tuple(z.shape)} ({z.ndim} axes)"
        )
    axis = channel_dim % z.ndim
    if z.shape[axis] != dim:
        raise ValueError(
            f"{name} must have {dim} channels (dim) on axis {axis} (channel_dim={channel_dim}), "
            f"got shape {tuple(z.shape)}"
        )
    if z.device != device:
        raise ValueError(
            f"{name} is on device {z.device} but the codebook is on {device}; "
            "move the module with .to(device)"
        )
    check_finite(z, name)
    if mask is not None:
        if not is_torch(mask):
            raise TypeError(f"mask must be a boolean torch.Tensor, got {type(mask).__name__}")
        check_dense(mask, "mask")
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be a boolean tensor, got dtype {mask.dtype}")
        frames = tuple(z.shape[:axis]) + tuple(z.shape[axis + 1 :])
        if tuple(mask.shape) != frames:
            raise ValueError(
                f"mask must have the shape of {name} without its vector axis, {frames}, "
                f"got {tuple(mask.shape)} (nothing is broadcast)"
            )
        if mask.device != z.device:
            raise ValueError(f"mask is on device {mask.device} but {name} is on {z.device}")
    return axis


def _to_rows(z: torch.Tensor, axis: int) -> torch.Tensor:
    """``(N, dim)`` rows of ``z`` whose vectors lie along ``axis``."""
    return z.movedim(axis, -1).reshape(-1, z.shape[axis])


def _from_rows(rows: torch.Tensor, z: torch.Tensor, axis: int) -> torch.Tensor:
    """Rows ``(N, dim)`` back to ``z``'s layout (vectors along ``axis``)."""
    moved = tuple(z.shape[:axis]) + tuple(z.shape[axis + 1 :]) + (rows.shape[-1],)
    return rows.reshape(moved).movedim(-1, axis)


def _mean_norm(x: torch.Tensor) -> float | None:
    """Mean Euclidean norm of the rows of ``x`` (None for no rows); numpy on CPU (no threads)."""
    if x.shape[0] == 0:
        return None
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not compiling():
        view = x.numpy()
        return float(np.sqrt(np.einsum("nd,nd->n", view, view)).mean(dtype=np.float64))
    return float(torch.linalg.vector_norm(x.float(), dim=-1).mean())


def _linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` computed in the wider of ``x``'s and the layer's dtypes.

    A float16 batch through a float32 projection, or a float64 batch through it,
    is computed in float32 or float64 (the weights are converted, and gradients
    reach them through the conversion) instead of failing inside ``F.linear``.
    """
    dt = torch.promote_types(x.dtype, layer.weight.dtype)
    if dt == x.dtype == layer.weight.dtype:
        return layer(x)
    bias = None if layer.bias is None else layer.bias.to(dt)
    return F.linear(x.to(dt), layer.weight.to(dt), bias)


def _masked_mse(a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the rows where ``valid`` holds (all rows for None); 0 if none."""
    if valid is None:
        if a.numel() == 0:
            return a.sum() * 0.0
        return F.mse_loss(a, b)
    err = (a - b) ** 2
    total = (err * valid[:, None].to(err.dtype)).sum()
    count = valid.sum().clamp(min=1).to(err.dtype) * a.shape[-1]
    return total / count


# --------------------------------------------------------------------------- distributed
def _world() -> int:
    """Number of processes of the default ``torch.distributed`` group (1 outside one)."""
    dist = torch.distributed
    if not dist.is_available() or not dist.is_initialized():
        return 1
    return dist.get_world_size()


def _rank() -> int:
    return torch.distributed.get_rank() if _world() > 1 else 0


def _all_sizes(n: int, device: torch.device) -> list[int]:
    """Every rank's ``n``, in rank order."""
    world = _world()
    if world == 1:
        return [n]
    mine = torch.tensor([n], dtype=torch.long, device=device)
    out = [torch.empty_like(mine) for _ in range(world)]
    torch.distributed.all_gather(out, mine)
    return [int(t) for t in out]


def _gather_rows(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """All ranks' rows ``x`` (``sizes[r]`` rows on rank ``r``), concatenated in rank order."""
    if len(sizes) == 1:
        return x
    top = max(sizes)
    pad = x.new_zeros((top,) + tuple(x.shape[1:]))
    pad[: x.shape[0]] = x
    out = [torch.empty_like(pad) for _ in sizes]
    torch.distributed.all_gather(out, pad)
    return torch.cat([t[:s] for t, s in zip(out, sizes, strict=True)], dim=0)


def _broadcast(t: torch.Tensor) -> torch.Tensor:
    if _world() > 1:
        torch.distributed.broadcast(t, src=0)
    return t


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    if _world() > 1:
        torch.distributed.all_reduce(t)
    return t


# --------------------------------------------------------------------------- one codebook
class VectorQuantizer(nn.Module):
    """A vector quantizer with a learned codebook, as in VQ-VAE, SoundStream, EnCodec and DAC.

    ``forward(z)`` maps every vector of ``z`` (the axis ``channel_dim``, by
    default the last) to its nearest codeword (:func:`rvqlib.vq.nearest`) and
    returns the quantized vectors with straight-through (or rotation-trick)
    gradients, the indices and the losses.

    Derived in chapter 4 ("The codebook and commitment losses": losses, usage,
    perplexity, dead codes) and chapter 5 ("EMA codebook updates": the EMA
    update, Laplace smoothing, dead-code replacement).

    **Losses.** With ``h`` the vectors searched (``z``, or its projection when
    ``codebook_dim`` is set), ``e`` their chosen codewords and ``sg`` the
    stop-gradient,

    - ``losses["commitment"] = commitment_weight * mean((h - sg(e))**2)``: already
      multiplied by ``commitment_weight`` (the VQ-VAE beta), so add it to the
      training loss as it is. It trains the encoder (and ``project_in``).
    - ``losses["codebook"] = mean((sg(h) - e)**2)`` (unweighted), only when
      ``ema=False``: it trains the codebook, an :class:`torch.nn.Parameter`.

    Both are means over all elements (``F.mse_loss``), i.e. the squared distance
    per vector divided by its dimension, averaged over the vectors, as in the
    EnCodec and SoundStream implementations (VQ-VAE's paper writes the sum over
    the dimension). With a ``mask`` the mean runs over the valid vectors only; a
    batch with no valid vector has losses 0.

    **EMA update** (``ema=True``, training mode only). The codebook is a buffer,
    not a parameter. For a batch where code ``i`` wins ``n_i`` vectors whose
    sum is ``s_i``, with decay ``gamma``::

        N_i <- gamma * N_i + (1 - gamma) * n_i          (buffer cluster_size)
        S_i <- gamma * S_i + (1 - gamma) * s_i          (buffer embed_sum)
        N~_i = (N_i + eps) / (N + K * eps) * N,   N = sum_i N_i   (Laplace smoothing)
        e_i  = S_i / N~_i

    The VQ-VAE paper's appendix (van den Oord et al. 2017) gives the plain EMA
    update (with ``gamma = 0.99``); the Laplace smoothing is that of DeepMind's
    Sonnet ``VectorQuantizerEMA`` and of EnCodec's code. It keeps ``N~_i > 0``
    for codes that win nothing; such codes shrink toward the origin by the
    factor ``gamma`` per batch, which is why dead codes are replaced. The
    statistics start from the first training batch: ``N_i`` is set to that
    batch's counts and ``S_i = N~_i e_i``, so that ``e_i = S_i / N~_i`` holds
    from the start and the first update is an ordinary EMA step. The batch sums
    ``s_i`` are accumulated in float64 (then rounded to the statistics' dtype:
    the codebook's, or float32 for a float16/bfloat16 module, whose
    ``cluster_size``, ``embed_sum`` and ``last_counts`` stay in float32 when the
    module is cast, since sizes and sums overflow 16 bits long before the
    codewords do), so that they do not depend on the order of summation to within float64
    rounding (see "Data-parallel training" in :mod:`rvqlib.nn`). A batch whose
    vectors are all masked out leaves the statistics unchanged.

    **k-means initialisation** (``kmeans_init=True``). On the first training
    batch the codebook becomes :func:`rvqlib.kmeans.kmeans` of the batch's
    (valid) vectors with ``kmeans_iters`` Lloyd iterations, seeded from torch's
    random number generator (so ``torch.manual_seed`` makes it reproducible).
    If that batch has fewer than ``codebook_size`` vectors, the codebook is the
    batch's vectors followed by vectors sampled from it with replacement; the
    duplicate codes win nothing and are re-seeded by dead-code replacement on
    later batches. Until then the codebook is all zeros, and ``forward`` or
    :meth:`ResidualVQ.encode` in ``eval()`` mode raise ``RuntimeError``. With
    ``kmeans_init=False`` the codebook starts as standard normal draws
    (``torch.randn``).

    **Dead-code replacement** (training mode only, both ``ema`` settings).
    Before quantizing a batch, every code whose EMA cluster size ``N_i`` is
    below ``dead_code_threshold`` is replaced by a vector drawn from the current
    batch's valid vectors (without replacement when the batch is large enough),
    as in SoundStream and EnCodec. The threshold is in vectors per batch
    (``N_i`` is an average count per batch): a code is dead when it wins fewer
    than that many vectors of an average batch, so it must stay well below the
    average ``B / K`` a code wins. The replaced code's statistics restart at
    ``N_i = dead_code_threshold`` and ``S_i = N~_i e_i``, so the new codeword
    survives the same call's EMA step; in EnCodec's public code the replacement
    is overwritten by the EMA recomputation of the codebook in the same call
    (see :mod:`rvqlib.reference`). The draw uses torch's random number
    generator. ``dead_code_threshold=0`` turns this off.

    **Layouts** (``channel_dim``). The vectors lie along the axis
    ``channel_dim`` of ``z``: ``-1`` for ``(..., dim)``, ``1`` for EnCodec's and
    DAC's ``(batch, dim, frames)``. It is never guessed (a ``(B, D, T)`` tensor
    with ``T == D`` could be read either way): the axis is the one given, and
    ``zq`` comes back in ``z``'s layout, the indices with ``z``'s shape without
    that axis.

    **Masks** (``forward(z, mask=...)``): a boolean tensor of the shape of the
    indices, ``False`` for padding frames (clips of different lengths in one
    batch). Masked-out vectors are still quantized, but they do not update the
    codebook (k-means initialisation, dead-code replacement and its draws, EMA
    counts and sums, usage statistics) and do not enter the losses.

    **Factorized and l2-normalized codes** (``codebook_dim``, ``normalize``). With
    ``codebook_dim=d`` the vectors are projected by a learned linear map
    ``project_in`` (``dim -> d``) before the search, the codebook has ``d``
    columns, and the chosen codewords are mapped back by ``project_out``
    (``d -> dim``), as DAC does (Kumar et al. 2023, after Yu et al.'s Improved
    VQGAN). With ``normalize=True`` the search compares the l2-normalized
    (projected) vectors with the l2-normalized codewords, i.e. it picks the
    codeword of largest cosine similarity; as in DAC's code, the quantized
    vector is the codeword itself (not normalized) and the losses compare the
    vectors as they are. k-means initialisation and EMA work on the projected,
    un-normalized vectors.

    **Gradient estimators** (``gradient``): ``"ste"``, the straight-through
    estimator (:func:`straight_through`, chapter 8); ``"rotation"``, the rotation
    trick of Fifty et al. 2024 (:func:`rotation_trick`), from the projected
    vectors to their codewords.

    **Usage statistics and diagnostics.** :attr:`usage` (EMA cluster sizes), the
    buffer ``last_counts`` (counts of the last training batch), :meth:`perplexity`
    (``exp`` of the entropy of code usage: ``K`` when all codes are used
    equally, 1 when one code takes everything), ``n_replaced`` (number of
    dead-code replacements since construction or :meth:`reset_diagnostics`),
    ``code_counts`` (how many vectors each code won over all training batches
    since construction or the last reset) and :attr:`last_input_norm` (mean
    Euclidean norm of the valid vectors that entered the last ``forward``, in
    either mode; for a stage of :class:`ResidualVQ`, the residual entering it).

    ``eval()`` mode never changes any parameter or buffer. All state is in
    registered buffers (or parameters), so ``state_dict`` round-trips (the
    diagnostic ``code_counts`` is not saved). The module works on any device and
    floating dtype: ``z`` must be on the module's device; the search runs in the
    promoted dtype of ``z`` and the codebook (half precision in float32, see
    :mod:`rvqlib.vq`; the projections of ``codebook_dim`` in the wider of the
    batch's and their own dtype), and ``zq`` is returned in ``z``'s dtype.

    Parameters
    ----------
    dim : int
        Dimension ``D`` of the vectors.
    codebook_size : int
        Number of codewords ``K``.
    commitment_weight : float, default 0.25
        The weight beta of the commitment loss (0.25 as in VQ-VAE).
    ema : bool, default True
        Train the codebook by EMA (True) or by the codebook loss and gradients
        (False, the codebook is then an ``nn.Parameter``).
    decay : float, default 0.99
        EMA decay ``gamma`` in ``[0, 1)``.
    eps : float, default 1e-5
        Laplace smoothing constant (> 0).
    kmeans_init : bool, default True
        Initialise the codebook by k-means on the first training batch.
    kmeans_iters : int, default 10
        Lloyd iterations of that k-means.
    dead_code_threshold : float, default 2.0
        Replace codes whose EMA cluster size (vectors per batch) falls below
        this (>= 0; 0 = never).
    channel_dim : int, default -1
        The axis of ``z`` that holds the vector.
    codebook_dim : int, optional
        Dimension of the codebook; when given, learned projections map the
        vectors to it and back.
    normalize : bool, default False
        Search by cosine similarity (l2-normalized vectors and codewords).
    gradient : {"ste", "rotation"}, default "ste"
        The gradient estimator from the searched vectors to their codewords.

    Attributes
    ----------
    cluster_size : torch.Tensor
        Buffer ``(K,)``: EMA of the number of vectors each code wins per batch.
    embed_sum : torch.Tensor
        Buffer ``(K, d)``: EMA of the sum of the vectors each code wins
        (only when ``ema=True``).
    last_counts : torch.Tensor
        Buffer ``(K,)``: how many vectors each code won in the last training batch.
    code_counts : torch.Tensor
        Buffer ``(K,)``, ``int64``, not saved: vectors won per code over all
        training batches since construction or :meth:`reset_diagnostics`.
    initialized : torch.Tensor
        Buffer (bool): the codebook has been initialised (k-means or
        :meth:`set_codebook`).
    n_replaced : torch.Tensor
        Buffer (int64): number of dead codes replaced since construction or
        :meth:`reset_diagnostics`.
    project_in, project_out : torch.nn.Linear or None
        The projections to and from the codebook's space (``codebook_dim``).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> vq = VectorQuantizer(dim=2, codebook_size=4)
    >>> zq, idx, losses = vq(torch.randn(64, 2))
    >>> zq.shape, idx.shape, sorted(losses)
    (torch.Size([64, 2]), torch.Size([64]), ['commitment'])
    >>> vq = VectorQuantizer(dim=3, codebook_size=4, channel_dim=1)  # (B, D, T)
    >>> zq, idx, _ = vq(torch.randn(2, 3, 10))
    >>> zq.shape, idx.shape
    (torch.Size([2, 3, 10]), torch.Size([2, 10]))
    """

    cluster_size: torch.Tensor
    last_counts: torch.Tensor
    code_counts: torch.Tensor
    initialized: torch.Tensor
    stats_initialized: torch.Tensor
    n_replaced: torch.Tensor

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        commitment_weight: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        kmeans_init: bool = True,
        kmeans_iters: int = 10,
        dead_code_threshold: float = 2.0,
        channel_dim: int = -1,
        codebook_dim: int | None = None,
        normalize: bool = False,
        gradient: str = "ste",
    ) -> None:
        super().__init__()
        self.dim = positive_int(dim, "dim")
        self.codebook_size = positive_int(codebook_size, "codebook_size")
        self.commitment_weight = nonnegative_float(commitment_weight, "commitment_weight")
        self.ema = _check_bool(ema, "ema")
        self.decay = nonnegative_float(decay, "decay")
        if self.decay >= 1.0:
            raise ValueError(f"decay must be in [0, 1), got {self.decay}")
        self.eps = nonnegative_float(eps, "eps")
        if self.eps == 0.0:
            raise ValueError("eps must be > 0 (it keeps smoothed counts positive), got 0.0")
        self.kmeans_init = _check_bool(kmeans_init, "kmeans_init")
        self.kmeans_iters = positive_int(kmeans_iters, "kmeans_iters")
        self.dead_code_threshold = nonnegative_float(dead_code_threshold, "dead_code_threshold")
        self.channel_dim = _check_channel_dim(channel_dim)
        self.codebook_dim = (
            None if codebook_dim is None else positive_int(codebook_dim, "codebook_dim")
        )
        self.normalize = _check_bool(normalize, "normalize")
        if not isinstance(gradient, str) or gradient not in _GRADIENTS:
            raise ValueError(f"gradient must be one of {list(_GRADIENTS)}, got {gradient!r}")
        self.gradient = gradient

        k = self.codebook_size
        d = self.dim if self.codebook_dim is None else self.codebook_dim
        self.project_in: nn.Linear | None = None
        self.project_out: nn.Linear | None = None
        if self.codebook_dim is not None:
            self.project_in = nn.Linear(self.dim, d)
            self.project_out = nn.Linear(d, self.dim)
        embed = torch.zeros(k, d) if kmeans_init else torch.randn(k, d)
        if self.ema:
            self.register_buffer("embed", embed)
            self.register_buffer("embed_sum", torch.zeros(k, d))
        else:
            self.embed = nn.Parameter(embed)
        self.register_buffer("cluster_size", torch.zeros(k))
        self.register_buffer("last_counts", torch.zeros(k))
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("stats_initialized", torch.tensor(False))
        self.register_buffer("n_replaced", torch.tensor(0, dtype=torch.long))
        self.register_buffer("code_counts", torch.zeros(k, dtype=torch.long), persistent=False)

    #: EMA statistics kept in at least float32 when the module is cast to float16 or
    #: bfloat16: cluster sizes (up to the batch size) and sums (size times codeword)
    #: overflow float16's 65,504 long before the codewords do
    _STATS = ("embed_sum", "cluster_size", "last_counts")

    def _apply(self, fn: Any, recurse: bool = True) -> VectorQuantizer:
        super()._apply(fn, recurse)
        for name in self._STATS:
            b = self._buffers.get(name)
            if b is not None and b.dtype in (torch.float16, torch.bfloat16):
                self._buffers[name] = b.float()
        return self

    def extra_repr(self) -> str:
        mode = f"ema=True, decay={self.decay}" if self.ema else "ema=False"
        extra = ""
        if self.channel_dim != -1:
            extra += f", channel_dim={self.channel_dim}"
        if self.codebook_dim is not None:
            extra += f", codebook_dim={self.codebook_dim}"
        if self.normalize:
            extra += ", normalize=True"
        if self.gradient != "ste":
            extra += f", gradient={self.gradient!r}"
        return (
            f"dim={self.dim}, codebook_size={self.codebook_size}, {mode}, "
            f"commitment_weight={self.commitment_weight}, "
            f"dead_code_threshold={self.dead_code_threshold}{extra}"
        )

    @property
    def search_dim(self) -> int:
        """Dimension of the codebook: ``codebook_dim`` if given, else ``dim``."""
        return self.dim if self.codebook_dim is None else self.codebook_dim

    # ------------------------------------------------------------------ codebook access
    @property
    def codebook(self) -> torch.Tensor:
        """The ``(K, d)`` codebook (``d = codebook_dim or dim``): a detached copy."""
        return self.embed.detach().clone()

    @torch.no_grad()
    def set_codebook(self, codebook: Any) -> None:
        """Replace the codebook and mark k-means initialisation as done.

        The EMA statistics (:attr:`cluster_size`, ``embed_sum``, ``last_counts``)
        are reset and restart from the next training batch. In data-parallel
        training, call it with the same codebook on every rank.

        Parameters
        ----------
        codebook : torch.Tensor or array_like
            The new ``(codebook_size, d)`` codebook (``d = codebook_dim or dim``);
            copied to the module's device and dtype.

        Raises
        ------
        TypeError
            If ``codebook`` is not numeric, or boolean.
        ValueError
            If its shape is not ``(codebook_size, d)``, it holds NaN/inf, or its
            values overflow the module's dtype.
        """
        if (is_torch(codebook) and codebook.dtype == torch.bool) or (
            isinstance(codebook, np.ndarray) and codebook.dtype == np.bool_
        ):
            raise TypeError("codebook must be a floating array of codewords, got booleans")
        if not is_torch(codebook):
            codebook = torch.as_tensor(check_codebook(codebook, "codebook"))
        codebook = check_codebook(codebook, "codebook")
        expected = (self.codebook_size, self.search_dim)
        if tuple(codebook.shape) != expected:
            cols = "codebook_dim" if self.codebook_dim is not None else "dim"
            raise ValueError(
                f"codebook must have shape (codebook_size, {cols}) = {expected}, "
                f"got {tuple(codebook.shape)}"
            )
        cast = codebook.to(device=self.embed.device, dtype=self.embed.dtype)
        if not bool(torch.isfinite(cast).all()):
            raise ValueError(
                f"codebook: its values (up to {finite_max_abs(codebook, 'codebook'):.3g} "
                f"in magnitude) overflow the module's dtype {self.embed.dtype}; rescale them "
                "or use a wider dtype"
            )
        self.embed.copy_(cast)
        self.initialized.fill_(True)
        self._reset_stats()

    def _check_initialized(self, what: str) -> None:
        if not bool(self.initialized):
            raise RuntimeError(
                f"{what}: the codebook has never been initialised (it is all zeros). Train "
                "on at least one batch in train() mode (k-means initialisation), call "
                "set_codebook(s), or load a state_dict first"
            )

    def _search_prepared(self, dtype: torch.dtype, plan: _Plan) -> tuple[torch.Tensor, Any]:
        """The codebook in ``dtype`` (normalized for ``normalize=True``) and its search form.

        Cached between calls and rebuilt whenever the codebook tensor is replaced or
        changed in place (training steps, :meth:`set_codebook`, ``load_state_dict``
        and optimisers all bump its version counter), so repeated searches in
        ``eval()`` mode (:meth:`ResidualVQ.encode` included) skip the per-stage norms,
        ``-2 E^T``, duplicate check and shift.
        """
        embed = self.embed
        key = (embed._version, embed.data_ptr(), embed.device, dtype, plan)
        cache = self.__dict__.get("_prep_cache")
        if cache is not None and cache[0] is embed and cache[1] == key:
            return cache[2], cache[3]
        with torch.inference_mode(False), torch.no_grad():
            book = self._search_book(dtype)
            prep = _prepare_codebook(book, plan)
        self.__dict__["_prep_cache"] = (embed, key, book, prep)
        return book, prep

    def _search_book(self, dtype: torch.dtype) -> torch.Tensor:
        book = self.embed.detach().to(dtype)
        return F.normalize(book, dim=-1) if self.normalize else book

    def _book_magnitude(self, dtype: torch.dtype) -> float:
        """``max |codebook|`` of the searched codebook (cached like the search form)."""
        embed = self.embed
        key = (embed._version, embed.data_ptr(), dtype)
        cache = self.__dict__.get("_mag_cache")
        if cache is not None and cache[0] is embed and cache[1] == key:
            return cache[2]
        value = finite_max_abs(self._search_book(dtype), "codebook")
        self.__dict__["_mag_cache"] = (embed, key, value)
        return value

    def _reset_stats(self) -> None:
        self.cluster_size.zero_()
        self.last_counts.zero_()
        if self.ema:
            self.embed_sum.zero_()
        self.stats_initialized.fill_(False)

    @torch.no_grad()
    def reset_diagnostics(self) -> None:
        """Zero the cumulative diagnostics ``n_replaced`` and ``code_counts``.

        The EMA statistics, which the training uses, are not touched.
        """
        self.n_replaced.zero_()
        self.code_counts.zero_()

    # ------------------------------------------------------------------ usage statistics
    @property
    def usage(self) -> torch.Tensor:
        """EMA cluster size of every code ``(K,)``: its average number of vectors per batch.

        A copy of the :attr:`cluster_size` buffer; ``last_counts`` has the
        counts of the last training batch alone.
        """
        return self.cluster_size.detach().clone()

    @property
    def dead_codes(self) -> torch.Tensor:
        """Boolean mask ``(K,)`` of codes whose EMA cluster size is below the threshold."""
        return self.cluster_size < self.dead_code_threshold

    @property
    def last_input_norm(self) -> float:
        """Mean Euclidean norm of the valid vectors that entered the last ``forward``.

        ``nan`` before the first call (or when the last call had no valid vector).
        For a stage of :class:`ResidualVQ` these are the residuals entering the
        stage (before its projection, if any); a stage that quantizer dropout
        left out of the last call reports ``nan``.
        """
        value = self.__dict__.get("_last_norm")
        return math.nan if value is None else float(value)

    def perplexity(self, indices: torch.Tensor | None = None) -> float:
        """Perplexity of code usage: ``exp`` of the entropy of the usage distribution.

        It is ``K`` when all ``K`` codes are used equally often and 1 when a
        single code takes every vector: the "effective number of codes in use".

        Parameters
        ----------
        indices : torch.Tensor, optional
            Code indices (any shape, values in ``[0, K)``), e.g. those returned
            by :meth:`forward`. Default: use the EMA cluster sizes
            (:attr:`usage`) gathered in training.

        Returns
        -------
        float
            The perplexity, in ``[1, K]``; ``nan`` when there is no usage to
            measure (no training batch yet, or empty ``indices``).

        Raises
        ------
        TypeError, ValueError
            If ``indices`` is not an integer tensor with values in ``[0, K)``.
        """
        if indices is None:
            return _perplexity(self.cluster_size)
        if not is_torch(indices):
            raise TypeError(f"indices must be a torch.Tensor, got {type(indices).__name__}")
        indices = as_index(indices, "indices").reshape(-1)
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.codebook_size):
            raise ValueError(f"indices must lie in [0, {self.codebook_size}), got values outside")
        return _perplexity(torch.bincount(indices, minlength=self.codebook_size))

    # ------------------------------------------------------------------ forward
    def forward(
        self, z: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantize ``z`` (and, in training mode, update the codebook).

        Parameters
        ----------
        z : torch.Tensor
            Vectors along the axis ``channel_dim`` (by default the last,
            ``(..., dim)``), on the module's device. An empty batch is allowed.
        mask : torch.Tensor, optional
            Boolean, of ``z``'s shape without the vector axis: ``False`` marks
            padding, quantized but left out of every update and of the losses.

        Returns
        -------
        zq : torch.Tensor
            ``z.shape``, ``z.dtype``, ``z``'s layout: the quantized vectors
            (through ``project_out`` when ``codebook_dim`` is set), carrying the
            estimator's gradients to ``z``.
        indices : torch.Tensor
            ``z``'s shape without the vector axis, ``torch.long``: the chosen codes.
        losses : dict of str to torch.Tensor
            Scalar losses: ``"commitment"`` (already weighted by
            ``commitment_weight``) and, when ``ema=False``, ``"codebook"``.

        Raises
        ------
        TypeError
            If ``z`` is not a floating torch tensor (or sparse), or ``mask`` not boolean.
        ValueError
            Wrong size of the vector axis, ``channel_dim`` not an axis of ``z``,
            NaN/inf, a device other than the module's, a ``meta`` tensor, a mask
            of the wrong shape.
        RuntimeError
            In ``eval()`` mode before the codebook was ever initialised, or
            under ``torch.jit.trace``.
        """
        axis = _check_input(z, mask, self.dim, self.channel_dim, self.embed.device)
        rows = _to_rows(z, axis)
        valid = None if mask is None else mask.reshape(-1)
        out, indices, losses = self._stage(rows, valid, per_stage=True)
        zq = _from_rows(out.to(z.dtype), z, axis)
        lead = tuple(z.shape[:axis]) + tuple(z.shape[axis + 1 :])
        return zq, indices.reshape(lead), losses

    def _stage(
        self, x: torch.Tensor, valid: torch.Tensor | None, *, per_stage: bool
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantize rows ``x`` (N, dim); the core of :meth:`forward` and of a residual stage.

        Returns ``(out, indices, losses)``. ``out`` is in the promoted dtype of ``x``
        and the codebook: with ``per_stage=True`` it carries the estimator's gradients
        (through ``project_out`` when set), with ``per_stage=False`` (a
        :class:`ResidualVQ` without projections, which applies its estimator once to
        the sum of the stages) it is the detached codewords.
        """
        h = _linear(self.project_in, x) if self.project_in is not None else x
        dtype = torch.promote_types(h.dtype, self.embed.dtype)
        h = h.to(dtype)
        indices, q = self._codes(h.detach(), valid, x.detach())
        if not self.ema:
            q = F.embedding(indices, self.embed.to(dtype))  # gradients to the codebook
        losses = {"commitment": self.commitment_weight * _masked_mse(h, q.detach(), valid)}
        if not self.ema:
            losses["codebook"] = _masked_mse(q, h.detach(), valid)
        if not per_stage:
            return q.detach(), indices, losses
        if self.gradient == "rotation":
            out = _rotation(h, q.detach())
        else:
            out = straight_through(h, q.detach())
        if self.project_out is not None:
            out = _linear(self.project_out, out)
        return out, indices, losses

    @eager
    def _codes(
        self, h: torch.Tensor, valid: torch.Tensor | None, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update the codebook (training) and search: the eager part of :meth:`_stage`.

        ``h`` are the (projected) vectors, detached; ``x`` the stage's input rows (for
        :attr:`last_input_norm`). Returns the indices and the chosen codewords as they
        were before this batch's EMA step, detached.
        """
        with torch.no_grad():
            if self.training:
                self._before_batch(h, valid)
            else:
                self._check_initialized("forward in eval() mode")
            book = self._search_book(h.dtype)
            hs = F.normalize(h, dim=-1) if self.normalize else h
            magnitude = finite_max_abs(hs, "z")
            if self.training:
                plan = plan_search(
                    hs.dtype, max(magnitude, finite_max_abs(book, "codebook")), hs.shape[-1]
                )
                prep = _prepare_codebook(book, plan)
            else:
                mag = max(magnitude, self._book_magnitude(h.dtype))
                book, prep = self._search_prepared(
                    h.dtype, plan_search(hs.dtype, mag, hs.shape[-1])
                )
            indices = _search(hs, prep)
            q = self.embed.detach().to(h.dtype).index_select(0, indices)  # before the EMA step
            if self.training:
                self._after_batch(h, indices, valid)
            self.__dict__["_last_norm"] = _mean_norm(x if valid is None else x[valid])
            return indices, q

    # ------------------------------------------------------------------ training updates
    def _before_batch(self, h: torch.Tensor, valid: torch.Tensor | None) -> None:
        """k-means initialisation, then dead-code replacement, from this batch's valid rows."""
        # every decision below depends only on state all ranks share (the flags and the
        # synchronised cluster sizes), so all ranks make the same collective calls
        x = (h if valid is None else h[valid]).to(self.embed.dtype)
        if not bool(self.initialized):
            sizes = _all_sizes(x.shape[0], x.device)
            if sum(sizes) == 0:
                return  # nothing to initialise from yet (a batch of padding only)
            data = _gather_rows(x, sizes)
            if _rank() == 0:
                book = self._initial_codebook(data)
            else:
                book = torch.empty_like(self.embed)
            self.embed.copy_(_broadcast(book.contiguous()))
            self.initialized.fill_(True)
        if not (bool(self.stats_initialized) and self.dead_code_threshold > 0):
            return
        dead = self.cluster_size < self.dead_code_threshold
        n_dead = int(dead.sum())
        if not n_dead:
            return
        sizes = _all_sizes(x.shape[0], x.device)
        if sum(sizes) == 0:
            return
        new = self._replacements(x, sizes, n_dead)
        self.embed[dead] = new
        self.cluster_size[dead] = self.dead_code_threshold
        if self.ema:
            self.embed_sum[dead] = new * self._smoothed_sizes()[dead][:, None]
        self.n_replaced += n_dead

    def _replacements(self, x: torch.Tensor, sizes: list[int], n_dead: int) -> torch.Tensor:
        """``n_dead`` rows drawn from the valid rows of every rank's batch (rank 0 draws)."""
        n = sum(sizes)
        if len(sizes) == 1:
            if n >= n_dead:
                pick = torch.randperm(n, device=x.device)[:n_dead]
            else:
                pick = torch.randint(n, (n_dead,), device=x.device)
            return x[pick]
        if _rank() == 0:
            if n >= n_dead:
                pick = torch.randperm(n, device=x.device)[:n_dead]
            else:
                pick = torch.randint(n, (n_dead,), device=x.device)
        else:
            pick = torch.empty(n_dead, dtype=torch.long, device=x.device)
        pick = _broadcast(pick)
        start = sum(sizes[: _rank()])
        mine = (pick >= start) & (pick < start + x.shape[0])
        rows = x.new_zeros((n_dead, x.shape[1]))
        rows[mine] = x[pick[mine] - start]
        return _all_reduce(rows)  # each row is one rank's vector plus zeros: exact

    def _initial_codebook(self, x: torch.Tensor) -> torch.Tensor:
        k, n = self.codebook_size, x.shape[0]
        if n < k:
            extra = torch.randint(n, (k - n,), device=x.device)
            return torch.cat([x, x[extra]], dim=0)
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
        return kmeans(x, k, n_iter=self.kmeans_iters, seed=seed).centroids

    def _after_batch(
        self, h: torch.Tensor, indices: torch.Tensor, valid: torch.Tensor | None
    ) -> None:
        """Record usage and apply the EMA update with Laplace smoothing."""
        # the vectors as the codebook holds them (float32 for a float16/bfloat16 one,
        # whose sums are kept in float32)
        stats_dtype = torch.promote_types(self.embed.dtype, self.cluster_size.dtype)
        x = (h if valid is None else h[valid]).to(stats_dtype)
        idx = indices if valid is None else indices[valid]
        k = self.codebook_size
        # counts are exact in float64 up to 2**53 vectors
        counts64 = torch.bincount(idx, minlength=k).to(torch.float64)
        sums = None
        if self.ema:
            # float64 sums, accumulated into a contiguous buffer: index_add_ into a
            # column slice of a wider tensor is several times slower on CPU
            sums = torch.zeros((k, x.shape[1]), dtype=torch.float64, device=x.device)
            block = 4096  # convert in blocks: no float64 copy of the whole batch
            for s in range(0, x.shape[0], block):
                sums.index_add_(0, idx[s : s + block], x[s : s + block].to(torch.float64))
        if _world() > 1:  # counts and sums in one tensor: one all-reduce
            stats = counts64[:, None] if sums is None else torch.cat([counts64[:, None], sums], 1)
            _all_reduce(stats)
            counts64 = stats[:, 0]
            sums = None if sums is None else stats[:, 1:]
        if float(counts64.sum()) == 0:
            return  # a batch of padding only: the statistics stay as they are
        counts = counts64.to(self.cluster_size.dtype)
        self.last_counts.copy_(counts)
        self.code_counts += counts64.to(torch.long)
        if not bool(self.stats_initialized):
            self.cluster_size.copy_(counts)
            if self.ema:
                self.embed_sum.copy_(self.embed * self._smoothed_sizes()[:, None])
            self.stats_initialized.fill_(True)
        g = self.decay
        self.cluster_size.mul_(g).add_(counts, alpha=1 - g)
        if not self.ema:
            return
        assert sums is not None
        batch_sum = sums.to(self.embed_sum.dtype)
        self.embed_sum.mul_(g).add_(batch_sum, alpha=1 - g)
        self.embed.copy_(self.embed_sum / self._smoothed_sizes()[:, None])

    def _smoothed_sizes(self) -> torch.Tensor:
        """Laplace-smoothed cluster sizes ``(N_i + eps) / (N + K eps) * N``.

        In the statistics' dtype (at least float32, see :meth:`_apply`): in float16
        the size of a code that wins nothing underflows to 0, and its codeword to 0/0.
        """
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
        return smoothed.to(torch.promote_types(self.cluster_size.dtype, self.embed.dtype))

    # ------------------------------------------------------------------ encode / decode rows
    def _encode_rows(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of rows ``r`` (N, dim) and their quantized rows (N, dim), no updates."""
        h = _linear(self.project_in, r) if self.project_in is not None else r
        dtype = torch.promote_types(h.dtype, self.embed.dtype)
        h = h.to(dtype)
        hs = F.normalize(h, dim=-1) if self.normalize else h
        mag = max(finite_max_abs(hs, "z"), self._book_magnitude(dtype))
        _, prep = self._search_prepared(dtype, plan_search(dtype, mag, hs.shape[-1]))
        idx = _search(hs, prep)
        return idx, self._decode_rows(idx, dtype)

    def _decode_rows(self, idx: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        book = self.embed.detach()
        if dtype is not None:
            book = book.to(dtype)
        q = book.index_select(0, idx)
        return _linear(self.project_out, q) if self.project_out is not None else q


# --------------------------------------------------------------------------- residual
_DROPOUT_MODES = {False: False, True: "batch", "batch": "batch", "example": "example"}


class ResidualVQ(nn.Module):
    """Residual vector quantization with trainable stages, as in SoundStream, EnCodec and DAC.

    Stage 1 quantizes ``z``; stage ``i`` quantizes the residual
    ``r_i = z - (q_1 + ... + q_{i-1})`` left by the stages before it; the
    output is ``q_1 + ... + q_n``. Each stage is a :class:`VectorQuantizer`
    built with ``vq_kwargs`` (so EMA, k-means initialisation on its first
    batch of residuals, dead-code replacement, ``codebook_dim``, ``normalize``
    and ``gradient`` work per stage); ``channel_dim`` is the module's.

    Derived in chapter 6 ("Residual vector quantization").

    **Gradients and losses.** Without projections the output carries the
    estimator's gradient from ``z`` to the sum of the stages: for ``"ste"``
    ``zq = z + sg(q_1 + ... + q_n - z)``, so the gradient with respect to ``z``
    is the identity; for ``"rotation"`` it is :func:`rotation_trick` from ``z``
    to that sum. With ``codebook_dim`` (learned projections) every stage's
    output ``project_out(est(h_i, e_i))`` carries its own estimator's gradient,
    so that the projections are trained, and ``zq`` is their sum, as in DAC.
    The residuals passed between stages are ``r_{i+1} = r_i - sg(q_i)``, so
    stage ``i``'s commitment loss ``beta * mean((r_i - sg(q_i))**2)`` (in the
    projected space with ``codebook_dim``) is the error after ``i`` stages and
    pulls the encoder toward every partial reconstruction. ``losses`` has the
    same keys as a stage's losses, each **summed** over the stages used
    (EnCodec averages them instead; divide by ``codes.shape`` on the stage axis to
    get that). Summing keeps every stage's own loss, and hence each codebook's
    gradient, independent of how many stages quantizer dropout picked.

    **Quantizer dropout.** SoundStream (Zeghidour et al. 2021) samples, for
    each training example, ``n_q ~ Uniform{1, ..., N_q}`` and uses only the
    first ``n_q`` stages, so one model serves every bitrate. In training mode,
    when ``forward`` gets no ``n_q``:

    - ``quantizer_dropout="batch"`` (or ``True``): one ``n_q`` for the whole
      batch, drawn with torch's random number generator (with probability
      ``quantizer_dropout_prob``; otherwise all stages); the unused stages see
      nothing and are not updated, and ``codes`` has ``n_q`` stages.
    - ``quantizer_dropout="example"``: as DAC's code does it, the first
      ``int(B * quantizer_dropout_prob)`` examples of the batch (axis 0 of the
      frames, ``B`` of them) each draw their own ``n_q``, the others use all
      stages. Every stage quantizes every frame (``codes`` has all ``N_q``
      stages, the greedy codes of the whole stack), but an example's ``zq``
      sums only its first ``n_q`` stages, and a stage's codebook updates and
      losses see only the frames of the examples that use it. The draws of
      the last training call are in :attr:`last_n_q`.

    In ``eval()`` mode ``forward`` uses all stages unless ``n_q`` is given.
    DAC uses ``quantizer_dropout_prob=0.5``.

    **Encoding.** In ``eval()`` mode the codes of :meth:`forward` and of
    :meth:`encode` are exactly ``rvqlib.rvq.rvq_encode(z, self.codebooks)``
    (vectors on the last axis, without projections or normalization; with
    them, the same greedy search through each stage's projection). Residuals
    of float16 and bfloat16 stacks are kept in float32 between stages, as
    :func:`rvqlib.rvq.rvq_encode` keeps them, in training too.

    **Layout.** ``codes`` keeps ``z``'s layout: the stage axis takes the place
    of the vector axis (``(batch, frames, n)`` for ``(batch, frames, dim)``,
    ``(batch, n, frames)`` for ``channel_dim=1``, as in DAC), and
    :meth:`decode` expects codes in that layout.

    **Diagnostics** (chapter 9, codebook health): :attr:`replaced_counts`
    (dead-code replacements per stage), :attr:`usage_counts` (codes won per
    stage over the training batches), :attr:`residual_norms` (mean norm of the
    residual entering each stage in the last ``forward``) and
    :meth:`reset_diagnostics`.

    Parameters
    ----------
    dim : int
        Dimension of the vectors.
    n_q : int
        Number of stages ``N_q``.
    codebook_size : int
        Codewords per stage.
    quantizer_dropout : bool or {"batch", "example"}, default False
        Draw the number of stages per training batch (``True``/``"batch"``) or
        per example (``"example"``).
    quantizer_dropout_prob : float, default 1.0
        Fraction of batches (``"batch"``) or of examples (``"example"``) that
        draw a number of stages at all; in ``[0, 1]``.
    channel_dim : int, default -1
        The axis of ``z`` that holds the vector (``1`` for ``(B, D, T)``).
    **vq_kwargs
        Keyword arguments of every :class:`VectorQuantizer` stage
        (``commitment_weight``, ``ema``, ``decay``, ``eps``, ``kmeans_init``,
        ``kmeans_iters``, ``dead_code_threshold``, ``codebook_dim``,
        ``normalize``, ``gradient``).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> rvq = ResidualVQ(dim=2, n_q=3, codebook_size=8)
    >>> zq, codes, losses = rvq(torch.randn(128, 2))
    >>> codes.shape
    torch.Size([128, 3])
    >>> rvq.decode(codes[:, :2]).shape  # the first two stages only
    torch.Size([128, 2])
    >>> enc = ResidualVQ(dim=4, n_q=2, codebook_size=8, channel_dim=1)  # EnCodec layout
    >>> zq, codes, _ = enc(torch.randn(3, 4, 50))
    >>> zq.shape, codes.shape
    (torch.Size([3, 4, 50]), torch.Size([3, 2, 50]))
    """

    def __init__(
        self,
        dim: int,
        n_q: int,
        codebook_size: int,
        *,
        quantizer_dropout: bool | str = False,
        quantizer_dropout_prob: float = 1.0,
        channel_dim: int = -1,
        **vq_kwargs: Any,
    ) -> None:
        super().__init__()
        self.dim = positive_int(dim, "dim")
        self.n_q = positive_int(n_q, "n_q")
        self.codebook_size = positive_int(codebook_size, "codebook_size")
        if not isinstance(quantizer_dropout, (bool, str)):
            raise TypeError(
                "quantizer_dropout must be False, True, 'batch' or 'example', got "
                f"{type(quantizer_dropout).__name__} {quantizer_dropout!r} (DAC's "
                "quantizer_dropout=0.5 is quantizer_dropout='example', "
                "quantizer_dropout_prob=0.5 here)"
            )
        if quantizer_dropout not in _DROPOUT_MODES:
            raise ValueError(
                "quantizer_dropout must be False, True, 'batch' or 'example', "
                f"got {quantizer_dropout!r}"
            )
        self.quantizer_dropout: bool | str = _DROPOUT_MODES[quantizer_dropout]
        prob = nonnegative_float(quantizer_dropout_prob, "quantizer_dropout_prob")
        if prob > 1:
            raise ValueError(f"quantizer_dropout_prob must be in [0, 1], got {prob}")
        self.quantizer_dropout_prob = prob
        self.channel_dim = _check_channel_dim(channel_dim)
        if "channel_dim" in vq_kwargs:
            raise TypeError("channel_dim is ResidualVQ's argument, not a stage's")
        self.layers = nn.ModuleList(
            VectorQuantizer(self.dim, self.codebook_size, **vq_kwargs) for _ in range(self.n_q)
        )
        self.last_n_q: torch.Tensor | None = None

    def extra_repr(self) -> str:
        extra = ""
        if self.quantizer_dropout_prob != 1.0:
            extra += f", quantizer_dropout_prob={self.quantizer_dropout_prob}"
        if self.channel_dim != -1:
            extra += f", channel_dim={self.channel_dim}"
        return f"n_q={self.n_q}, quantizer_dropout={self.quantizer_dropout!r}{extra}"

    def _stages(self, n_q: Any) -> int:
        if n_q is None:
            return self.n_q
        n_q = positive_int(n_q, "n_q")
        if n_q > self.n_q:
            raise ValueError(f"n_q must be between 1 and {self.n_q} (the stages built), got {n_q}")
        return n_q

    @property
    def _plain(self) -> bool:
        """True when no stage projects or normalizes: stages search ``z``'s own space."""
        layer = self.layers[0]
        return layer.codebook_dim is None and not layer.normalize

    # ------------------------------------------------------------------ codebooks
    @property
    def codebooks(self) -> list[torch.Tensor]:
        """The ``n_q`` stage codebooks, each a detached ``(K, d)`` copy."""
        return [layer.codebook for layer in self.layers]

    def set_codebooks(self, codebooks: Sequence[Any]) -> None:
        """Replace every stage's codebook (see :meth:`VectorQuantizer.set_codebook`).

        Parameters
        ----------
        codebooks : sequence of torch.Tensor or array_like
            ``n_q`` codebooks of shape ``(codebook_size, d)``, e.g. from
            :func:`rvqlib.rvq.train_rvq_codebooks`.

        Raises
        ------
        TypeError
            If ``codebooks`` is not a list or tuple (or a stacked 3-D array).
        ValueError
            If it does not hold ``n_q`` codebooks of the right shape.
        """
        stacked = (is_torch(codebooks) or isinstance(codebooks, np.ndarray)) and codebooks.ndim == 3
        if not (stacked or isinstance(codebooks, (list, tuple))):
            raise TypeError(
                f"codebooks must be a list of {self.n_q} (codebook_size, dim) codebooks, "
                f"got {type(codebooks).__name__}"
            )
        if len(codebooks) != self.n_q:
            raise ValueError(f"codebooks must hold n_q={self.n_q} codebooks, got {len(codebooks)}")
        for i, (layer, cb) in enumerate(zip(self.layers, codebooks, strict=True)):
            try:
                layer.set_codebook(cb)
            except (TypeError, ValueError) as err:
                raise type(err)(f"codebooks[{i}]: {err}") from None

    # ------------------------------------------------------------------ diagnostics
    @property
    def replaced_counts(self) -> torch.Tensor:
        """Dead-code replacements per stage ``(n_q,)`` (``int64``), since construction or reset."""
        return torch.stack([layer.n_replaced.detach().clone() for layer in self.layers])

    @property
    def usage_counts(self) -> torch.Tensor:
        """Vectors won by every code of every stage ``(n_q, K)`` over the training batches."""
        return torch.stack([layer.code_counts.detach().clone() for layer in self.layers])

    @property
    def residual_norms(self) -> list[float]:
        """Mean norm of the (valid) residual entering each stage in the last ``forward``.

        ``nan`` for stages the last call did not use; the first entry is the
        mean norm of ``z`` itself. Their decrease stage by stage is how fast the
        stack refines.
        """
        return [layer.last_input_norm for layer in self.layers]

    def reset_diagnostics(self) -> None:
        """:meth:`VectorQuantizer.reset_diagnostics` on every stage."""
        for layer in self.layers:
            layer.reset_diagnostics()

    # ------------------------------------------------------------------ forward
    @eager
    def _draw_stages(self, device: torch.device) -> int:
        """Number of stages of a batch under per-batch dropout (rank 0 draws)."""
        out = torch.empty(1, dtype=torch.long)
        if _rank() == 0:
            n = self.n_q
            if (
                self.quantizer_dropout_prob >= 1.0
                or float(torch.rand(1)) < self.quantizer_dropout_prob
            ):
                n = int(torch.randint(1, self.n_q + 1, (1,)))
            out.fill_(n)
        if _world() > 1:
            out = _broadcast(out.to(device)).cpu()
        return int(out)

    @eager
    def _draw_example_stages(self, n_examples: int, device: torch.device) -> torch.Tensor:
        """Per-example numbers of stages (DAC's rule: the first ``int(B p)`` examples draw)."""
        draws = torch.randint(1, self.n_q + 1, (n_examples,), device=device)
        n_drop = int(n_examples * self.quantizer_dropout_prob)
        out = torch.full((n_examples,), self.n_q, dtype=torch.long, device=device)
        out[:n_drop] = draws[:n_drop]
        self.last_n_q = out.clone()
        return out

    @eager
    def _forget_norms(self, used: int) -> None:
        for layer in self.layers[used:]:
            layer.__dict__["_last_norm"] = None

    def forward(
        self,
        z: torch.Tensor,
        n_q: int | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantize ``z`` with the first ``n_q`` stages (training mode also updates them).

        Parameters
        ----------
        z : torch.Tensor
            Vectors along the axis ``channel_dim`` (default: ``(..., dim)``).
        n_q : int, optional
            Number of stages to use, ``1..N_q``. Default: all, or in training
            with quantizer dropout a number drawn per batch or per example.
        mask : torch.Tensor, optional
            Boolean, ``z``'s shape without the vector axis; ``False`` marks
            padding frames, quantized but left out of every codebook update and
            of the losses.

        Returns
        -------
        zq : torch.Tensor
            ``z.shape``, ``z.dtype``, ``z``'s layout: the sum of the chosen
            codewords, with the estimator's gradients to ``z``.
        codes : torch.Tensor
            ``torch.long``, ``z``'s layout with ``n`` stages on the vector axis,
            ``n`` the number of stages used (all ``N_q`` under per-example dropout).
        losses : dict of str to torch.Tensor
            Each stage's losses summed over the stages used.

        Raises
        ------
        TypeError, ValueError
            Bad ``z`` or ``mask`` (as :meth:`VectorQuantizer.forward`) or ``n_q``
            out of range.
        RuntimeError
            In ``eval()`` mode before the codebooks were ever initialised, or
            under ``torch.jit.trace``.
        """
        n = self._stages(n_q)
        first = self.layers[0]
        axis = _check_input(z, mask, self.dim, self.channel_dim, first.embed.device)
        rows = _to_rows(z, axis)
        # the residuals of float16/bfloat16 stages in float32, as rvq_encode keeps them:
        # rounding them to 16 bits between stages would change the later stages' codes
        dtype = _work_dtype(torch.promote_types(z.dtype, first.embed.dtype))
        x = rows.to(dtype)
        valid = None if mask is None else mask.reshape(-1)
        frame_n_q = None
        if n_q is None and self.training and self.quantizer_dropout == "batch":
            n = self._draw_stages(x.device)
        elif n_q is None and self.training and self.quantizer_dropout == "example":
            frames = tuple(z.shape[:axis]) + tuple(z.shape[axis + 1 :])
            n_examples = frames[0] if frames else 1
            per_example = self._draw_example_stages(n_examples, x.device)
            frame_n_q = per_example.repeat_interleave(x.shape[0] // max(n_examples, 1))
        per_stage = not self._plain
        residual = x
        total = torch.zeros_like(x)
        outs = torch.zeros_like(x) if per_stage else None
        codes: list[torch.Tensor] = []
        losses: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.layers[:n]):
            stage_valid = valid
            used = None
            if frame_n_q is not None:
                used = frame_n_q > i
                stage_valid = used if valid is None else valid & used
            out, idx, stage_losses = layer._stage(residual, stage_valid, per_stage=per_stage)
            q = out.detach().to(dtype)
            residual = residual - q
            keep = None if used is None else used[:, None].to(dtype)
            total = total + (q if keep is None else q * keep)
            if per_stage:
                outs = outs + (out if keep is None else out * keep)
            codes.append(idx)
            for key, value in stage_losses.items():
                losses[key] = losses[key] + value if key in losses else value
        if n < self.n_q:
            self._forget_norms(n)
        if per_stage:
            zq_rows = outs
        elif first.gradient == "rotation":
            zq_rows = _rotation(x, total)
        else:
            zq_rows = straight_through(x, total)
        zq = _from_rows(zq_rows.to(z.dtype), z, axis)
        code_rows = torch.stack(codes, dim=-1)
        return zq, _from_rows(code_rows, z, axis), losses

    @eager
    @torch.no_grad()
    def encode(self, z: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """Codes of ``z``: :func:`rvqlib.rvq.rvq_encode` with this module's codebooks.

        Never changes the module, in either mode, and never drops stages. An
        empty batch gives empty codes.

        Parameters
        ----------
        z : torch.Tensor
            Vectors along the axis ``channel_dim`` (default: ``(..., dim)``).
        n_q : int, optional
            Number of stages (``1..N_q``); default all.

        Returns
        -------
        torch.Tensor
            ``torch.long`` codes in ``z``'s layout, ``n_q`` stages on the vector axis
            (``z.shape[:-1] + (n_q,)`` for the default layout).

        Raises
        ------
        TypeError, ValueError
            Bad ``z`` (as :meth:`forward`) or ``n_q``.
        RuntimeError
            Before the codebooks were ever initialised.
        """
        n = self._stages(n_q)
        first = self.layers[0]
        axis = _check_input(z, None, self.dim, self.channel_dim, first.embed.device)
        for layer in self.layers[:n]:
            layer._check_initialized("encode")
        rows = _to_rows(z, axis)
        dtype = torch.promote_types(z.dtype, first.embed.dtype)
        rows = rows.to(dtype)
        if self._plain:
            magnitude = max(
                [finite_max_abs(rows, "z")]
                + [layer._book_magnitude(dtype) for layer in self.layers[:n]]
            )
            plan = rvq_plan(dtype, magnitude, self.dim, n)
            preps = [layer._search_prepared(dtype, plan)[1] for layer in self.layers[:n]]
            code_rows = _encode_prepared(rows, preps)
        else:
            dtype = _work_dtype(dtype)  # the residuals as forward keeps them
            residual = rows.to(dtype, copy=True)
            cols = []
            for layer in self.layers[:n]:
                idx, q = layer._encode_rows(residual)
                cols.append(idx)
                residual -= q.to(dtype)
            code_rows = (
                torch.stack(cols, dim=-1)
                if rows.shape[0]
                else rows.new_empty((0, n), dtype=torch.long)
            )
        return _from_rows(code_rows, z, axis)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the codewords chosen by ``codes``: :func:`rvqlib.rvq.rvq_decode`.

        Parameters
        ----------
        codes : torch.Tensor
            Integer codes of the first ``n <= N_q`` stages in the layout of
            :meth:`encode` (``(..., n)`` by default; fewer stages give a coarser
            reconstruction).

        Returns
        -------
        torch.Tensor
            The reconstruction in ``z``'s layout (``(..., dim)`` by default) in
            the codebooks' dtype, on their device.

        Raises
        ------
        TypeError
            If ``codes`` is not an integer torch tensor.
        ValueError
            If ``codes`` has no stage axis, more than ``N_q`` stages, or a code
            outside ``[0, codebook_size)``.
        RuntimeError
            Before the codebooks were ever initialised.
        """
        if not is_torch(codes):
            raise TypeError(f"codes must be a torch.Tensor of integers, got {type(codes).__name__}")
        codes = as_index(codes, "codes")
        if codes.ndim < 1 or not -codes.ndim <= self.channel_dim < codes.ndim:
            raise ValueError(
                f"codes must have a stage axis at channel_dim={self.channel_dim}, "
                f"got shape {tuple(codes.shape)}"
            )
        axis = self.channel_dim % codes.ndim
        n = codes.shape[axis]
        if not 1 <= n <= self.n_q:
            raise ValueError(
                f"codes must have 1 <= n <= n_q={self.n_q} stages on axis {axis}, "
                f"got shape {tuple(codes.shape)}"
            )
        rows = _to_rows(codes, axis)
        for s in range(n):
            col = rows[:, s]
            if rows.shape[0] and (int(col.min()) < 0 or int(col.max()) >= self.codebook_size):
                raise ValueError(
                    f"codes of stage {s} must lie in [0, {self.codebook_size}) (codebook_size), "
                    f"got values in [{int(col.min())}, {int(col.max())}]"
                )
        for layer in self.layers[:n]:
            layer._check_initialized("decode")
        if self._plain:
            out = rvq_decode(rows, self.codebooks[:n])
        else:
            parts = [layer._decode_rows(rows[:, s]) for s, layer in enumerate(self.layers[:n])]
            out = parts[0]
            for p in parts[1:]:
                out = out + p
        return _from_rows(out, codes, axis)
