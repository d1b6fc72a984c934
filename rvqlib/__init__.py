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
- :mod:`rvqlib.nn` (chapters 4–6, 8): torch modules and the straight-through
  estimator.
- :mod:`rvqlib.data`: seeded synthetic data; :mod:`rvqlib.book`: notebook
  set-up; :mod:`rvqlib.exercises`: the exercise checkers.
"""

from rvqlib import book, data, exercises, nn
from rvqlib.bitrate import (
    CODECS,
    CodecConfig,
    bitrate,
    bits_per_frame,
    empirical_entropy,
    frame_rate,
)
from rvqlib.book import animation_html, setup
from rvqlib.entropy import entropy_decode, entropy_encode, frequency_model, ideal_length
from rvqlib.fsq import FSQ, LFQ, ResidualFSQ, fsq, fsq_decode, lfq, lfq_decode
from rvqlib.kmeans import KMeans, kmeans, kmeans_plusplus
from rvqlib.metrics import code_perplexity, code_usage, mse, snr_db
from rvqlib.nn import ResidualVQ, VectorQuantizer, straight_through
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

__version__ = "0.1.0"

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
