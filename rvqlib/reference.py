"""Faithful re-implementations of reference code that the book examines (chapters 5 and 9).

The book makes claims about what published codec code *does*, and checks them by
running that code. Where the book's environment cannot install the package (EnCodec's
``encodec`` 0.1.1 declares ``torchaudio`` as a dependency, which would replace the
book's pinned torch), this module re-implements the code **operation for operation**:
the same buffers, the same order of updates within one call, the same random draws
from torch's generator and the same floating-point expressions, so that a run here
gives the numbers the original gives. Each class names the file and function it
follows; its docstring lists where it departs from it (only layout: vectors on the
last axis, as everywhere in :mod:`rvqlib`).

- :class:`EncodecStyleCodebook` follows ``EuclideanCodebook`` in
  ``encodec/quantization/core_vq.py`` (encodec 0.1.1, facebookresearch/encodec):
  k-means initialisation, EMA update with Laplace smoothing, and dead-code expiry.
- :class:`EncodecStyleVQ` follows ``VectorQuantization`` in the same file: one
  codebook with the straight-through estimator and the commitment loss.
- :class:`EncodecStyleRVQ` follows ``ResidualVectorQuantization`` in the same file:
  the residual stack.

Two behaviours of that code matter to the book.

**Dead-code replacement has no effect** (chapter 5). ``EuclideanCodebook.forward``
calls ``expire_codes_``, which writes batch vectors into ``embed`` for the codes whose
EMA cluster size is below ``threshold_ema_dead_code``, and then, in the same call,
overwrites all of ``embed`` with ``embed_avg / smoothed(cluster_size)``.
``replace_`` changes neither ``embed_avg`` nor ``cluster_size``, so the replacement is
lost before any batch is quantized with it: training with the threshold at 0 and at 2
gives bit-identical codebooks. (It only changes how many random numbers are drawn.)
``restart_stats_on_replace=True`` is the repair, as :class:`rvqlib.nn.VectorQuantizer`
does it: the replaced codes' statistics restart with the new vector.

**k-means initialisation leaves the sums unscaled** (chapter 5). ``init_embed_`` sets
``embed_avg = embed`` (the centroids) but ``cluster_size`` to the k-means counts, so
the first EMA step divides the codebook by those counts. ``init_sums_from_counts=True``
sets ``embed_avg = embed * cluster_size`` instead.

**Later stages' commitment losses send no gradient to the input** (chapter 9;
facebookresearch/encodec issue #25, first reported for vector-quantize-pytorch in its
issue #33). Each stage returns its straight-through output ``r + sg(q - r)``, and the
stack computes the next residual as ``r - (r + sg(q - r))``, whose derivative with
respect to the input is zero. The output's gradient is still the identity (stage 1's
term carries it), but the commitment loss of every stage after the first cannot train
the encoder. ``detach_residual=True`` applies vector-quantize-pytorch's fix
(``residual - quantized.detach()``); then every stage's loss reaches the input, and the
output's derivative with respect to it becomes ``n_q`` times the identity, one
identity per stage used.

None of the classes is used by the rest of :mod:`rvqlib`; :class:`rvqlib.nn.ResidualVQ`
is the library's own quantizer.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rvqlib._validate import is_torch, nonnegative_float, positive_int

__all__ = ["EncodecStyleCodebook", "EncodecStyleRVQ", "EncodecStyleVQ"]


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def _check_input(x: Any, dim: int, name: str = "x") -> torch.Tensor:
    if not is_torch(x):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (..., {dim}), got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[-1] != dim:
        raise ValueError(
            f"{name} must have shape (..., {dim}) (vectors on the last axis), got {tuple(x.shape)}"
        )
    if x.numel() == 0:
        raise ValueError(f"{name} has no vectors (shape {tuple(x.shape)}); pass at least one")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _sample_vectors(samples: torch.Tensor, num: int) -> torch.Tensor:
    """``sample_vectors`` of core_vq.py: ``num`` rows, without replacement when possible."""
    num_samples = samples.shape[0]
    if num_samples >= num:
        indices = torch.randperm(num_samples, device=samples.device)[:num]
    else:
        indices = torch.randint(0, num_samples, (num,), device=samples.device)
    return samples[indices]


def _kmeans(
    samples: torch.Tensor, num_clusters: int, num_iters: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``kmeans`` of core_vq.py: Lloyd iterations from sampled rows; empty clusters keep their mean.

    Returns the means and the counts of the last assignment (computed before the last
    update of the means, as in the original).
    """
    dim, dtype = samples.shape[-1], samples.dtype
    means = _sample_vectors(samples, num_clusters)
    bins = torch.zeros(num_clusters, dtype=torch.long, device=samples.device)
    for _ in range(num_iters):
        diffs = samples[:, None, :] - means[None, :, :]
        dists = -(diffs**2).sum(dim=-1)
        buckets = dists.max(dim=-1).indices
        bins = torch.bincount(buckets, minlength=num_clusters)
        zero_mask = bins == 0
        bins_min_clamped = bins.masked_fill(zero_mask, 1)
        new_means = buckets.new_zeros(num_clusters, dim, dtype=dtype)
        new_means.scatter_add_(0, buckets[:, None].repeat(1, dim), samples)
        new_means = new_means / bins_min_clamped[..., None]
        means = torch.where(zero_mask[..., None], means, new_means)
    return means, bins


