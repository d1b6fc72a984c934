"""The implementations compared: rvqlib, two peer libraries, and a matmul floor.

Every encoder here is a function ``encode(z) -> codes`` taking a ``(N, D)``
float32 tensor and returning ``(N, n_q)`` int64 codes, built from the *same*
list of ``(K, D)`` codebooks, with every peer's k-means initialisation marked
as done so that nothing is trained while being timed.

Peers (optional: ``benchmarks/requirements.txt``; rvqlib never imports them):

- EnCodec's ``ResidualVectorQuantization`` (``encodec==0.1.1``, the reference
  RVQ of :cite:`defossez2023encodec`). The ``encodec`` package's ``__init__``
  imports ``torchaudio`` (its model and I/O code), but
  ``encodec/quantization/core_vq.py`` does not: :func:`load_encodec_core_vq`
  loads that one module under a stub parent package, so ``torchaudio`` (which
  would pull its own torch) is never needed.
- ``vector_quantize_pytorch.ResidualVQ`` (``vector-quantize-pytorch==1.32.0``).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

Encoder = Callable[[torch.Tensor], torch.Tensor]

_ENCODEC_STUB = "_rvqbench_encodec"


def load_encodec_core_vq() -> types.ModuleType | None:
    """Import ``encodec.quantization.core_vq`` without running ``encodec/__init__.py``.

    Returns ``None`` when the ``encodec`` distribution is not installed.

    The module's only package-relative import is ``from .. import distrib``
    (which needs torch only), so two empty stub packages pointing at the real
    ``encodec`` and ``encodec/quantization`` folders are enough; they live
    under a private name so a real ``import encodec`` elsewhere is unaffected.
    """
    qualname = f"{_ENCODEC_STUB}.quantization.core_vq"
    if qualname in sys.modules:
        return sys.modules[qualname]
    try:
        spec = importlib.util.find_spec("encodec")  # locates the package, runs nothing
    except ImportError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, folder in (
        (_ENCODEC_STUB, root),
        (f"{_ENCODEC_STUB}.quantization", root / "quantization"),
    ):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__path__ = [str(folder)]
            sys.modules[name] = stub
    return importlib.import_module(qualname)


def load_vqtorch() -> types.ModuleType | None:
    """Import ``vector_quantize_pytorch``, or return ``None`` when it is not installed."""
    try:
        return importlib.import_module("vector_quantize_pytorch")
    except ImportError:
        return None


def _shape_of(codebooks: Sequence[torch.Tensor]) -> tuple[int, int, int]:
    n_q = len(codebooks)
    k, d = codebooks[0].shape
    if any(tuple(cb.shape) != (k, d) for cb in codebooks):
        raise ValueError("codebooks: the peers need equal (K, D) shapes for every stage")
    return n_q, k, d


# ------------------------------------------------------------------------- rvqlib
def rvqlib_module_encoder(codebooks: Sequence[torch.Tensor]) -> Encoder:
    """``rvqlib.nn.ResidualVQ.encode`` in ``eval()`` mode, loaded with ``codebooks``."""
    from rvqlib.nn import ResidualVQ

    n_q, k, d = _shape_of(codebooks)
    rvq = ResidualVQ(d, n_q, k).eval()
    rvq.set_codebooks([cb.clone() for cb in codebooks])
    return lambda z: rvq.encode(z)


def rvqlib_function_encoder(codebooks: Sequence[torch.Tensor]) -> Encoder:
    """The functional ``rvqlib.rvq.rvq_encode`` on torch tensors."""
    from rvqlib.rvq import rvq_encode

    cbs = [cb.clone() for cb in codebooks]
    return lambda z: rvq_encode(z, cbs)


# ------------------------------------------------------------------------- peers
def encodec_encoder(codebooks: Sequence[torch.Tensor]) -> Encoder | None:
    """EnCodec's ``ResidualVectorQuantization.encode``, or ``None`` if not installed.

    It is built with ``kmeans_init=True`` (codebooks start at zero, ``inited``
    False), then each layer's ``embed`` buffer is overwritten with our codebook
    and its ``inited`` buffer set to 1, exactly what its own k-means
    initialisation does at the first training batch. EnCodec works on
    ``(batch, D, T)`` tensors, so ``z`` is passed as a ``(1, D, N)`` view and the
    ``(n_q, 1, N)`` codes are transposed back.
    """
    core_vq = load_encodec_core_vq()
    if core_vq is None:
        return None
    n_q, k, d = _shape_of(codebooks)
    rvq = core_vq.ResidualVectorQuantization(
        num_quantizers=n_q, dim=d, codebook_size=k, kmeans_init=True
    ).eval()
    for layer, cb in zip(rvq.layers, codebooks, strict=True):
        layer._codebook.embed.copy_(cb)
        layer._codebook.embed_avg.copy_(cb)
        layer._codebook.inited.fill_(1.0)

    def encode(z: torch.Tensor) -> torch.Tensor:
        codes = rvq.encode(z.T.unsqueeze(0))  # (n_q, 1, N)
        return codes[:, 0, :].T

    return encode


def vqtorch_encoder(codebooks: Sequence[torch.Tensor]) -> Encoder | None:
    """``vector_quantize_pytorch.ResidualVQ`` in ``eval()`` mode, or ``None``.

    In version 1.32.0 each layer's ``_codebook`` keeps the codebook in an
    ``embed`` buffer of shape ``(1, K, D)`` (a parameter only when
    ``learnable_codebook=True``) and a boolean ``initted`` buffer; built with
    ``kmeans_init=True``, both are set here as its k-means would. ``ResidualVQ``
    has no ``encode``: its ``forward`` in ``eval()`` mode returns
    ``(quantized, indices, losses)`` and updates nothing.
    """
    vqtorch = load_vqtorch()
    if vqtorch is None:
        return None
    n_q, k, d = _shape_of(codebooks)
    rvq = vqtorch.ResidualVQ(dim=d, num_quantizers=n_q, codebook_size=k, kmeans_init=True).eval()
    for layer, cb in zip(rvq.layers, codebooks, strict=True):
        book = layer._codebook
        book.embed.data.copy_(cb.unsqueeze(0))
        book.embed_avg.data.copy_(cb.unsqueeze(0))
        book.initted.data.fill_(True)

    def encode(z: torch.Tensor) -> torch.Tensor:
        _, codes, _ = rvq(z.unsqueeze(0))  # (1, N, n_q)
        return codes[0]

    return encode


# ------------------------------------------------------------------------- floor
#: Score block of the floor: 8 MiB of float32 scores (2048 rows at K = 1024). Blocks of
#: 1024 to 4096 rows were equally fast here; one unblocked product per stage was 2 to 3
#: times slower at N = 45,000 (its N x K output leaves the caches and is freshly paged in).
FLOOR_BLOCK_BYTES = 8 * 2**20


def matmul_floor(codebooks: Sequence[torch.Tensor]) -> Encoder:
    """The cost of ``n_q`` distance searches and nothing else.

    One ``(N, D) x (D, K)`` matrix product ``-2 z.e`` and one argmin over
    ``K`` per stage, all on the *same* input (no norms, no residual update, no
    gather, no validation): a lower bound for any exhaustive, GEMM-based RVQ
    encoder. To be a fair bound it is done the fastest way found here: in
    blocks of rows whose scores (:data:`FLOOR_BLOCK_BYTES`) go into one reused
    buffer, and with the fastest first-index argmin on CPU: numpy's vectorized
    ``argmin`` over the last axis of the block (on the block's memory, no
    copy), about nine times cheaper than torch 2.13's ``min(dim=1)`` on a
    2048 x 1024 block (0.2 ms against 1.9 ms, for a 6.9 ms product), itself faster
    than ``argmin(dim=1)``; torch's ``min(dim=1)`` on other devices. Its
    "codes" ignore ``||e||^2`` and the residuals, so they are never compared.
    """
    scaled = [cb.T * -2.0 for cb in codebooks]  # (D, K) views, exact scaling by a power of 2
    k = codebooks[0].shape[0]
    rows = max(1, FLOOR_BLOCK_BYTES // (4 * k))

    def encode(z: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        out = torch.empty((n, len(scaled)), dtype=torch.long)
        buf = torch.empty((min(rows, n), k), dtype=z.dtype)
        cpu = z.device.type == "cpu"
        for s, et in enumerate(scaled):
            for a in range(0, n, rows):
                zc = z[a : a + rows]
                scores = torch.mm(zc, et, out=buf[: zc.shape[0]])
                if cpu:
                    out[a : a + rows, s] = torch.from_numpy(scores.numpy().argmin(axis=1))
                else:
                    out[a : a + rows, s] = scores.min(dim=1).indices
        return out

    return encode


def build_encoders(
    codebooks: Sequence[torch.Tensor], *, with_floor: bool = True
) -> tuple[dict[str, Encoder], dict[str, str]]:
    """Every available encoder, by display name, and why any peer is missing."""
    encoders: dict[str, Encoder] = {
        "rvqlib ResidualVQ.encode": rvqlib_module_encoder(codebooks),
        "rvqlib rvq_encode": rvqlib_function_encoder(codebooks),
    }
    skipped: dict[str, str] = {}
    peers: dict[str, tuple[Callable[..., Any], str]] = {
        "EnCodec RVQ": (encodec_encoder, "encodec==0.1.1"),
        "vector-quantize-pytorch": (vqtorch_encoder, "vector-quantize-pytorch==1.32.0"),
    }
    for name, (factory, requirement) in peers.items():
        enc = factory(codebooks)
        if enc is None:
            skipped[name] = f"not installed (pip install {requirement})"
        else:
            encoders[name] = enc
    if with_floor:
        encoders["matmul+argmin floor"] = matmul_floor(codebooks)
    return encoders, skipped
