"""Trainable vector quantizers as torch modules (chapters 4, 5, 6 and 8).

- :func:`straight_through`: the straight-through estimator ``z + sg(zq - z)``
  (chapter 8, "The straight-through estimator").
- :class:`VectorQuantizer`: one codebook trained either by the VQ-VAE codebook
  loss or by exponential moving averages with Laplace smoothing, with k-means
  initialisation, dead-code replacement and usage statistics (chapter 4, "The
  codebook and commitment losses", and chapter 5, "EMA codebook updates").
- :class:`ResidualVQ`: a stack of :class:`VectorQuantizer` stages, each
  quantizing the residual the stages before it left, with SoundStream's
  quantizer dropout (chapter 6, "Residual vector quantization").

The searches themselves are not reimplemented here: nearest codewords come from
:func:`rvqlib.vq.nearest`, k-means from :func:`rvqlib.kmeans.kmeans`, and
``ResidualVQ.encode`` / ``decode`` are :func:`rvqlib.rvq.rvq_encode` /
:func:`rvqlib.rvq.rvq_decode` applied to the modules' codebooks.
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
    check_finite,
    check_vectors,
    is_torch,
    nonnegative_float,
    positive_int,
)
from rvqlib.kmeans import kmeans
from rvqlib.rvq import _encode_prepared, rvq_decode
from rvqlib.vq import _prepare_codebook, nearest

__all__ = ["ResidualVQ", "VectorQuantizer", "straight_through"]


# --------------------------------------------------------------------------- helpers
def _check_tensor_vectors(z: Any, name: str, dim: int) -> torch.Tensor:
    """Validate a torch batch of vectors ``(..., dim)`` with at least one vector."""
    if not is_torch(z):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (..., {dim}), got {type(z).__name__}"
        )
    z = check_vectors(z, name)
    if z.shape[-1] != dim:
        raise ValueError(
            f"{name} must have shape (..., {dim}) (last axis = dim), got shape {tuple(z.shape)}"
        )
    if z.numel() == 0:
        raise ValueError(f"{name} has no vectors (shape {tuple(z.shape)}); pass at least one")
    return z


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
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


# --------------------------------------------------------------------------- estimator
def straight_through(z: torch.Tensor, zq: torch.Tensor) -> torch.Tensor:
    """The straight-through estimator: ``z + (zq - z).detach()``.

    The result equals ``zq`` in the forward pass (up to one rounding of the
    sum), while in the backward pass it is the identity with respect to ``z``:
    the gradient the loss sends to the quantized vector is copied unchanged to
    the encoder output ``z``, skipping the non-differentiable ``argmin``.
    No gradient reaches ``zq`` through this function.

    Derived in chapter 8, "The straight-through estimator, and a tiny codec".

    Parameters
    ----------
    z : torch.Tensor
        The continuous vectors (the encoder output), any shape.
    zq : torch.Tensor
        Their quantized values, the same shape (and device) as ``z``.

    Returns
    -------
    torch.Tensor
        ``z + (zq - z).detach()``: value ``zq``, gradient identity in ``z``.

    Raises
    ------
    TypeError
        If ``z`` or ``zq`` is not a floating torch tensor.
    ValueError
        If the shapes differ (nothing is broadcast) or the devices differ.

    Examples
    --------
    >>> z = torch.tensor([0.3, 1.7], requires_grad=True)
    >>> out = straight_through(z, torch.round(z))
    >>> out.detach()
    tensor([0., 2.])
    >>> out.sum().backward(); z.grad
    tensor([1., 1.])
    """
    for name, t in (("z", z), ("zq", zq)):
        if not is_torch(t):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got dtype {t.dtype}")
    if z.shape != zq.shape:
        raise ValueError(
            f"zq must have the same shape as z, got z {tuple(z.shape)} and zq {tuple(zq.shape)}"
        )
    if z.device != zq.device:
        raise ValueError(f"zq is on device {zq.device} but z is on {z.device}")
    return z + (zq - z).detach()


# --------------------------------------------------------------------------- one codebook
class VectorQuantizer(nn.Module):
    """A vector quantizer with a learned codebook, as in VQ-VAE, SoundStream and EnCodec.

    ``forward(z)`` maps every vector of ``z`` (shape ``(..., dim)``) to its
    nearest codeword (:func:`rvqlib.vq.nearest`) and returns the quantized
    vectors with straight-through gradients, the indices and the losses.

    Derived in chapter 4 ("The codebook and commitment losses": losses, usage,
    perplexity, dead codes) and chapter 5 ("EMA codebook updates": the EMA
    update, Laplace smoothing, dead-code replacement).

    **Losses.** With ``e = zq`` the chosen codewords and ``sg`` the stop-gradient,

    - ``losses["commitment"] = commitment_weight * mean((z - sg(e))**2)``: already
      multiplied by ``commitment_weight`` (the VQ-VAE beta), so add it to the
      training loss as it is. It trains the encoder only.
    - ``losses["codebook"] = mean((sg(z) - e)**2)`` (unweighted), only when
      ``ema=False``: it trains the codebook, an :class:`torch.nn.Parameter`.

    Both are means over all elements (``F.mse_loss``), i.e. the squared distance
    per vector divided by ``dim``, averaged over the vectors, as in the EnCodec
    and SoundStream implementations (VQ-VAE's paper writes the sum over ``dim``).

    **EMA update** (``ema=True``, training mode only). The codebook is a buffer,
    not a parameter. For a batch where code ``i`` wins ``n_i`` vectors whose
    sum is ``s_i``, with decay ``gamma``::

        N_i <- gamma * N_i + (1 - gamma) * n_i          (buffer cluster_size)
        S_i <- gamma * S_i + (1 - gamma) * s_i          (buffer embed_sum)
        N~_i = (N_i + eps) / (N + K * eps) * N,   N = sum_i N_i   (Laplace smoothing)
        e_i  = S_i / N~_i

    as in the VQ-VAE appendix (van den Oord et al. 2017), SoundStream and
    EnCodec. The smoothing keeps ``N~_i > 0`` for codes that win nothing; such
    codes shrink toward the origin by the factor ``gamma`` per batch, which is
    why dead codes are replaced. The statistics start from the first training
    batch: ``N_i`` is set to that batch's counts and ``S_i = N~_i e_i``, so that
    ``e_i = S_i / N~_i`` holds from the start and the first update is an
    ordinary EMA step.

    **k-means initialisation** (``kmeans_init=True``). On the first training
    batch the codebook becomes :func:`rvqlib.kmeans.kmeans` of the batch's
    vectors with ``kmeans_iters`` Lloyd iterations, seeded from torch's random
    number generator (so ``torch.manual_seed`` makes it reproducible). If that
    batch has fewer than ``codebook_size`` vectors, the codebook is the batch's
    vectors followed by vectors sampled from it with replacement; the duplicate
    codes win nothing and are re-seeded by dead-code replacement on later
    batches. Until then the codebook is all zeros. With ``kmeans_init=False``
    the codebook starts as standard normal draws (``torch.randn``).

    **Dead-code replacement** (training mode only, both ``ema`` settings).
    Before quantizing a batch, every code whose EMA cluster size ``N_i`` (its
    average number of vectors per batch) is below ``dead_code_threshold`` is
    replaced by a vector drawn from the current batch (without replacement
    when the batch is large enough), as in SoundStream and EnCodec; its
    statistics restart at ``N_i = dead_code_threshold`` and ``S_i = N~_i e_i``.
    The draw uses torch's random number generator. ``dead_code_threshold=0``
    turns this off.

    **Usage statistics.** :attr:`usage` (EMA cluster sizes), the buffer
    ``last_counts`` (counts of the last training batch), :meth:`perplexity`
    (``exp`` of the entropy of code usage: ``K`` when all codes are used
    equally, 1 when one code takes everything) and ``n_replaced`` (total number
    of dead-code replacements so far).

    ``eval()`` mode never changes any parameter or buffer. All state is in
    registered buffers (or the codebook parameter), so ``state_dict`` round-trips.
    The module works on any device and floating dtype: ``z`` must be on the
    module's device; the search runs in the promoted dtype of ``z`` and the
    codebook, and ``zq`` is returned in ``z``'s dtype.

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
        Replace codes whose EMA cluster size falls below this (>= 0; 0 = never).

    Attributes
    ----------
    cluster_size : torch.Tensor
        Buffer ``(K,)``: EMA of the number of vectors each code wins per batch.
    embed_sum : torch.Tensor
        Buffer ``(K, dim)``: EMA of the sum of the vectors each code wins
        (only when ``ema=True``).
    last_counts : torch.Tensor
        Buffer ``(K,)``: how many vectors each code won in the last training batch.
    initialized : torch.Tensor
        Buffer (bool): the codebook has been initialised (k-means or
        :meth:`set_codebook`).
    n_replaced : torch.Tensor
        Buffer (int64): total number of dead codes replaced so far.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> vq = VectorQuantizer(dim=2, codebook_size=4)
    >>> zq, idx, losses = vq(torch.randn(64, 2))
    >>> zq.shape, idx.shape, sorted(losses)
    (torch.Size([64, 2]), torch.Size([64]), ['commitment'])
    """

    cluster_size: torch.Tensor
    last_counts: torch.Tensor
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

        k, d = self.codebook_size, self.dim
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

    def extra_repr(self) -> str:
        mode = f"ema=True, decay={self.decay}" if self.ema else "ema=False"
        return (
            f"dim={self.dim}, codebook_size={self.codebook_size}, {mode}, "
            f"commitment_weight={self.commitment_weight}, "
            f"dead_code_threshold={self.dead_code_threshold}"
        )

    # ------------------------------------------------------------------ codebook access
    @property
    def codebook(self) -> torch.Tensor:
        """The ``(K, dim)`` codebook: a detached copy (later training does not change it)."""
        return self.embed.detach().clone()

    @torch.no_grad()
    def set_codebook(self, codebook: Any) -> None:
        """Replace the codebook and mark k-means initialisation as done.

        The EMA statistics (:attr:`cluster_size`, ``embed_sum``, ``last_counts``)
        are reset and restart from the next training batch.

        Parameters
        ----------
        codebook : torch.Tensor or array_like
            The new ``(codebook_size, dim)`` codebook; copied to the module's
            device and dtype.

        Raises
        ------
        TypeError
            If ``codebook`` is not numeric.
        ValueError
            If its shape is not ``(codebook_size, dim)`` or it holds NaN/inf.
        """
        if not is_torch(codebook):
            codebook = torch.as_tensor(check_codebook(codebook, "codebook"))
        codebook = check_codebook(codebook, "codebook")
        expected = (self.codebook_size, self.dim)
        if tuple(codebook.shape) != expected:
            raise ValueError(
                f"codebook must have shape (codebook_size, dim) = {expected}, "
                f"got {tuple(codebook.shape)}"
            )
        self.embed.copy_(codebook.to(device=self.embed.device, dtype=self.embed.dtype))
        self.initialized.fill_(True)
        self._reset_stats()

    def _encode_prepared(self, dtype: torch.dtype, name: str) -> tuple[torch.Tensor, Any]:
        """The codebook in ``dtype`` and its :func:`rvqlib.vq._prepare_codebook` form.

        Cached between calls and rebuilt whenever the codebook tensor is replaced or
        changed in place (training steps, :meth:`set_codebook`, ``load_state_dict``
        and optimisers all bump its version counter), so repeated :meth:`ResidualVQ.encode`
        calls skip the per-stage norms, ``-2 E^T``, duplicate check and shift.
        """
        embed = self.embed
        key = (embed._version, embed.data_ptr(), embed.device, dtype)
        cache = self.__dict__.get("_prep_cache")
        if cache is not None and cache[0] is embed and cache[1] == key:
            return cache[2], cache[3]
        with torch.inference_mode(False), torch.no_grad():
            book = embed.detach().to(dtype)
            check_finite(book, name)
            prep = _prepare_codebook(book)
        self.__dict__["_prep_cache"] = (embed, key, book, prep)
        return book, prep

    def _reset_stats(self) -> None:
        self.cluster_size.zero_()
        self.last_counts.zero_()
        if self.ema:
            self.embed_sum.zero_()
        self.stats_initialized.fill_(False)

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
        self, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantize ``z`` (and, in training mode, update the codebook).

        Parameters
        ----------
        z : torch.Tensor
            Vectors of shape ``(..., dim)`` on the module's device.

        Returns
        -------
        zq : torch.Tensor
            ``z.shape``, ``z.dtype``: the nearest codewords, carrying
            straight-through gradients to ``z``.
        indices : torch.Tensor
            ``z.shape[:-1]``, ``torch.long``: the chosen codes.
        losses : dict of str to torch.Tensor
            Scalar losses: ``"commitment"`` (already weighted by
            ``commitment_weight``) and, when ``ema=False``, ``"codebook"``.

        Raises
        ------
        TypeError
            If ``z`` is not a torch tensor.
        ValueError
            Wrong last axis, no vectors, NaN/inf, or a device other than the module's.
        """
        z = self._check_input(z)
        q, indices, losses = self._quantize(z)
        zq = straight_through(z.to(q.dtype), q.detach()).to(z.dtype)
        return zq, indices, losses

    def _check_input(self, z: Any, name: str = "z") -> torch.Tensor:
        z = _check_tensor_vectors(z, name, self.dim)
        if z.device != self.embed.device:
            raise ValueError(
                f"{name} is on device {z.device} but the codebook is on {self.embed.device}; "
                "move the module with .to(device)"
            )
        return z

    def _quantize(
        self, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Core of :meth:`forward` on validated ``z``.

        Returns the chosen codewords themselves (no straight-through; with
        ``ema=False`` they carry gradients to the codebook) in the promoted
        dtype of ``z`` and the codebook, the indices and the losses.
        """
        flat = z.reshape(-1, self.dim)
        if self.training:
            self._before_batch(flat.detach())
        dtype = torch.promote_types(z.dtype, self.embed.dtype)
        codebook = self.embed.to(dtype)
        z_c = z.to(dtype)
        indices = nearest(z_c.detach(), codebook.detach())
        q = F.embedding(indices, codebook)
        losses = {"commitment": self.commitment_weight * F.mse_loss(z_c, q.detach())}
        if not self.ema:
            losses["codebook"] = F.mse_loss(q, z_c.detach())
        if self.training:
            self._after_batch(flat.detach(), indices.reshape(-1))
        return q, indices, losses

    # ------------------------------------------------------------------ training updates
    @torch.no_grad()
    def _before_batch(self, flat: torch.Tensor) -> None:
        """k-means initialisation, then dead-code replacement, from this batch."""
        x = flat.to(self.embed.dtype)
        if not bool(self.initialized):
            self.embed.copy_(self._initial_codebook(x))
            self.initialized.fill_(True)
        if bool(self.stats_initialized) and self.dead_code_threshold > 0:
            dead = self.cluster_size < self.dead_code_threshold
            n_dead = int(dead.sum())
            if n_dead:
                n = x.shape[0]
                if n >= n_dead:
                    pick = torch.randperm(n, device=x.device)[:n_dead]
                else:
                    pick = torch.randint(n, (n_dead,), device=x.device)
                new = x[pick]
                self.embed[dead] = new
                self.cluster_size[dead] = self.dead_code_threshold
                if self.ema:
                    self.embed_sum[dead] = new * self._smoothed_sizes()[dead][:, None]
                self.n_replaced += n_dead

    def _initial_codebook(self, x: torch.Tensor) -> torch.Tensor:
        k, n = self.codebook_size, x.shape[0]
        if n < k:
            extra = torch.randint(n, (k - n,), device=x.device)
            return torch.cat([x, x[extra]], dim=0)
        seed = int(torch.randint(0, 2**31 - 1, (1,)))
        return kmeans(x, k, n_iter=self.kmeans_iters, seed=seed).centroids

    @torch.no_grad()
    def _after_batch(self, flat: torch.Tensor, indices: torch.Tensor) -> None:
        """Record usage and apply the EMA update with Laplace smoothing."""
        x = flat.to(self.embed.dtype)
        counts = torch.bincount(indices, minlength=self.codebook_size).to(self.cluster_size.dtype)
        self.last_counts.copy_(counts)
        if not bool(self.stats_initialized):
            self.cluster_size.copy_(counts)
            if self.ema:
                self.embed_sum.copy_(self.embed * self._smoothed_sizes()[:, None])
            self.stats_initialized.fill_(True)
        g = self.decay
        self.cluster_size.mul_(g).add_(counts, alpha=1 - g)
        if not self.ema:
            return
        batch_sum = torch.zeros_like(self.embed_sum).index_add_(0, indices, x)
        self.embed_sum.mul_(g).add_(batch_sum, alpha=1 - g)
        self.embed.copy_(self.embed_sum / self._smoothed_sizes()[:, None])

    def _smoothed_sizes(self) -> torch.Tensor:
        """Laplace-smoothed cluster sizes ``(N_i + eps) / (N + K eps) * N`` (codebook dtype)."""
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
        return smoothed.to(self.embed.dtype)


# --------------------------------------------------------------------------- residual
class ResidualVQ(nn.Module):
    """Residual vector quantization with trainable stages, as in SoundStream and EnCodec.

    Stage 1 quantizes ``z``; stage ``i`` quantizes the residual
    ``r_i = z - (q_1 + ... + q_{i-1})`` left by the stages before it; the
    output is ``q_1 + ... + q_n``. Each stage is a :class:`VectorQuantizer`
    built with ``vq_kwargs`` (so EMA, k-means initialisation on its first
    batch of residuals and dead-code replacement work per stage).

    Derived in chapter 6 ("Residual vector quantization").

    **Gradients and losses.** The output carries straight-through gradients:
    ``zq = z + sg(q_1 + ... + q_n - z)``, so the gradient with respect to ``z``
    is the identity. The residuals passed between stages are
    ``r_{i+1} = r_i - sg(q_i)``, so stage ``i``'s commitment loss
    ``beta * mean((r_i - sg(q_i))**2)`` is the error after ``i`` stages and
    pulls the encoder toward every partial reconstruction. ``losses`` has the
    same keys as a stage's losses, each **summed** over the stages used
    (EnCodec averages them instead; divide by ``codes.shape[-1]`` to get that).
    Summing keeps every stage's own loss, and hence each codebook's gradient,
    independent of how many stages quantizer dropout picked.

    **Quantizer dropout.** SoundStream (Zeghidour et al. 2021) samples, for
    each training example, ``n_q ~ Uniform{1, ..., N_q}`` and uses only the first
    ``n_q`` stages, so one model serves every bitrate. Here ``n_q`` is drawn once
    **per batch** (with torch's random number generator) when the module is in
    training mode, ``quantizer_dropout=True`` and ``forward`` gets no ``n_q``;
    the unused stages see nothing and are not updated. In ``eval()`` mode
    ``forward`` uses all stages unless ``n_q`` is given.

    **Encoding.** In ``eval()`` mode the codes of :meth:`forward` and of
    :meth:`encode` are exactly ``rvqlib.rvq.rvq_encode(z, self.codebooks)``.

    Parameters
    ----------
    dim : int
        Dimension of the vectors.
    n_q : int
        Number of stages ``N_q``.
    codebook_size : int
        Codewords per stage.
    quantizer_dropout : bool, default False
        Draw the number of stages per training batch, as SoundStream.
    **vq_kwargs
        Keyword arguments of every :class:`VectorQuantizer` stage
        (``commitment_weight``, ``ema``, ``decay``, ``eps``, ``kmeans_init``,
        ``kmeans_iters``, ``dead_code_threshold``).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> rvq = ResidualVQ(dim=2, n_q=3, codebook_size=8)
    >>> zq, codes, losses = rvq(torch.randn(128, 2))
    >>> codes.shape
    torch.Size([128, 3])
    >>> rvq.decode(codes[:, :2]).shape  # the first two stages only
    torch.Size([128, 2])
    """

    def __init__(
        self,
        dim: int,
        n_q: int,
        codebook_size: int,
        *,
        quantizer_dropout: bool = False,
        **vq_kwargs: Any,
    ) -> None:
        super().__init__()
        self.dim = positive_int(dim, "dim")
        self.n_q = positive_int(n_q, "n_q")
        self.codebook_size = positive_int(codebook_size, "codebook_size")
        self.quantizer_dropout = _check_bool(quantizer_dropout, "quantizer_dropout")
        self.layers = nn.ModuleList(
            VectorQuantizer(self.dim, self.codebook_size, **vq_kwargs) for _ in range(self.n_q)
        )

    def extra_repr(self) -> str:
        return f"n_q={self.n_q}, quantizer_dropout={self.quantizer_dropout}"

    def _stages(self, n_q: Any) -> int:
        if n_q is None:
            return self.n_q
        n_q = positive_int(n_q, "n_q")
        if n_q > self.n_q:
            raise ValueError(f"n_q must be between 1 and {self.n_q} (the stages built), got {n_q}")
        return n_q

    # ------------------------------------------------------------------ codebooks
    @property
    def codebooks(self) -> list[torch.Tensor]:
        """The ``n_q`` stage codebooks, each a detached ``(K, dim)`` copy."""
        return [layer.codebook for layer in self.layers]

    def set_codebooks(self, codebooks: Sequence[Any]) -> None:
        """Replace every stage's codebook (see :meth:`VectorQuantizer.set_codebook`).

        Parameters
        ----------
        codebooks : sequence of torch.Tensor or array_like
            ``n_q`` codebooks of shape ``(codebook_size, dim)``, e.g. from
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

    # ------------------------------------------------------------------ forward
    def forward(
        self, z: torch.Tensor, n_q: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantize ``z`` with the first ``n_q`` stages (training mode also updates them).

        Parameters
        ----------
        z : torch.Tensor
            Vectors of shape ``(..., dim)``.
        n_q : int, optional
            Number of stages to use, ``1..N_q``. Default: all, or in training
            with ``quantizer_dropout=True`` a number drawn uniformly from
            ``1..N_q`` for this batch.

        Returns
        -------
        zq : torch.Tensor
            ``z.shape``, ``z.dtype``: the sum of the chosen codewords, with
            straight-through gradients to ``z``.
        codes : torch.Tensor
            ``z.shape[:-1] + (n,)``, ``torch.long``, ``n`` the number of stages used.
        losses : dict of str to torch.Tensor
            Each stage's losses summed over the stages used.

        Raises
        ------
        TypeError, ValueError
            Bad ``z`` (as :meth:`VectorQuantizer.forward`) or ``n_q`` out of range.
        """
        n = self._stages(n_q)
        if n_q is None and self.training and self.quantizer_dropout:
            n = int(torch.randint(1, self.n_q + 1, (1,)))
        z = self.layers[0]._check_input(z)
        residual = z.to(torch.promote_types(z.dtype, self.layers[0].embed.dtype))
        total = torch.zeros_like(residual)
        codes: list[torch.Tensor] = []
        losses: dict[str, torch.Tensor] = {}
        for layer in self.layers[:n]:
            q, idx, stage_losses = layer._quantize(residual)
            q = q.detach()
            residual = residual - q
            total = total + q
            codes.append(idx)
            for key, value in stage_losses.items():
                losses[key] = losses[key] + value if key in losses else value
        zq = straight_through(z.to(total.dtype), total).to(z.dtype)
        return zq, torch.stack(codes, dim=-1), losses

    @torch.no_grad()
    def encode(self, z: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """Codes of ``z``: :func:`rvqlib.rvq.rvq_encode` with this module's codebooks.

        Never changes the module, in either mode, and never drops stages.

        Parameters
        ----------
        z : torch.Tensor
            Vectors of shape ``(..., dim)``.
        n_q : int, optional
            Number of stages (``1..N_q``); default all.

        Returns
        -------
        torch.Tensor
            ``z.shape[:-1] + (n_q,)`` codes, ``torch.long``.
        """
        n = self._stages(n_q)
        z = self.layers[0]._check_input(z)
        dtype = torch.promote_types(z.dtype, self.layers[0].embed.dtype)
        books, preps = [], []
        for i, layer in enumerate(self.layers[:n]):
            book, prep = layer._encode_prepared(dtype, f"codebooks[{i}]")
            books.append(book)
            preps.append(prep)
        return _encode_prepared(z.to(dtype), preps)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the codewords chosen by ``codes``: :func:`rvqlib.rvq.rvq_decode`.

        Parameters
        ----------
        codes : torch.Tensor
            ``(..., n)`` integer codes of the first ``n <= N_q`` stages (fewer
            stages give a coarser reconstruction).

        Returns
        -------
        torch.Tensor
            ``(..., dim)`` reconstruction in the codebooks' dtype, on their device.

        Raises
        ------
        TypeError
            If ``codes`` is not an integer torch tensor.
        ValueError
            If ``codes`` has no stage axis, more than ``N_q`` stages, or a code
            outside ``[0, codebook_size)``.
        """
        if not is_torch(codes):
            raise TypeError(f"codes must be a torch.Tensor of integers, got {type(codes).__name__}")
        codes = as_index(codes, "codes")
        if codes.ndim < 1 or not 1 <= codes.shape[-1] <= self.n_q:
            raise ValueError(
                f"codes must have shape (..., n) with 1 <= n <= n_q={self.n_q} stages, "
                f"got shape {tuple(codes.shape)}"
            )
        return rvq_decode(codes, self.codebooks[: codes.shape[-1]])
