"""Small models of codec codes, for the entropy coder and for token layouts (chapter 11).

Every model here predicts a codec's codes, and any of them can drive the
entropy coder of :mod:`rvqlib.entropy`, which spends about ``-log2 p`` bits on
a code the model gave probability ``p``:

- **Tables fitted on training codes** (:func:`stage_model`,
  :func:`stage_contexts`): one distribution per stage, optionally in the
  context of the previous frame's code or of the previous stage's code,
  estimated with add-alpha smoothing. Encoder and decoder must share the
  table (it is part of the codec, or it is sent).
- **Adaptive count models** (:func:`adaptive_model`): the probability of a
  code is its smoothed count among the codes already coded in the same
  context, optionally started from a table. Row ``i`` depends only on codes
  before ``i``, so the decoder rebuilds every row from what it has decoded and
  no table is sent. :func:`conditional_entropy` is the plug-in bound such
  models are compared with.
- **A tiny language model over token layouts** (:func:`layout_context`,
  :class:`ContextLM`, :func:`train_context_lm`, :func:`code_probabilities`):
  every code ``codes[t, q]`` is predicted from the codes of a small window of
  frames that the layout (``"flatten"``, ``"delay"`` or ``"parallel"``, as in
  :mod:`rvqlib.tokens`) has generated before it. The same model, the same
  targets and the same slots for every layout: only *which* slots are filled
  changes, which is what the layout decides.

Only numpy and torch are needed.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rvqlib._validate import as_index, is_torch, nonnegative_float, positive_int
from rvqlib.tokens import LAYOUTS

__all__ = [
    "ContextLM",
    "LayoutContext",
    "TrainingHistory",
    "adaptive_model",
    "code_probabilities",
    "conditional_entropy",
    "cross_entropy_bits",
    "STAGE_CONTEXTS",
    "layout_context",
    "stage_contexts",
    "stage_model",
    "train_context_lm",
]


# --------------------------------------------------------------------------- validation
def _symbols(symbols: Any, k: int, name: str = "symbols") -> np.ndarray:
    s = as_index(symbols, name)
    if is_torch(s):
        s = s.cpu().numpy()
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(s.shape)}")
    if s.size and (int(s.min()) < 0 or int(s.max()) >= k):
        raise ValueError(
            f"{name} must lie in [0, {k}) for an alphabet of {k} symbols, "
            f"got values in [{int(s.min())}, {int(s.max())}]"
        )
    return s


def _contexts(
    contexts: Any, s: np.ndarray, k: int, n_contexts: int | None
) -> tuple[np.ndarray, int]:
    """Context index of every symbol and the number of contexts."""
    if contexts is None:
        return np.zeros(s.size, dtype=np.int64), 1
    if isinstance(contexts, str):
        if contexts != "previous":
            raise ValueError(f'contexts must be None, "previous" or an int array, got {contexts!r}')
        ctx = np.empty(s.size, dtype=np.int64)
        if s.size:
            ctx[0] = k
            ctx[1:] = s[:-1]
        return ctx, k + 1
    ctx = as_index(contexts, "contexts")
    if is_torch(ctx):
        ctx = ctx.cpu().numpy()
    if ctx.shape != s.shape:
        raise ValueError(f"contexts must have the shape of symbols {s.shape}, got {ctx.shape}")
    top = int(ctx.max()) + 1 if ctx.size else 1
    if ctx.size and int(ctx.min()) < 0:
        raise ValueError(f"contexts must be >= 0, got {int(ctx.min())}")
    n = top if n_contexts is None else positive_int(n_contexts, "n_contexts")
    if top > n:
        raise ValueError(f"contexts must lie in [0, {n}) (n_contexts), got a value {top - 1}")
    return ctx, n


# --------------------------------------------------------------------------- count models
def adaptive_model(
    symbols: Any,
    alphabet_size: int,
    *,
    contexts: Any = None,
    n_contexts: int | None = None,
    prior: Any = None,
    prior_weight: float = 0.0,
    alpha: float = 0.5,
) -> np.ndarray:
    """Per-symbol probabilities of an adaptive count model, to entropy-code with.

    The rows feed :func:`~rvqlib.entropy.entropy_encode` as a per-symbol model.
    Row ``i`` is the distribution of ``symbols[i]`` given everything before it:

    .. math:: p_i(k) \\propto \\alpha + w\\,\\pi_{c_i}(k) + n_{<i}(c_i, k),

    where ``c_i`` is the context of symbol ``i``, ``n_{<i}(c, k)`` counts the
    earlier symbols equal to ``k`` in context ``c``, ``pi`` is the prior and
    ``w`` its weight in pseudo-counts. Encoder and decoder update the same
    counts after every symbol, so the decoder can rebuild row ``i`` from the
    symbols it has decoded (and the contexts, which must be known to it by
    then): the model is never transmitted. With ``prior=None`` and
    ``alpha = 0.5`` it is the sequential Krichevsky–Trofimov estimator.

    Parameters
    ----------
    symbols : array_like of int
        1-D symbols in ``[0, alphabet_size)``, in coding order.
    alphabet_size : int
        ``K``.
    contexts : None, "previous" or array_like of int, optional
        ``None``: one context. ``"previous"``: the previous symbol (``K`` for
        the first), ``K + 1`` contexts. An int array ``(n,)``: the context of
        each symbol.
    n_contexts : int, optional
        Number of contexts for array contexts (default ``max + 1``).
    prior : array_like, optional
        ``(K,)`` or ``(n_contexts, K)`` probabilities (rows summing to 1), e.g.
        :func:`rvqlib.entropy.frequency_model` of training codes; used only
        with ``prior_weight > 0``.
    prior_weight : float, default 0
        ``w``, the prior's weight in pseudo-counts.
    alpha : float, default 0.5
        Additive pseudo-count of every symbol in every context, ``>= 0``;
        ``alpha`` and ``prior_weight`` cannot both be 0.

    Returns
    -------
    numpy.ndarray
        ``(n, K)`` float64, rows summing to 1. It takes ``8 n K`` bytes, and
        the work arrays a few times that, whatever the context values: only
        the contexts that occur get a row of counts.

    Raises
    ------
    TypeError, ValueError
        Bad symbols, contexts, prior or weights.

    Examples
    --------
    >>> adaptive_model([0, 0, 1], 2, alpha=1.0).tolist()
    [[0.5, 0.5], [0.6666666666666666, 0.3333333333333333], [0.75, 0.25]]
    """
    k = positive_int(alphabet_size, "alphabet_size")
    s = _symbols(symbols, k)
    alpha = nonnegative_float(alpha, "alpha")
    w = nonnegative_float(prior_weight, "prior_weight")
    ctx, n_ctx = _contexts(contexts, s, k, n_contexts)
    if alpha == 0 and (prior is None or w == 0):
        raise ValueError(
            "alpha = 0 needs a prior with prior_weight > 0: otherwise the first symbol of "
            "every context has probability 0"
        )
    if prior is not None and w > 0:
        pr = np.asarray(prior.detach().cpu() if is_torch(prior) else prior, dtype=np.float64)
        if pr.shape not in ((k,), (n_ctx, k)):
            raise ValueError(f"prior must have shape ({k},) or ({n_ctx}, {k}), got {pr.shape}")
        if not np.isfinite(pr).all() or pr.min() < 0:
            raise ValueError("prior must hold finite, non-negative probabilities")
        if not np.allclose(pr.sum(axis=-1), 1.0, atol=1e-6):
            raise ValueError("prior rows must sum to 1 (a probability distribution)")
        pr = w * pr
    n = s.size
    out = np.empty((n, k), dtype=np.float64)
    if n == 0:
        return out
    order = np.argsort(ctx, kind="stable")  # contexts grouped, coding order kept inside
    sc, ss = ctx[order], s[order]
    onehot = np.zeros((n, k), dtype=np.float64)
    onehot[np.arange(n), ss] = 1.0
    cum = np.cumsum(onehot, axis=0)
    new_group = np.r_[True, sc[1:] != sc[:-1]]
    starts = np.flatnonzero(new_group)
    group = np.cumsum(new_group) - 1
    # one row of pseudo-counts per context that occurs (not per possible context value), so
    # memory does not grow with the context values
    base = np.full((starts.size, k), alpha)
    if prior is not None and w > 0:
        base = base + (pr if pr.ndim == 1 else pr[sc[starts]])
    if (base.sum(axis=1) <= 0).any():
        raise ValueError("a context has no probability mass: raise alpha or the prior weight")
    offset = np.zeros((starts.size, k))
    offset[1:] = cum[starts[1:] - 1]  # counts of every earlier group
    counts = cum - onehot - offset[group]  # counts strictly before, in the same context
    rows = base[group] + counts
    out[order] = rows / rows.sum(axis=1, keepdims=True)
    return out


#: The per-stage contexts :func:`stage_model` and :func:`stage_contexts` know.
STAGE_CONTEXTS = ("none", "previous frame", "previous stage")


def _codes_2d(codes: Any, k: int, name: str = "codes") -> np.ndarray:
    c = as_index(codes, name)
    if is_torch(c):
        c = c.cpu().numpy()
    if c.ndim != 2 or c.shape[1] == 0:
        raise ValueError(f"{name} must have shape (T, n_q) with n_q >= 1, got {tuple(c.shape)}")
    if c.size and (int(c.min()) < 0 or int(c.max()) >= k):
        raise ValueError(
            f"{name} must lie in [0, {k}), got values in [{int(c.min())}, {int(c.max())}]"
        )
    return c


def _check_stage_context(context: Any) -> str:
    if not isinstance(context, str) or context not in STAGE_CONTEXTS:
        raise ValueError(f"context must be one of {STAGE_CONTEXTS}, got {context!r}")
    return context


def stage_contexts(codes: Any, codebook_size: int, context: str = "none") -> np.ndarray:
    """Which row of :func:`stage_model`'s table codes each code, frame by frame.

    The codes are coded as one stream in frame order (``codes.reshape(-1)``:
    frame 0's stages, then frame 1's, ...); the row of ``codes[t, q]`` is

    - ``"none"``: ``q`` (one unigram per stage);
    - ``"previous frame"``: ``q (K + 1) + codes[t - 1, q]``, or
      ``q (K + 1) + K`` for the first frame;
    - ``"previous stage"``: ``0`` for stage 0 (its unigram), else
      ``1 + (q - 1) K + codes[t, q - 1]``.

    A decoder knows every row before it needs it: the previous frame and the
    previous stage are decoded earlier in this order.

    Parameters
    ----------
    codes : array_like of int
        ``(T, n_q)`` codes in ``[0, codebook_size)``.
    codebook_size : int
        ``K``.
    context : {"none", "previous frame", "previous stage"}

    Returns
    -------
    numpy.ndarray
        ``(T * n_q,)`` int64 rows, for ``entropy_encode(codes.reshape(-1),
        table, contexts=rows)``.

    Examples
    --------
    >>> stage_contexts([[1, 2], [3, 0]], 4, "previous frame").tolist()
    [4, 9, 1, 7]
    """
    k = positive_int(codebook_size, "codebook_size")
    c = _codes_2d(codes, k)
    context = _check_stage_context(context)
    t_len, n_q = c.shape
    q = np.broadcast_to(np.arange(n_q), (t_len, n_q))
    if context == "none":
        rows = q.copy()
    elif context == "previous frame":
        prev = np.vstack([np.full((1, n_q), k), c[:-1]]) if t_len else c
        rows = q * (k + 1) + prev
    else:
        rows = np.zeros((t_len, n_q), dtype=np.int64)
        rows[:, 1:] = 1 + (q[:, 1:] - 1) * k + c[:, :-1]
    return np.ascontiguousarray(rows, dtype=np.int64).reshape(-1)


def stage_model(
    train_codes: Any, codebook_size: int, context: str = "none", *, alpha: float = 0.5
) -> np.ndarray:
    """A context model per stage fitted on training codes: the table :func:`stage_contexts` indexes.

    Each row is :func:`rvqlib.entropy.frequency_model` of one stage's
    training codes in one context (add-``alpha`` smoothing):

    - ``"none"``: ``(n_q, K)``, row ``q`` the unigram of stage ``q``;
    - ``"previous frame"``: ``(n_q (K + 1), K)``, stage ``q``'s order-1 table
      (``contexts="previous"``) in rows ``q (K + 1) ..``;
    - ``"previous stage"``: ``(1 + (n_q - 1) K, K)``, stage 0's unigram,
      then stage ``q``'s table given stage ``q - 1`` of the same frame.

    Parameters
    ----------
    train_codes : array_like of int
        ``(T, n_q)`` training codes (clips joined end to end).
    codebook_size : int
        ``K``.
    context : {"none", "previous frame", "previous stage"}
    alpha : float, default 0.5
        Additive smoothing (0.5: Krichevsky–Trofimov).

    Returns
    -------
    numpy.ndarray
        float64 probabilities, rows summing to 1.
    """
    from rvqlib.entropy import frequency_model

    k = positive_int(codebook_size, "codebook_size")
    c = _codes_2d(train_codes, k, "train_codes")
    context = _check_stage_context(context)
    n_q = c.shape[1]
    if context == "none":
        return np.stack([frequency_model(c[:, q], k, alpha=alpha) for q in range(n_q)])
    if context == "previous frame":
        return np.concatenate(
            [frequency_model(c[:, q], k, contexts="previous", alpha=alpha) for q in range(n_q)]
        )
    tables = [frequency_model(c[:, 0], k, alpha=alpha)[None]]
    for q in range(1, n_q):
        tables.append(frequency_model(c[:, q], k, contexts=c[:, q - 1], n_contexts=k, alpha=alpha))
    return np.concatenate(tables)


def conditional_entropy(symbols: Any, contexts: Any, alphabet_size: int) -> float:
    """Plug-in conditional entropy ``H(X | C)`` of symbols given contexts, in bits per symbol.

    The entropy of the empirical joint distribution of ``(context, symbol)``
    pairs minus that of the contexts. It is the ideal length per symbol of the
    best model with these contexts *fitted on these very symbols*: no model
    with the same contexts codes them in fewer bits, but that one would have
    to be sent with them.

    Parameters
    ----------
    symbols : array_like of int
        1-D symbols in ``[0, alphabet_size)``.
    contexts : "previous" or array_like of int
        The context of each symbol (``"previous"``: the previous symbol, a
        special context for the first).
    alphabet_size : int
        ``K``.

    Returns
    -------
    float
        Bits per symbol (0.0 for an empty stream).

    Examples
    --------
    >>> conditional_entropy([0, 1, 0, 1], [0, 1, 0, 1], 2)
    0.0
    >>> conditional_entropy([0, 1, 0, 1], [0, 0, 0, 0], 2)
    1.0
    """
    k = positive_int(alphabet_size, "alphabet_size")
    s = _symbols(symbols, k)
    if contexts is None:
        raise ValueError('contexts must be "previous" or an int array (use empirical_entropy)')
    ctx, _ = _contexts(contexts, s, k, None)
    if s.size == 0:
        return 0.0
    n = s.size
    if (int(ctx.max()) + 1) * k <= np.iinfo(np.int64).max:  # the key ctx * k + s fits int64
        _, joint = np.unique(ctx * k + s, return_counts=True)
        _, marg = np.unique(ctx, return_counts=True)
    else:  # it would wrap around: sort the pairs instead (the same order, the same counts)
        order = np.lexsort((s, ctx))
        sc, ss = ctx[order], s[order]
        new_ctx = np.r_[True, sc[1:] != sc[:-1]]
        new_pair = new_ctx | np.r_[True, ss[1:] != ss[:-1]]
        joint = np.diff(np.r_[np.flatnonzero(new_pair), n])
        marg = np.diff(np.r_[np.flatnonzero(new_ctx), n])

    def h(counts: np.ndarray) -> float:
        p = counts / n
        return float(-(p * np.log2(p)).sum())

    return max(h(joint) - h(marg), 0.0)


# --------------------------------------------------------------------------- layouts
def _step_of(layout: str, t: np.ndarray, q: np.ndarray, n_q: int) -> np.ndarray:
    """The sequential step at which code ``(t, q)`` is generated under ``layout``."""
    if layout == "flatten":
        return t * n_q + q
    if layout == "delay":
        return t + q
    return t  # parallel


@dataclass(frozen=True)
class LayoutContext:
    """What a language model sees for every code, under a token layout and a window.

    Attributes
    ----------
    layout : str
        ``"flatten"``, ``"delay"`` or ``"parallel"``.
    codes : numpy.ndarray
        ``(T, n_q)`` int64 codes, the targets.
    context : numpy.ndarray
        ``(T, n_q, n_slots)`` int64: slot ``(d, q')`` (index
        ``(d + before) * n_q + q'``) of ``context[t, q]`` holds
        ``codes[t + d, q']`` if the layout has generated it before
        ``codes[t, q]``, and :attr:`blank` otherwise (not generated yet, or
        beyond the clip).
    steps : numpy.ndarray
        ``(T, n_q)`` int64: the sequential step at which ``codes[t, q]`` is
        generated (codes of one step are generated together).
    codebook_size : int
        ``K``.
    window : tuple of int
        ``(before, after)``: the frames ``t - before .. t + after`` the model
        may look at.
    """

    layout: str
    codes: np.ndarray
    context: np.ndarray
    steps: np.ndarray
    codebook_size: int
    window: tuple[int, int]

    @property
    def n_q(self) -> int:
        """Stages per frame."""
        return int(self.codes.shape[1])

    @property
    def n_slots(self) -> int:
        """Context slots: ``(before + 1 + after) * n_q``."""
        return int(self.context.shape[2])

    @property
    def blank(self) -> int:
        """The token of an empty slot, ``K``."""
        return self.codebook_size

    @property
    def n_steps(self) -> int:
        """Sequential steps to generate every code (:func:`rvqlib.tokens.sequence_length`)."""
        return int(self.steps.max()) + 1 if self.steps.size else 0

    def visible(self) -> np.ndarray:
        """``(n_q, n_slots)`` bool: the slots a code of stage ``q`` sees, away from the edges."""
        before, after = self.window
        q = np.arange(self.n_q)[:, None]
        d = np.repeat(np.arange(-before, after + 1), self.n_q)[None, :]
        qq = np.tile(np.arange(self.n_q), before + 1 + after)[None, :]
        big = before + after + 1  # a frame index far from both edges
        return _step_of(self.layout, big + d, qq, self.n_q) < _step_of(
            self.layout, np.full_like(q, big), q, self.n_q
        )

    def order(self) -> np.ndarray:
        """Flat indices ``t * n_q + q`` of the codes in generation order (step, then stage)."""
        _, q = np.indices(self.codes.shape)
        return np.lexsort((q.reshape(-1), self.steps.reshape(-1)))


def layout_context(
    codes: Any, layout: str, codebook_size: int, *, window: tuple[int, int] = (1, 0)
) -> LayoutContext:
    """The tokens a language model may condition on for every code, under a token layout.

    A model generates the codes in the order of the layout's steps (as in
    :mod:`rvqlib.tokens`); when it generates ``codes[t, q]`` it may look at
    every code generated at an *earlier step*. This function lists them,
    restricted to the frames ``t - before .. t + after`` of ``window``, in
    fixed slots, so that one model can be trained on every layout and only
    what is visible changes:

    - ``"parallel"`` (step ``t``): frames before ``t`` only; no stage of
      frame ``t`` (EnCodec's entropy model predicts a frame's codes at once);
    - ``"delay"`` (step ``t + q``, MusicGen): the stages ``q' < q`` of frame
      ``t``, the coarser stages of the next frames, and of frame ``t - 1``
      only the stages ``q' <= q``;
    - ``"flatten"`` (step ``t n_q + q``): every earlier frame and the stages
      ``q' < q`` of frame ``t``: everything a sequential coder could use.

    Parameters
    ----------
    codes : array_like of int
        ``(T, n_q)`` codes in ``[0, codebook_size)``.
    layout : {"flatten", "delay", "parallel"}
    codebook_size : int
        ``K``.
    window : (int, int), default (1, 0)
        ``(before, after)`` frames around ``t``, each ``>= 0``: by default the
        previous frame and the current one.

    Returns
    -------
    LayoutContext

    Raises
    ------
    TypeError, ValueError
        Codes that are not a 2-D integer array in range; an unknown layout; a
        bad window.

    Examples
    --------
    >>> ctx = layout_context([[1, 2], [3, 0]], "delay", 4)
    >>> ctx.context[1, 1].tolist()  # slots (t-1, q0), (t-1, q1), (t, q0), (t, q1); 4 = blank
    [1, 2, 3, 4]
    >>> ctx.steps.tolist(), ctx.n_steps
    ([[0, 1], [1, 2]], 3)
    """
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    k = positive_int(codebook_size, "codebook_size")
    if (
        not isinstance(window, tuple | list)
        or len(window) != 2
        or any(isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 0 for w in window)
    ):
        raise ValueError(f"window must be a pair (before, after) of integers >= 0, got {window!r}")
    before, after = int(window[0]), int(window[1])
    c = as_index(codes, "codes")
    if is_torch(c):
        c = c.cpu().numpy()
    if c.ndim != 2 or c.shape[1] == 0:
        raise ValueError(f"codes must have shape (T, n_q) with n_q >= 1, got {tuple(c.shape)}")
    if c.size and (int(c.min()) < 0 or int(c.max()) >= k):
        raise ValueError(
            f"codes must lie in [0, {k}), got values in [{int(c.min())}, {int(c.max())}]"
        )
    t_len, n_q = c.shape
    t_idx, q_idx = np.indices((t_len, n_q))
    steps = _step_of(layout, t_idx, q_idx, n_q).astype(np.int64)
    n_slots = (before + 1 + after) * n_q
    context = np.full((t_len, n_q, n_slots), k, dtype=np.int64)
    for i, d in enumerate(range(-before, after + 1)):
        frame = t_idx + d  # the frame slot (d, q') looks at, for every target
        inside = (frame >= 0) & (frame < t_len)
        for qq in range(n_q):
            seen = inside & (_step_of(layout, frame, np.full_like(q_idx, qq), n_q) < steps)
            context[..., i * n_q + qq][seen] = c[frame[seen], qq]
    return LayoutContext(layout, c.astype(np.int64), context, steps, k, (before, after))


# --------------------------------------------------------------------------- the model
_INDEX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


class ContextLM(nn.Module):
    """A small language model: the visible tokens in, one distribution per stage out.

    Each (stage to predict, context slot) pair has its own embedding table
    over the ``K + 1`` tokens (``K``: an empty slot); the embeddings of the
    slots are summed (as EnCodec's and MusicGen's models sum one embedding per
    codebook), passed through one residual MLP block, and a linear head per
    stage gives ``K`` logits.

    Parameters
    ----------
    n_q : int
        Stages.
    codebook_size : int
        ``K``.
    n_slots : int
        Context slots (:attr:`LayoutContext.n_slots`).
    dim : int, default 32
        Embedding width.
    hidden : int, default 64
        Width of the MLP block.
    """

    def __init__(
        self, n_q: int, codebook_size: int, n_slots: int, *, dim: int = 32, hidden: int = 64
    ) -> None:
        super().__init__()
        self.n_q = positive_int(n_q, "n_q")
        self.codebook_size = positive_int(codebook_size, "codebook_size")
        self.n_slots = positive_int(n_slots, "n_slots")
        dim = positive_int(dim, "dim")
        hidden = positive_int(hidden, "hidden")
        tables = self.n_q * self.n_slots
        self.embed = nn.Embedding(tables * (self.codebook_size + 1), dim)
        nn.init.normal_(self.embed.weight, std=1.0 / math.sqrt(self.n_slots))
        self.stage = nn.Parameter(torch.zeros(self.n_q, 1, dim))
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Parameter(torch.randn(self.n_q, dim, self.codebook_size) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(self.n_q, 1, self.codebook_size))
        offsets = torch.arange(tables, dtype=torch.long).reshape(self.n_q, 1, self.n_slots)
        self.register_buffer("offsets", offsets * (self.codebook_size + 1), persistent=False)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """Logits ``(n_q, B, K)`` from contexts ``(n_q, B, n_slots)`` (row ``q``: stage ``q``).

        Raises
        ------
        TypeError
            A context that is not an integer tensor.
        ValueError
            A context of another shape, or a token outside ``[0, K]`` (``K``: an
            empty slot); such a token would read another slot's embedding table.
        """
        if not isinstance(context, torch.Tensor) or context.dtype not in _INDEX_DTYPES:
            what = context.dtype if isinstance(context, torch.Tensor) else type(context).__name__
            raise TypeError(f"context must be an integer torch.Tensor of tokens, got {what}")
        if context.ndim != 3 or context.shape[0] != self.n_q or context.shape[2] != self.n_slots:
            raise ValueError(
                f"context must have shape (n_q, B, n_slots) = ({self.n_q}, B, {self.n_slots}), "
                f"got {tuple(context.shape)}"
            )
        if context.numel():
            lo, hi = torch.aminmax(context)
            if int(lo) < 0 or int(hi) > self.codebook_size:
                raise ValueError(
                    f"context tokens must lie in [0, {self.codebook_size}] (codebook_size "
                    f"{self.codebook_size} is the empty slot), got values in [{int(lo)}, {int(hi)}]"
                )
        idx = context + self.offsets
        # index_select is embedding's lookup, bit for bit, and its backward
        # (index_add_, in the same order) is about 3x faster than embedding's
        # dense CPU backward, the costliest part of a training step here
        w = self.embed.weight
        e = w.index_select(0, idx.reshape(-1)).reshape(*idx.shape, w.shape[1])
        h = e.sum(dim=2) + self.stage  # (n_q, B, dim)
        h = self.norm(h + self.mlp(h))
        return torch.bmm(h, self.head) + self.bias

    def n_parameters(self) -> int:
        """Number of trained numbers (what sharing the model costs, times their precision)."""
        return sum(p.numel() for p in self.parameters())


@dataclass(frozen=True)
class TrainingHistory:
    """Losses recorded by :func:`train_context_lm`, in bits per code.

    Attributes
    ----------
    steps : list of int
        Training steps at which the losses were recorded.
    train_bits : list of float
        Mean cross-entropy of the training batches since the previous record
        (at step 0: the first batch, before any update; with ``steps=0``,
        the whole training set).
    eval_bits : list of float
        Cross-entropy on the whole evaluation set at those steps (empty if
        none was given).
    """

    steps: list[int]
    train_bits: list[float]
    eval_bits: list[float]


def _stage_major(ctx: LayoutContext) -> tuple[torch.Tensor, torch.Tensor]:
    context = torch.from_numpy(np.ascontiguousarray(ctx.context.transpose(1, 0, 2)))
    targets = torch.from_numpy(np.ascontiguousarray(ctx.codes.T))
    return context, targets


def _check_ctx(ctx: Any, name: str) -> LayoutContext:
    if not isinstance(ctx, LayoutContext):
        raise TypeError(
            f"{name} must be a LayoutContext (from layout_context), got {type(ctx).__name__}"
        )
    codes, k = ctx.codes, ctx.codebook_size
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= k):
        raise ValueError(
            f"{name}.codes must lie in [0, {k}) for its codebook_size={k}, got values in "
            f"[{int(codes.min())}, {int(codes.max())}]"
        )
    return ctx


def _check_model(model: Any, ctx: LayoutContext, name: str = "ctx") -> ContextLM:
    """``model``, a :class:`ContextLM` made for contexts like ``ctx``."""
    if not isinstance(model, ContextLM):
        raise TypeError(
            f"model must be a ContextLM (from train_context_lm), got {type(model).__name__}"
        )
    for what, m, c in (
        ("codebook_size", model.codebook_size, ctx.codebook_size),
        ("n_q", model.n_q, ctx.n_q),
        ("n_slots", model.n_slots, ctx.n_slots),
    ):
        if m != c:
            raise ValueError(
                f"{name} has {what}={c} but the model was made for {what}={m}: "
                f"lay out the codes as for the model's training context"
            )
    return model


@torch.no_grad()
def cross_entropy_bits(model: ContextLM, ctx: LayoutContext, *, chunk: int = 4096) -> float:
    """Mean cross-entropy of ``model`` on every code of ``ctx``, in bits per code.

    It is the ideal length per code of an entropy coder driven by the model
    (:func:`code_probabilities`).

    Parameters
    ----------
    model : ContextLM
    ctx : LayoutContext
        Codes laid out as the model's training context (the same codebook
        size, stages and window).
    chunk : int, default 4096
        Frames evaluated at once (memory, not the result).

    Returns
    -------
    float
        Bits per code; 0.0 for a context without frames.

    Raises
    ------
    TypeError
        ``model`` not a :class:`ContextLM`, ``ctx`` not a :class:`LayoutContext`.
    ValueError
        A context whose codebook size, stages or slots differ from the model's,
        or a ``chunk`` below 1.
    """
    ctx = _check_ctx(ctx, "ctx")
    model = _check_model(model, ctx)
    chunk = positive_int(chunk, "chunk")
    context, targets = _stage_major(ctx)
    was = model.training
    model.eval()
    total = 0.0
    for start in range(0, targets.shape[1], chunk):
        logits = model(context[:, start : start + chunk])
        y = targets[:, start : start + chunk]
        total += float(
            nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
            )
        )
    model.train(was)
    return total / max(targets.numel(), 1) / math.log(2)


def train_context_lm(
    train: LayoutContext,
    *,
    eval_context: LayoutContext | None = None,
    steps: int = 300,
    batch: int = 512,
    lr: float = 3e-3,
    dim: int = 32,
    hidden: int = 64,
    seed: int = 0,
    log_every: int = 25,
) -> tuple[ContextLM, TrainingHistory]:
    """Train a :class:`ContextLM` on the codes of a layout with Adam.

    Each step draws ``batch`` frames at random (independently for every
    stage) and minimises the mean cross-entropy of their codes; the learning
    rate decays on a cosine from ``lr`` to 0.

    Parameters
    ----------
    train : LayoutContext
        Training codes under a layout.
    eval_context : LayoutContext, optional
        Held-out codes under the same layout and window, evaluated every
        ``log_every`` steps.
    steps, batch : int
        Optimisation steps and frames per step (per stage).
    lr : float
        Peak learning rate.
    dim, hidden : int
        :class:`ContextLM` sizes.
    seed : int
        Seeds the initialisation and the batches (the same seed gives the same model).
    log_every : int
        How often the losses are recorded.

    Returns
    -------
    model : ContextLM
        In ``eval()`` mode.
    history : TrainingHistory

    Raises
    ------
    TypeError
        ``train`` or ``eval_context`` not a :class:`LayoutContext`; ``lr`` not a
        real number or ``seed`` not an integer.
    ValueError
        A context without frames; an ``eval_context`` whose layout, window,
        ``n_q`` or codebook size differ from ``train``'s; an ``lr`` that is not
        a positive finite number; bad ``steps``, ``batch``, ``log_every``, or a
        negative ``seed``.
    """
    train = _check_ctx(train, "train")
    if train.codes.shape[0] == 0:
        raise ValueError("train has no frames to train on (its codes have shape (0, n_q))")
    if eval_context is not None:
        eval_context = _check_ctx(eval_context, "eval_context")
        for what in ("layout", "window", "n_q", "codebook_size"):
            if getattr(eval_context, what) != getattr(train, what):
                raise ValueError(
                    f"eval_context must use the same layout, window, n_q and codebook_size as "
                    f"train: its {what} is {getattr(eval_context, what)!r}, train's "
                    f"{getattr(train, what)!r}"
                )
        if eval_context.codes.shape[0] == 0:
            raise ValueError("eval_context has no frames to evaluate on")
    steps = positive_int(steps, "steps", minimum=0)
    batch = positive_int(batch, "batch")
    log_every = positive_int(log_every, "log_every")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"lr must be a real number, got {type(lr).__name__}")
    if not math.isfinite(lr) or not lr > 0:
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = ContextLM(train.n_q, train.codebook_size, train.n_slots, dim=dim, hidden=hidden)
    context, targets = _stage_major(train)
    n_frames = targets.shape[1]
    try:  # the fused CPU kernel is 3x faster than the default here
        opt = torch.optim.Adam(model.parameters(), lr=float(lr), fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch builds
        opt = torch.optim.Adam(model.parameters(), lr=float(lr))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / max(steps, 1)))
    )
    history = TrainingHistory([], [], [])
    stage = torch.arange(train.n_q)[:, None]

    def record(step: int, train_bits: float) -> None:
        history.steps.append(step)
        history.train_bits.append(train_bits)
        if eval_context is not None:
            history.eval_bits.append(cross_entropy_bits(model, eval_context))

    model.train()
    running, count = 0.0, 0
    for step in range(1, steps + 1):
        idx = torch.randint(0, n_frames, (train.n_q, batch), generator=gen)
        logits = model(context[stage, idx])
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets[stage, idx].reshape(-1)
        )
        if step == 1:  # the untrained model: its first batch (not the whole set)
            model.eval()
            record(0, float(loss.detach()) / math.log(2))
            model.train()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        count += 1
        if step % log_every == 0 or step == steps:
            model.eval()
            record(step, running / count / math.log(2))
            model.train()
            running, count = 0.0, 0
    if steps == 0:  # no batch was drawn: the whole training set
        record(0, cross_entropy_bits(model, train))
    model.eval()
    return model, history


@torch.no_grad()
def code_probabilities(model: ContextLM, ctx: LayoutContext, *, order: bool = True) -> np.ndarray:
    """The model's distribution of every code, for :func:`~rvqlib.entropy.entropy_encode`.

    Parameters
    ----------
    model : ContextLM
    ctx : LayoutContext
    order : bool, default True
        Return the rows in generation order (:meth:`LayoutContext.order`), the
        order in which a decoder meets the codes; otherwise frame by frame
        (``t * n_q + q``).

    Returns
    -------
    numpy.ndarray
        ``(T * n_q, K)`` float64 probabilities, rows summing to 1. Code it
        with ``entropy_encode(ctx.codes.reshape(-1)[ctx.order()], probs)``.

    Raises
    ------
    TypeError
        ``model`` not a :class:`ContextLM`, ``ctx`` not a :class:`LayoutContext`,
        or ``order`` not a bool.
    ValueError
        A context whose codebook size, stages or slots differ from the model's.
    """
    ctx = _check_ctx(ctx, "ctx")
    model = _check_model(model, ctx)
    if not isinstance(order, bool | np.bool_):
        raise TypeError(f"order must be a bool, got {type(order).__name__}")
    context, _ = _stage_major(ctx)
    model.eval()
    logp = torch.log_softmax(model(context).double(), dim=-1)  # (n_q, T, K)
    probs = logp.exp().transpose(0, 1).reshape(-1, ctx.codebook_size).numpy()
    probs = probs / probs.sum(axis=1, keepdims=True)
    return probs[ctx.order()] if order else probs