class EncodecStyleCodebook(nn.Module):
    """EnCodec's ``EuclideanCodebook``, operation for operation (encodec 0.1.1).

    Follows ``EuclideanCodebook`` in ``encodec/quantization/core_vq.py`` of
    facebookresearch/encodec: the same buffers (``inited``, ``cluster_size``, ``embed``,
    ``embed_avg``), the same defaults, and the same order of operations in
    :meth:`forward`:

    1. ``init_embed_``: on the first call (training or not), k-means on the batch
       (``kmeans_iters`` iterations from randomly sampled rows) sets ``embed`` to the
       centroids, ``embed_avg`` to **the same centroids** and ``cluster_size`` to the
       k-means counts.
    2. quantize the batch with the current ``embed`` (ties to the lowest index) and
       look up the codewords that are returned;
    3. in training mode only: ``expire_codes_`` replaces, in ``embed``, every code whose
       ``cluster_size`` is below ``threshold_ema_dead_code`` by a batch vector;
    4. EMA of ``cluster_size`` with this batch's counts and of ``embed_avg`` with its sums;
    5. ``embed = embed_avg / smoothed(cluster_size)`` with Laplace smoothing
       ``(N_i + eps) / (N + K eps) * N``: this overwrites every row of ``embed``,
       including the ones step 3 just replaced.

    So, as published, step 3 has no lasting effect (see the module docstring). The two
    keyword switches repair the two quirks, for comparison; both default to the
    original behaviour.

    Without k-means initialisation the codebook starts from
    ``torch.nn.init.kaiming_uniform_``, as in the original (``uniform_init``).

    Departure from the original: ``distrib.broadcast_tensors`` (a no-op on one process)
    is left out. Vectors are on the last axis of any input shape, as in the original.

    Parameters
    ----------
    dim : int
        Dimension ``D`` of the vectors.
    codebook_size : int
        Number of codewords ``K``.
    kmeans_init : bool, default False
        Initialise by k-means on the first batch (the original class's default is False;
        :class:`EncodecStyleVQ` passes True).
    kmeans_iters : int, default 10
        Lloyd iterations of that k-means.
    decay : float, default 0.99
        EMA decay ``gamma`` in ``[0, 1)``.
    epsilon : float, default 1e-5
        Laplace smoothing constant (> 0).
    threshold_ema_dead_code : float, default 2
        Codes whose EMA cluster size (vectors per batch) is below this are "expired";
        0 turns expiry off.
    restart_stats_on_replace : bool, default False
        Not in the original. When True, a replaced code's ``cluster_size`` restarts at
        the threshold and its ``embed_avg`` at the new vector times its smoothed size,
        so that step 5 gives the new vector back (the repair of
        :class:`rvqlib.nn.VectorQuantizer`).
    init_sums_from_counts : bool, default False
        Not in the original. When True, k-means initialisation sets
        ``embed_avg = embed * cluster_size``, consistent with step 5.

    Attributes
    ----------
    embed : torch.Tensor
        Buffer ``(K, D)``: the codebook.
    embed_avg : torch.Tensor
        Buffer ``(K, D)``: EMA of the sum of the vectors each code wins.
    cluster_size : torch.Tensor
        Buffer ``(K,)``: EMA of the number of vectors each code wins per batch.
    inited : torch.Tensor
        Buffer ``(1,)``, 1.0 once the codebook is initialised.
    n_expired : int
        Not in the original: how many code replacements step 3 has made so far.
    last_expired : torch.Tensor
        Not in the original: boolean mask ``(K,)`` of the codes step 3 replaced in the
        last training call (all False when none).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> cb = EncodecStyleCodebook(2, 4, kmeans_init=True)
    >>> quantized, idx = cb(torch.randn(64, 2))
    >>> quantized.shape, idx.shape
    (torch.Size([64, 2]), torch.Size([64]))
    """

    inited: torch.Tensor
    cluster_size: torch.Tensor
    embed: torch.Tensor
    embed_avg: torch.Tensor

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        threshold_ema_dead_code: float = 2,
        *,
        restart_stats_on_replace: bool = False,
        init_sums_from_counts: bool = False,
    ) -> None:
        super().__init__()
        self.dim = positive_int(dim, "dim")
        self.codebook_size = positive_int(codebook_size, "codebook_size")
        kmeans_init = _check_bool(kmeans_init, "kmeans_init")
        self.kmeans_iters = positive_int(kmeans_iters, "kmeans_iters")
        self.decay = nonnegative_float(decay, "decay")
        if self.decay >= 1.0:
            raise ValueError(f"decay must be in [0, 1), got {self.decay}")
        self.epsilon = nonnegative_float(epsilon, "epsilon")
        if self.epsilon == 0.0:
            raise ValueError("epsilon must be > 0 (it keeps smoothed counts positive), got 0.0")
        self.threshold_ema_dead_code = nonnegative_float(
            threshold_ema_dead_code, "threshold_ema_dead_code"
        )
        self.restart_stats_on_replace = _check_bool(
            restart_stats_on_replace, "restart_stats_on_replace"
        )
        self.init_sums_from_counts = _check_bool(init_sums_from_counts, "init_sums_from_counts")
        if kmeans_init:
            embed = torch.zeros(self.codebook_size, self.dim)
        else:
            embed = torch.empty(self.codebook_size, self.dim)
            nn.init.kaiming_uniform_(embed)
        self.register_buffer("inited", torch.Tensor([not kmeans_init]))
        self.register_buffer("cluster_size", torch.zeros(self.codebook_size))
        self.register_buffer("embed", embed)
        self.register_buffer("embed_avg", embed.clone())
        self.n_expired = 0
        self.last_expired = torch.zeros(self.codebook_size, dtype=torch.bool)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, codebook_size={self.codebook_size}, decay={self.decay}, "
            f"threshold_ema_dead_code={self.threshold_ema_dead_code}, "
            f"restart_stats_on_replace={self.restart_stats_on_replace}, "
            f"init_sums_from_counts={self.init_sums_from_counts}"
        )

    def _smoothed(self) -> torch.Tensor:
        """``laplace_smoothing(cluster_size, K, eps) * cluster_size.sum()`` of core_vq.py."""
        n = self.cluster_size.sum()
        return (self.cluster_size + self.epsilon) / (n + self.codebook_size * self.epsilon) * n

    @torch.no_grad()
    def init_embed_(self, data: torch.Tensor) -> None:
        """k-means initialisation from ``data`` ``(N, D)`` on the first call (``init_embed_``)."""
        if self.inited:
            return
        embed, cluster_size = _kmeans(data, self.codebook_size, self.kmeans_iters)
        self.embed.data.copy_(embed)
        if self.init_sums_from_counts:
            self.embed_avg.data.copy_(embed * cluster_size[:, None].to(embed.dtype))
        else:
            self.embed_avg.data.copy_(embed.clone())  # the original's quirk: not * counts
        self.cluster_size.data.copy_(cluster_size)
        self.inited.data.copy_(torch.Tensor([True]))

    @torch.no_grad()
    def replace_(self, samples: torch.Tensor, mask: torch.Tensor) -> None:
        """Write sampled batch vectors into ``embed`` where ``mask`` is True (``replace_``)."""
        new = _sample_vectors(samples, self.codebook_size)
        self.embed.data.copy_(torch.where(mask[..., None], new, self.embed))
        if self.restart_stats_on_replace:
            self.cluster_size.data.copy_(
                torch.where(
                    mask,
                    torch.full_like(self.cluster_size, self.threshold_ema_dead_code),
                    self.cluster_size,
                )
            )
            sums = self.embed * self._smoothed()[:, None]
            self.embed_avg.data.copy_(torch.where(mask[..., None], sums, self.embed_avg))

    @torch.no_grad()
    def expire_codes_(self, batch_samples: torch.Tensor) -> None:
        """Replace the codes whose EMA cluster size is below the threshold (``expire_codes_``)."""
        self.last_expired = torch.zeros(
            self.codebook_size, dtype=torch.bool, device=self.embed.device
        )
        if self.threshold_ema_dead_code == 0:
            return
        expired = self.cluster_size < self.threshold_ema_dead_code
        if not torch.any(expired):
            return
        self.replace_(batch_samples.reshape(-1, batch_samples.shape[-1]), mask=expired)
        self.last_expired = expired
        self.n_expired += int(expired.sum())

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest-codeword indices of ``x`` ``(N, D)``, with the original's expression."""
        embed = self.embed.t()
        dist = -(x.pow(2).sum(1, keepdim=True) - 2 * x @ embed + embed.pow(2).sum(0, keepdim=True))
        return dist.max(dim=-1).indices

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Indices ``x.shape[:-1]`` of the nearest codewords (no update)."""
        x = _check_input(x, self.dim)
        return self.quantize(x.reshape(-1, self.dim)).view(*x.shape[:-1])

    def decode(self, embed_ind: torch.Tensor) -> torch.Tensor:
        """Codewords ``embed_ind.shape + (D,)`` of the given indices."""
        return F.embedding(embed_ind, self.embed)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantize ``x`` and, in training mode, update the codebook (steps 1 to 5 above).

        Parameters
        ----------
        x : torch.Tensor
            Vectors ``(..., D)``.

        Returns
        -------
        quantize : torch.Tensor
            ``x.shape``: the codewords chosen **before** this call's update.
        embed_ind : torch.Tensor
            ``x.shape[:-1]``: their indices.

        Raises
        ------
        TypeError, ValueError
            If ``x`` is not a floating tensor of shape ``(..., D)`` with finite values.
        """
        x = _check_input(x, self.dim)
        shape, dtype = x.shape, x.dtype
        x = x.reshape(-1, self.dim)
        self.init_embed_(x.detach())
        embed_ind = self.quantize(x)
        embed_onehot = F.one_hot(embed_ind, self.codebook_size).type(dtype)
        embed_ind = embed_ind.view(*shape[:-1])
        quantize = self.decode(embed_ind)
        if self.training:
            with torch.no_grad():
                xd = x.detach()
                self.expire_codes_(xd)
                self.cluster_size.data.mul_(self.decay).add_(
                    embed_onehot.sum(0), alpha=1 - self.decay
                )
                embed_sum = xd.t() @ embed_onehot
                self.embed_avg.data.mul_(self.decay).add_(embed_sum.t(), alpha=1 - self.decay)
                self.embed.data.copy_(self.embed_avg / self._smoothed().unsqueeze(1))
        return quantize, embed_ind


