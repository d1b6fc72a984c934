"""Part 4: one RVQ training step (forward + backward with EMA codebooks), rvqlib against peers.

Every implementation starts from the *same* state: the same ``n_q`` codebooks
and the same EMA statistics (every code's cluster size set to the average
count ``N / K`` of a batch, the sums to ``codeword * N / K``, so that the first
step is an ordinary EMA step and no code starts out dead), decay 0.99 and a
dead-code threshold of 2 vectors per batch (EnCodec's default), Laplace
smoothing with ``eps = 1e-5``. One step is: quantize a float32 batch ``z`` of
``N`` vectors (requires grad) in training mode, which updates the codebooks by
EMA; a loss ``mean(zq * w) + sum of the returned losses``; ``backward()``.
Every step takes a new batch, as training does, split from the same draw as
the codebooks' training set (:func:`benchmarks._common.latent_split`); step
``i`` of every implementation gets the same batch.

Implementations:

- ``rvqlib ResidualVQ`` (uncompiled) and ``rvqlib ResidualVQ (compiled)``, the
  same module under ``torch.compile`` (inductor), whose search and codebook
  updates run eagerly between compiled graphs;
- EnCodec's ``ResidualVectorQuantization`` (``encodec==0.1.1``, loaded as in
  :mod:`benchmarks.peers`), which works on ``(1, D, N)``;
- ``vector_quantize_pytorch.ResidualVQ`` (1.32.0), on ``(1, N, D)``.

Reported: time per step (median of round-robin repeats, after warm-up steps
that also trigger compilation), and the agreement of the first step's codes
with greedy RVQ codes (:func:`benchmarks.encode.explain_differences`). The
states then drift apart (each library draws its own dead-code replacements),
which changes the work per step only through those replacements.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ._common import interleaved_timings, latent_split, sampled_codebooks
from .encode import explain_differences
from .peers import load_encodec_core_vq, load_vqtorch

DECAY = 0.99
THRESHOLD = 2.0
RVQLIB = "rvqlib ResidualVQ"
COMPILED = "rvqlib ResidualVQ (compiled)"
Step = Callable[[], torch.Tensor]


def _state(codebooks: Sequence[torch.Tensor], n: int) -> tuple[float, list[torch.Tensor]]:
    return n / codebooks[0].shape[0], [cb.clone() for cb in codebooks]


def rvqlib_trainer(
    codebooks: Sequence[torch.Tensor], n: int, *, compile_backend: str | None = None
) -> Any:
    """rvqlib's ResidualVQ in training mode, loaded with the shared state."""
    from rvqlib.nn import ResidualVQ

    n_q, (k, d) = len(codebooks), codebooks[0].shape
    rvq = ResidualVQ(d, n_q, k, decay=DECAY, dead_code_threshold=THRESHOLD, eps=1e-5)
    c, books = _state(codebooks, n)
    rvq.set_codebooks(books)
    with torch.no_grad():
        for layer in rvq.layers:
            layer.cluster_size.fill_(c)
            layer.embed_sum.copy_(layer.embed * c)
            layer.stats_initialized.fill_(True)
    rvq.train()
    model = rvq if compile_backend is None else torch.compile(rvq, backend=compile_backend)

    def forward(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        zq, codes, losses = model(z)
        return zq, codes, sum(losses.values())

    return forward


def encodec_trainer(codebooks: Sequence[torch.Tensor], n: int) -> Any:
    """EnCodec's ResidualVectorQuantization in training mode, or None if not installed."""
    core_vq = load_encodec_core_vq()
    if core_vq is None:
        return None
    n_q, (k, d) = len(codebooks), codebooks[0].shape
    rvq = core_vq.ResidualVectorQuantization(
        num_quantizers=n_q,
        dim=d,
        codebook_size=k,
        decay=DECAY,
        epsilon=1e-5,
        kmeans_init=True,
        threshold_ema_dead_code=THRESHOLD,
    )
    c, books = _state(codebooks, n)
    with torch.no_grad():
        for layer, cb in zip(rvq.layers, books, strict=True):
            book = layer._codebook
            book.embed.copy_(cb)
            book.embed_avg.copy_(cb * c)
            book.cluster_size.fill_(c)
            book.inited.fill_(1.0)
    rvq.train()

    def forward(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        zq, codes, losses = rvq(z.T.unsqueeze(0))  # (1, D, N); codes (n_q, 1, N)
        return zq[0].T, codes[:, 0, :].T, losses.sum()

    return forward


def vqtorch_trainer(codebooks: Sequence[torch.Tensor], n: int) -> Any:
    """vector-quantize-pytorch's ResidualVQ in training mode, or None if not installed."""
    vqtorch = load_vqtorch()
    if vqtorch is None:
        return None
    n_q, (k, d) = len(codebooks), codebooks[0].shape
    rvq = vqtorch.ResidualVQ(
        dim=d,
        num_quantizers=n_q,
        codebook_size=k,
        decay=DECAY,
        eps=1e-5,
        kmeans_init=True,
        threshold_ema_dead_code=THRESHOLD,
    )
    c, books = _state(codebooks, n)
    with torch.no_grad():
        for layer, cb in zip(rvq.layers, books, strict=True):
            book = layer._codebook
            book.embed.data.copy_(cb.unsqueeze(0))
            book.embed_avg.data.copy_(cb.unsqueeze(0) * c)
            book.cluster_size.data.fill_(c)
            book.initted.data.fill_(True)
    rvq.train()

    def forward(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        zq, codes, loss = rvq(z.unsqueeze(0))  # (1, N, D); codes (1, N, n_q)
        return zq[0], codes[0], loss.sum()

    return forward


def build_trainers(
    codebooks: Sequence[torch.Tensor], n: int, *, compile_backend: str | None = "inductor"
) -> tuple[dict[str, Any], dict[str, str]]:
    """Every available training step by display name, and why any peer is missing."""
    trainers: dict[str, Any] = {RVQLIB: rvqlib_trainer(codebooks, n)}
    if compile_backend is not None:
        trainers[COMPILED] = rvqlib_trainer(codebooks, n, compile_backend=compile_backend)
    skipped: dict[str, str] = {}
    for name, factory, req in (
        ("EnCodec RVQ", encodec_trainer, "encodec==0.1.1"),
        ("vector-quantize-pytorch", vqtorch_trainer, "vector-quantize-pytorch==1.32.0"),
    ):
        t = factory(codebooks, n)
        if t is None:
            skipped[name] = f"not installed (pip install {req})"
        else:
            trainers[name] = t
    return trainers, skipped


def run_train(
    *,
    ns: Sequence[int] = (4_500, 45_000),
    dim: int = 128,
    k: int = 1024,
    n_q: int = 8,
    repeats: int = 5,
    warmup: int = 2,
    seed: int = 0,
    compile_backend: str | None = "inductor",
    log: Any = print,
) -> dict[str, Any]:
    """Time one training step per implementation and size; check the first step's codes."""
    from rvqlib.rvq import rvq_encode

    # every step sees a new batch, as in training, from the distribution the
    # codebooks were made from; the i-th step of every implementation sees the
    # same batch (a repeated batch gives dead-code replacement residuals that the
    # next step matches exactly, a state no training run reaches)
    n_steps = 1 + max(0, warmup - 1) + repeats
    n_train = max(4 * k, 2 * n_q * k, 20_000)
    train, pool = latent_split((n_train, n_steps * max(ns)), dim, seed)
    codebooks = sampled_codebooks(train, n_q, k, seed)
    runs = []
    skipped: dict[str, str] = {}
    for n in ns:
        batches = [pool[i * n : (i + 1) * n] for i in range(n_steps)]
        z = batches[0]
        w = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed + 2))
        reference = rvq_encode(z, codebooks)
        trainers, skipped = build_trainers(codebooks, n, compile_backend=compile_backend)
        for name in skipped:
            log(f"  [skip] {name}: {skipped[name]}")
        agreement = {}
        steps: dict[str, Step] = {}
        for name, forward in trainers.items():
            feed = iter(batches)

            def step(forward: Any = forward, feed: Any = feed, w: torch.Tensor = w) -> torch.Tensor:
                zl = next(feed).clone().requires_grad_(True)
                zq, codes, loss = forward(zl)
                ((zq * w).mean() + loss).backward()
                return codes

            torch.manual_seed(seed)
            first = step()  # the first step from the shared state (also a warm-up)
            agreement[name] = explain_differences(z, codebooks, reference, first.detach())
            steps[name] = step
        timings = interleaved_timings(steps, repeats=repeats, warmup=max(0, warmup - 1))
        impls = {}
        for name, t in timings.items():
            impls[name] = {**t.as_dict(), "steps_per_s": 1.0 / t.median}
            agr = agreement[name]
            log(
                f"  N={n:,} {name}: {t.median * 1e3:,.1f} ms/step (best {t.best * 1e3:,.1f}); "
                f"first-step codes differing from greedy RVQ: {agr['vectors_differing']} "
                f"({'all ties' if agr['all_ties'] else 'NOT all ties'})"
            )
        runs.append({"n": n, "impls": impls, "agreement": agreement})
    return {
        "dim": dim,
        "k": k,
        "n_q": n_q,
        "repeats": repeats,
        "warmup": warmup,
        "decay": DECAY,
        "dead_code_threshold": THRESHOLD,
        "compile_backend": compile_backend,
        "runs": runs,
        "skipped": skipped,
    }
