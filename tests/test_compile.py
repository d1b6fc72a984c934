"""torch.compile and torch.jit.trace with rvqlib's quantizers (issue 11, defect 1).

0.1.0 failed to compile under every back end (its CPU fast path writes through
numpy views of tensors) and jit.trace silently recorded wrong codes. Now a model
containing ResidualVQ compiles with eager, aot_eager and inductor, in training
and evaluation, and gives exactly the codes (and the codebook updates) of the
uncompiled model; jit.trace raises a clear error.
"""

from __future__ import annotations

import pytest
import torch

import rvqlib
from rvqlib import ResidualVQ, nearest
from rvqlib._validate import compiling
from rvqlib.vq import _numpy_view


class TinyCodec(torch.nn.Module):
    """Conv encoder, ResidualVQ in EnCodec's (B, D, T) layout, conv decoder."""

    def __init__(self, **kw) -> None:
        super().__init__()
        self.enc = torch.nn.Conv1d(3, 8, 1)
        self.q = ResidualVQ(8, 2, 16, channel_dim=1, kmeans_iters=2, **kw)
        self.dec = torch.nn.Conv1d(8, 3, 1)

    def forward(self, x, mask=None):
        zq, codes, losses = self.q(self.enc(x), mask=mask)
        return self.dec(zq), codes, sum(losses.values())


def run_both(backend: str, steps: int = 2, **kw) -> None:
    gen = torch.Generator().manual_seed(0)
    xs = [torch.randn(4, 3, 24, generator=gen) for _ in range(steps + 1)]
    mask = torch.ones(4, 24, dtype=torch.bool)
    mask[2:, 17:] = False
    torch.manual_seed(0)
    ref = TinyCodec(**kw)
    torch.manual_seed(0)
    model = TinyCodec(**kw)
    compiled = torch.compile(model, backend=backend)
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (ref, model)]
    for step, x in enumerate(xs[:steps]):
        outs = []
        for m, opt in ((ref, opts[0]), (compiled, opts[1])):
            torch.manual_seed(100 + step)  # the same draws (dropout, dead codes) in both
            y, codes, loss = m(x, mask)
            opt.zero_grad()
            ((y - x).square().mean() + loss).backward()
            opt.step()
            outs.append(codes)
        assert torch.equal(outs[0], outs[1]), (backend, "train", step)
    for a, b in zip(ref.state_dict().values(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)  # updates match (GEMM rounding)
    ref.eval(), model.eval()
    x = xs[-1]
    assert torch.equal(ref(x)[1], compiled(x)[1]), (backend, "eval")
    with torch.no_grad():
        assert torch.equal(ref.q.encode(ref.enc(x)), compiled(x)[1])


@pytest.fixture(autouse=True)
def _one_compile_thread():
    import torch._dynamo
    import torch._inductor.config as inductor_config

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    old = inductor_config.compile_threads
    inductor_config.compile_threads = 1  # no pool of compile workers on a 2-core machine
    yield
    inductor_config.compile_threads = old
    torch.set_num_threads(threads)
    torch._dynamo.reset()


#: aot_eager also runs every option of 0.2: projections, cosine search, the rotation trick,
#: gradient-trained codebooks and per-example dropout (one back end for them keeps the
#: test suite's time down; the options change the graphs, not the back end's job).
EVERY_OPTION = dict(
    codebook_dim=4,
    normalize=True,
    gradient="rotation",
    ema=False,
    quantizer_dropout="example",
    quantizer_dropout_prob=0.5,
)


@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"])
def test_defect1_compiled_model_gives_the_uncompiled_codes(backend):
    run_both(backend, **(EVERY_OPTION if backend == "aot_eager" else {}))


def test_defect1_jit_trace_raises_instead_of_recording_wrong_codes():
    rvq = ResidualVQ(4, 2, 8)
    rvq(torch.randn(64, 4))
    rvq.eval()
    with pytest.raises(RuntimeError, match="cannot be recorded by torch.jit.trace"):
        torch.jit.trace(rvq, (torch.randn(5, 4),))
    with pytest.raises(RuntimeError, match="rvqlib's nearest cannot be recorded"):
        torch.jit.trace(lambda z: nearest(z, torch.randn(3, 4)), (torch.randn(5, 4),))


def test_defect1_numpy_fast_path_stays_for_the_uncompiled_path():
    t = torch.randn(4, 3)
    view = _numpy_view(t)
    assert view is not None and view.ctypes.data == t.data_ptr()  # a zero-copy view
    seen = []

    def probe(x):
        seen.append(compiling())
        return x + 1

    torch.compile(probe, backend="eager")(t)
    assert seen == [True]  # the guard sees the tracer ...
    assert not compiling()  # ... and only the tracer


def test_defect1_functional_api_inside_a_compiled_function():
    cb = torch.randn(8, 4)

    def f(z):
        return rvqlib.quantize(z * 2, cb)[1].sum(dim=1)

    z = torch.randn(50, 4)
    torch.testing.assert_close(torch.compile(f, backend="aot_eager")(z), f(z))
