"""Data-parallel training for real: two CPU processes (gloo) against one process.

Each of two ranks trains a ResidualVQ on its half of every batch (clips of
different lengths, padded and masked, so the ranks hold different numbers of
valid frames); one process trains the same module on the concatenated batches.
k-means initialisation, EMA statistics, dead-code replacement and per-batch
quantizer dropout are synchronised, so after every step both ranks must hold
the single process's codebooks and statistics, bit for bit.

Why bit for bit holds: the counts are integers; the per-code sums are
accumulated in float64 on each rank and all-reduced, and differ from the single
process's float64 sums by float64 rounding only (about 1e-16 relative), which
the rounding to the float32 buffers removes unless a sum lies within 1e-16 of
a float32 rounding boundary (probability about 2**-29 per entry; this fixed
problem is not such a case, and would fail deterministically if it were). Every
random draw (k-means seeds, replaced codes, numbers of stages) is made by rank
0's generator in the single process's order, and dead-code replacement vectors
are assembled from one rank's row plus zeros, which is exact.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rvqlib import ResidualVQ

STEPS = 4
KW = dict(
    dim=4,
    n_q=3,
    codebook_size=16,
    decay=0.7,
    kmeans_iters=3,
    dead_code_threshold=2.5,
    quantizer_dropout=True,
)


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """STEPS batches of 6 clips of up to 20 frames, padded, with their masks."""
    gen = torch.Generator().manual_seed(7)
    out = []
    for _ in range(STEPS):
        z = torch.randn(6, 20, 4, generator=gen) * torch.tensor([3.0, 1.0, 0.5, 0.2])
        lengths = torch.randint(3, 21, (6,), generator=gen)
        mask = torch.arange(20)[None, :] < lengths[:, None]
        z = torch.where(mask[..., None], z, torch.full_like(z, 1e3))  # padding: far away
        out.append((z, mask))
    return out


def snapshot(rvq: ResidualVQ) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in rvq.state_dict().items()}
    state["usage_counts"] = rvq.usage_counts
    return state


def train(rvq: ResidualVQ, parts: list[tuple[torch.Tensor, torch.Tensor]]) -> list[dict]:
    states = []
    for z, mask in parts:
        zq, codes, losses = rvq(z, mask=mask)
        states.append(snapshot(rvq) | {"codes": codes})
    return states


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        rvq = ResidualVQ(**KW)
        # rank 0 gets clips 0-2 of every batch, rank 1 clips 3-5
        parts = [(z[3 * rank : 3 * rank + 3], m[3 * rank : 3 * rank + 3]) for z, m in batches()]
        if rank == 1:
            torch.manual_seed(12345)  # rank 1's own generator must not matter
        torch.save(train(rvq, parts), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_gloo_ranks_hold_the_single_process_codebooks_after_every_step(tmp_path: Path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        single = train(ResidualVQ(**KW), batches())
    finally:
        torch.set_num_threads(threads)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    replaced = 0
    for step in range(STEPS):
        want = single[step]
        for r, states in enumerate(ranks):
            got = states[step]
            assert got.keys() == want.keys()
            for key, value in want.items():
                if key == "codes":  # each rank's codes are those of its own clips
                    value = value[3 * r : 3 * r + 3]
                assert torch.equal(got[key], value), (step, key, r)
        replaced = int(sum(v for k, v in want.items() if k.endswith("n_replaced")))
    assert replaced > 0  # the dead-code path ran, from both ranks' vectors
    stages = {s["codes"].shape[-1] for s in single}
    assert len(stages) > 1  # quantizer dropout drew different numbers of stages


def test_single_process_training_needs_no_process_group():
    assert not (dist.is_available() and dist.is_initialized())
    torch.manual_seed(0)
    rvq = ResidualVQ(**(KW | {"quantizer_dropout": False}))
    z, mask = batches()[0]
    rvq(z, mask=mask)
    assert all(bool(layer.initialized) for layer in rvq.layers)
