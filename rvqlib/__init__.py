"""rvqlib: residual vector quantization, from scalar quantizers to neural codecs.

The library under *The RVQ Book*. Every public name is importable from here;
each lives in a module named after its idea, whose docstring says which
chapter of the book derives it:

- :mod:`rvqlib.scalar` (chapter 1): uniform and Lloyd-Max scalar quantizers;
  :mod:`rvqlib.metrics` (chapter 1): MSE and SNR.
- :mod:`rvqlib.vq` (chapter 2): nearest-neighbour search and quantization.
- :mod:`rvqlib.kmeans` (chapter 3): Lloyd's algorithm with k-means++.
- :mod:`rvqlib.rvq` (chapter 6): residual vector quantization.
- :mod:`rvqlib.bitrate` (chapter 7): bitrate arithmetic and real codecs.
- :mod:`rvqlib.nn` (chapters 4–6, 8): torch modules; :mod:`rvqlib.estimators`
  (chapter 8): the straight-through estimator and the rotation trick.
- :mod:`rvqlib.data`: seeded synthetic data; :mod:`rvqlib.book`: notebook
  set-up; :mod:`rvqlib.exercises`: the exercise checkers. These three are
  imported on first use (they need scipy, matplotlib and IPython), so
  ``import rvqlib`` costs only numpy and torch.

``rvqlib.kmeans``, ``rvqlib.bitrate`` and ``rvqlib.fsq`` are modules that can
be called: ``rvqlib.kmeans(x, k)`` calls :func:`rvqlib.kmeans.kmeans` and
``import rvqlib.kmeans as km`` gives the module (and so for the other two).
"""

from rvqlib import bitrate, fsq, kmeans, nn  # bitrate, fsq and kmeans: callable modules
from rvqlib.bitrate import (
    CODECS,
    CodecConfig,
    bits_per_frame,
    empirical_entropy,
    frame_rate,
)
from rvqlib.entropy import entropy_decode, entropy_encode, frequency_model, ideal_length
from rvqlib.estimators import rotation_trick, straight_through
from rvqlib.fsq import FSQ, LFQ, ResidualFSQ, fsq_decode, lfq, lfq_decode
from rvqlib.kmeans import KMeans, kmeans_plusplus
from rvqlib.metrics import code_perplexity, code_usage, mse, snr_db
from rvqlib.nn import ResidualVQ, VectorQuantizer
from rvqlib.rvq import rvq_decode, rvq_encode, train_rvq_codebooks
from rvqlib.scalar import MAX_1960_GAUSSIAN, LloydMax, lloyd_max, uniform_quantize
from rvqlib.tokens import (
    delay_pattern,
    flatten_codes,
    sequence_length,
    steps_per_second,
    undelay_pattern,
    unflatten_codes,
)
from rvqlib.vq import nearest, quantize

__version__ = "0.2.0"

__all__ = [
    "CODECS",
    "KMeans",
    "LloydMax",
    "MAX_1960_GAUSSIAN",
    "CodecConfig",
    "FSQ",
    "LFQ",
    "ResidualFSQ",
    "ResidualVQ",
    "VectorQuantizer",
    "animation_html",
    "bitrate",
    "bits_per_frame",
    "book",
    "code_perplexity",
    "code_usage",
    "data",
    "delay_pattern",
    "empirical_entropy",
    "entropy_decode",
    "entropy_encode",
    "exercises",
    "flatten_codes",
    "frame_rate",
    "frequency_model",
    "fsq",
    "fsq_decode",
    "ideal_length",
    "kmeans",
    "kmeans_plusplus",
    "lfq",
    "lfq_decode",
    "lloyd_max",
    "mse",
    "nearest",
    "nn",
    "quantize",
    "rotation_trick",
    "rvq_decode",
    "rvq_encode",
    "sequence_length",
    "setup",
    "snr_db",
    "steps_per_second",
    "straight_through",
    "train_rvq_codebooks",
    "undelay_pattern",
    "unflatten_codes",
    "uniform_quantize",
]


#: Submodules and names imported on first use, so that ``import rvqlib`` pays only for
#: numpy and torch: :mod:`rvqlib.data` needs scipy, :mod:`rvqlib.book` and
#: :mod:`rvqlib.exercises` matplotlib and IPython.
_LAZY = {
    "book": ("rvqlib.book", None),
    "data": ("rvqlib.data", None),
    "exercises": ("rvqlib.exercises", None),
    "setup": ("rvqlib.book", "setup"),
    "animation_html": ("rvqlib.book", "animation_html"),
}


def __getattr__(name: str) -> object:
    """Import the lazy submodules and names of :data:`_LAZY` on first access."""
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rvqlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