class EncodecStyleVQ(nn.Module):
    """EnCodec's ``VectorQuantization``, operation for operation (encodec 0.1.1).

    Follows ``VectorQuantization`` in ``encodec/quantization/core_vq.py``: an
    :class:`EncodecStyleCodebook` (with the class's defaults: k-means initialisation
    with 50 iterations, decay 0.99, threshold 2) and, in training mode, the
    straight-through output ``x + (quantize - x).detach()`` and the commitment loss
    ``commitment_weight * mse(quantize.detach(), x)`` (weight 1 by default). In
    evaluation mode the output is the codewords themselves and the loss is 0.

    Departures from the original: the input has its vectors on the last axis,
    ``(..., D)`` (the original takes ``(B, D, T)``: pass ``z.transpose(1, 2)``), and
    there is no projection (the original's ``codebook_dim`` defaults to ``dim``, for
    which its projections are the identity).

    Parameters
    ----------
    dim : int
        Dimension of the vectors.
    codebook_size : int
        Number of codewords.
    decay, epsilon, kmeans_init, kmeans_iters, threshold_ema_dead_code
        As :class:`EncodecStyleCodebook` (defaults 0.99, 1e-5, True, 50, 2).
    commitment_weight : float, default 1.0
        Weight of the commitment loss.
    restart_stats_on_replace, init_sums_from_counts : bool, default False
        Passed to the codebook (the repairs; see :class:`EncodecStyleCodebook`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> vq = EncodecStyleVQ(2, 4)
    >>> q, idx, loss = vq(torch.randn(64, 2))
    >>> loss.shape
    torch.Size([1])
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        kmeans_init: bool = True,
        kmeans_iters: int = 50,
        threshold_ema_dead_code: float = 2,
        commitment_weight: float = 1.0,
        *,
        restart_stats_on_replace: bool = False,
        init_sums_from_counts: bool = False,
    ) -> None:
        super().__init__()
        self.commitment_weight = nonnegative_float(commitment_weight, "commitment_weight")
        self._codebook = EncodecStyleCodebook(
            dim,
            codebook_size,
            kmeans_init=kmeans_init,
            kmeans_iters=kmeans_iters,
            decay=decay,
            epsilon=epsilon,
            threshold_ema_dead_code=threshold_ema_dead_code,
            restart_stats_on_replace=restart_stats_on_replace,
            init_sums_from_counts=init_sums_from_counts,
        )
        self.dim = self._codebook.dim
        self.codebook_size = self._codebook.codebook_size

    @property
    def codebook(self) -> torch.Tensor:
        """The ``(K, D)`` codebook buffer of the underlying :class:`EncodecStyleCodebook`."""
        return self._codebook.embed

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Indices ``x.shape[:-1]`` (no update)."""
        return self._codebook.encode(x)

    def decode(self, embed_ind: torch.Tensor) -> torch.Tensor:
        """Codewords of the given indices."""
        return self._codebook.decode(embed_ind)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantize ``x`` ``(..., D)``; returns ``(quantize, indices, loss)``.

        ``loss`` has shape ``(1,)``, as in the original: the weighted commitment loss in
        training mode, 0 in evaluation mode.
        """
        quantize, embed_ind = self._codebook(x)
        if self.training:
            quantize = x + (quantize - x).detach()
        loss = torch.tensor([0.0], device=x.device, requires_grad=self.training)
        if self.training and self.commitment_weight > 0:
            commit_loss = F.mse_loss(quantize.detach(), x)
            loss = loss + commit_loss * self.commitment_weight
        return quantize, embed_ind, loss


class EncodecStyleRVQ(nn.Module):
    """EnCodec's ``ResidualVectorQuantization``, operation for operation (encodec 0.1.1).

    Follows ``ResidualVectorQuantization`` in ``encodec/quantization/core_vq.py``: a
    stack of :class:`EncodecStyleVQ` layers where layer ``i`` quantizes
    ``residual = residual - quantized`` left by the layers before it, ``quantized``
    being each layer's straight-through output; the output is the sum of those outputs.

    With the default ``detach_residual=False`` this reproduces EnCodec issue #25: the
    derivative of every residual after the first with respect to the input is zero,
    so the commitment losses of stages 2, 3, ... do not reach the encoder (the output's
    own gradient is still the identity). ``detach_residual=True`` computes
    ``residual - quantized.detach()`` instead, vector-quantize-pytorch's fix: every
    stage's loss then reaches the input, and the output's derivative with respect to
    it becomes ``n_q`` times the identity.

    Departures from the original: vectors on the last axis, and :meth:`forward` and
    :meth:`encode` return the codes stacked on the **last** axis, ``x.shape[:-1] +
    (n_q,)`` (the original stacks them first), to match :func:`rvqlib.rvq.rvq_encode`.

    Parameters
    ----------
    num_quantizers : int
        Number of stages.
    dim, codebook_size
        As :class:`EncodecStyleVQ`.
    detach_residual : bool, default False
        Not in the original: detach each stage's output from the next residual.
    **kwargs
        Passed to every :class:`EncodecStyleVQ` (``decay``, ``kmeans_iters``,
        ``threshold_ema_dead_code``, ``commitment_weight``, the repair switches...).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> rvq = EncodecStyleRVQ(num_quantizers=3, dim=2, codebook_size=4)
    >>> out, codes, losses = rvq(torch.randn(64, 2))
    >>> codes.shape, losses.shape
    (torch.Size([64, 3]), torch.Size([3]))
    """

    def __init__(
        self,
        *,
        num_quantizers: int,
        dim: int,
        codebook_size: int,
        detach_residual: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.num_quantizers = positive_int(num_quantizers, "num_quantizers")
        self.detach_residual = _check_bool(detach_residual, "detach_residual")
        self.layers = nn.ModuleList(
            EncodecStyleVQ(dim, codebook_size, **kwargs) for _ in range(self.num_quantizers)
        )
        self.dim = self.layers[0].dim

    def _n_q(self, n_q: Any) -> int:
        if n_q is None:
            return self.num_quantizers
        n_q = positive_int(n_q, "n_q")
        if n_q > self.num_quantizers:
            raise ValueError(f"n_q must be between 1 and {self.num_quantizers}, got {n_q}")
        return n_q

    def forward(
        self, x: torch.Tensor, n_q: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantize ``x`` ``(..., D)`` with the first ``n_q`` stages (default all).

        Returns
        -------
        quantized_out : torch.Tensor
            ``x.shape``: the sum of the stages' outputs.
        codes : torch.Tensor
            ``x.shape[:-1] + (n_q,)``.
        losses : torch.Tensor
            ``(n_q,)``: each stage's loss (the original returns shape ``(n_q, 1)``).
        """
        n_q = self._n_q(n_q)
        _check_input(x, self.dim)
        quantized_out: Any = 0.0
        residual = x
        all_losses, all_indices = [], []
        for layer in self.layers[:n_q]:
            quantized, indices, loss = layer(residual)
            residual = residual - (quantized.detach() if self.detach_residual else quantized)
            quantized_out = quantized_out + quantized
            all_indices.append(indices)
            all_losses.append(loss)
        return quantized_out, torch.stack(all_indices, dim=-1), torch.cat(all_losses)

    def encode(self, x: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """Codes ``x.shape[:-1] + (n_q,)`` (no update)."""
        n_q = self._n_q(n_q)
        residual = x
        all_indices = []
        for layer in self.layers[:n_q]:
            indices = layer.encode(residual)
            residual = residual - layer.decode(indices)
            all_indices.append(indices)
        return torch.stack(all_indices, dim=-1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the codewords of ``codes`` ``(..., n)``, stage ``s`` from ``codes[..., s]``."""
        if not is_torch(codes) or codes.dtype not in (torch.int64, torch.int32):
            raise TypeError("codes must be an integer torch.Tensor of shape (..., n_q)")
        if codes.ndim < 1 or not 1 <= codes.shape[-1] <= self.num_quantizers:
            raise ValueError(
                f"codes must have 1 to {self.num_quantizers} stages on the last axis, "
                f"got shape {tuple(codes.shape)}"
            )
        out: Any = 0.0
        for s in range(codes.shape[-1]):
            out = out + self.layers[s].decode(codes[..., s])
        return out
