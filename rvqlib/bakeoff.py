"""A quantizer bake-off: one tiny codec, swappable quantizers, the same data and seeds (ch. 10).

Chapter 10 ("Quantizers without a learned codebook") compares six quantizers
at equal bits *inside the same model*: residual VQ with EMA codebooks, residual
VQ with factorized l2-normalized codes, residual VQ with the rotation trick,
FSQ, residual FSQ and LFQ (:data:`QUANTIZERS`). A seventh configuration,
FSQ with the levels its authors recommend (:data:`EXTRA_QUANTIZERS`), has
slightly fewer bits than the rate it stands in for; it tells how much of
FSQ's result is the choice of levels; and ``"fsq_custom"``
(:data:`CUSTOM_QUANTIZERS`) is FSQ with levels the caller gives, to take
such a comparison one step further. This module is the protocol, so that
every comparison is made the same way and anyone can rerun it on their own
data:

- :class:`MLPCodec`: the tiny codec, an MLP encoder, a quantizer and an MLP
  decoder, for vectors (one frame at a time);
- :func:`make_quantizer`: each quantizer by name at a given number of bits per
  vector, with the latent dimension its design needs;
- :func:`train_run`: train one codec with one quantizer and one seed, and
  measure it (test SNR during and after training, code usage and perplexity
  per codebook, CPU and wall time);
- :func:`run_bakeoff`: every quantizer x bitrate x seed;
- :func:`summarize`, :func:`beats` and :func:`ranking_claims`: means and
  seed ranges, and the pairwise claims the seeds support (``A`` beats ``B``
  only when **every** seed of ``A`` does better than **every** seed of
  ``B``; other pairs are ties).

The codec is deliberately small, so that the whole bake-off trains in seconds
on one CPU thread: what it measures is how each quantizer behaves when an
encoder and a decoder are trained through it, not what a large codec reaches.

Only numpy and torch are needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from rvqlib._validate import nonnegative_float, positive_int
from rvqlib.fsq import FSQ, LFQ, ResidualFSQ
from rvqlib.metrics import code_perplexity, code_usage
from rvqlib.nn import ResidualVQ

__all__ = [
    "CUSTOM_QUANTIZERS",
    "EXTRA_QUANTIZERS",
    "FSQ_PAPER_LEVELS",
    "LABELS",
    "QUANTIZERS",
    "BakeoffRun",
    "MLPCodec",
    "QuantizerSpec",
    "SeedSummary",
    "TrainConfig",
    "beats",
    "make_quantizer",
    "ranking_claims",
    "run_bakeoff",
    "steps_to_target",
    "summarize",
    "train_run",
]

#: The quantizers of the chapter 10 bake-off, in the order the chapter lists them.
QUANTIZERS: tuple[str, ...] = (
    "rvq_ema",
    "rvq_factorized",
    "rvq_rotation",
    "fsq",
    "residual_fsq",
    "lfq",
)

#: Configurations beyond the six of :data:`QUANTIZERS`, accepted by
#: :func:`make_quantizer`, :func:`train_run` and :func:`run_bakeoff` alike.
#: ``"fsq_paper"`` is FSQ with the levels that Mentzer et al. recommend for
#: about ``2**8`` and ``2**16`` codes (:data:`FSQ_PAPER_LEVELS`), at least 5
#: per coordinate; their code counts are not powers of two, so it has slightly
#: fewer bits than the rate it is run at (:attr:`QuantizerSpec.code_bits`).
EXTRA_QUANTIZERS: tuple[str, ...] = ("fsq_paper",)

#: Configurations whose settings the caller gives, accepted by
#: :func:`make_quantizer`, :func:`train_run` and :func:`run_bakeoff` alike.
#: ``"fsq_custom"`` is :class:`rvqlib.fsq.FSQ` with the levels of
#: ``make_quantizer(..., fsq_levels=...)``, at most ``2**bits`` codes; it
#: has no levels of its own, so it is not in :data:`EXTRA_QUANTIZERS`.
#: Its runs share one name whatever their levels: summarise runs of
#: different levels separately (or relabel them with
#: :func:`dataclasses.replace`).
CUSTOM_QUANTIZERS: tuple[str, ...] = ("fsq_custom",)

#: Human-readable names of :data:`QUANTIZERS`, :data:`EXTRA_QUANTIZERS` and
#: :data:`CUSTOM_QUANTIZERS`.
LABELS: dict[str, str] = {
    "rvq_ema": "RVQ, EMA",
    "rvq_factorized": "RVQ, factorized + l2",
    "rvq_rotation": "RVQ, rotation trick",
    "fsq": "FSQ",
    "residual_fsq": "residual FSQ",
    "lfq": "LFQ",
    "fsq_paper": "FSQ, paper's levels",
    "fsq_custom": "FSQ, given levels",
}

#: The FSQ levels of ``"fsq_paper"`` for each rate it is defined at: the
#: recommendations of Mentzer et al. (2023) for about ``2**8`` codes,
#: ``8 * 6 * 5 = 240`` (7.91 bits), and about ``2**16``,
#: ``8**3 * 5**3 = 64,000`` (15.97 bits).
FSQ_PAPER_LEVELS: dict[int, tuple[int, ...]] = {
    8: (8, 6, 5),
    16: (8, 8, 8, 5, 5, 5),
}

#: Bits of one RVQ stage and of one residual-FSQ stage (256 codes).
STAGE_BITS = 8


@dataclass(frozen=True)
class QuantizerSpec:
    """A quantizer built for the bake-off, with what the codec needs to know about it.

    Attributes
    ----------
    name : str
        One of :data:`QUANTIZERS`, :data:`EXTRA_QUANTIZERS` or
        :data:`CUSTOM_QUANTIZERS`.
    bits : int
        The rate it was built for, in bits per vector. For the six of
        :data:`QUANTIZERS` this is exactly :attr:`code_bits`; ``"fsq_paper"``
        has slightly fewer (7.91 at 8, 15.97 at 16), ``"fsq_custom"`` at most
        as many.
    module : torch.nn.Module
        The quantizer: ``module(z) -> (zq, codes, losses)``.
    latent_dim : int
        Dimension of the vectors it quantizes (the encoder's output size).
    codebook_sizes : tuple of int
        Size ``K`` of each codebook (one per stage for residual quantizers;
        the implicit codebook ``prod(levels)`` or ``2**D`` for FSQ and LFQ).
    description : str
        Its configuration in words, for tables.
    """

    name: str
    bits: int
    module: nn.Module
    latent_dim: int
    codebook_sizes: tuple[int, ...]
    description: str

    @property
    def code_bits(self) -> float:
        """``sum(log2(K))`` over the codebooks: the bits per vector its codes can carry."""
        return _code_bits(self.codebook_sizes)


def _code_bits(codebook_sizes: Iterable[int]) -> float:
    return float(sum(math.log2(k) for k in codebook_sizes))


def _check_name(name: Any) -> str:
    known = QUANTIZERS + EXTRA_QUANTIZERS + CUSTOM_QUANTIZERS
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {known}, got {type(name).__name__}")
    if name not in known:
        raise ValueError(f"name must be one of {known}, got {name!r}")
    return name


def _fsq_spec(name: str, bits: int, module: FSQ) -> QuantizerSpec:
    """The spec of an FSQ configuration: one coordinate per level, ``prod(levels)`` codes."""
    levels = list(module.levels)
    size = math.prod(levels)
    return QuantizerSpec(
        name, bits, module, len(levels), (size,), f"levels {levels}, {size:,} codes"
    )


def make_quantizer(
    name: str,
    bits: int,
    *,
    rvq_dim: int = 16,
    codebook_dim: int = 8,
    fsq_dim: int = 4,
    dead_code_threshold: float = 0.5,
    lfq_entropy_weight: float = 0.1,
    fsq_levels: Sequence[int] | None = None,
) -> QuantizerSpec:
    """Build quantizer ``name`` for a rate of ``bits`` bits per vector.

    The rate is exact for :data:`QUANTIZERS`; :attr:`QuantizerSpec.code_bits`
    gives the bits of the codes of every configuration.

    The configurations of :data:`QUANTIZERS` (all at exactly ``bits`` bits):

    - ``"rvq_ema"``: :class:`rvqlib.nn.ResidualVQ` with ``bits / 8`` stages of
      ``K = 256`` codewords in ``rvq_dim`` dimensions; EMA codebooks, k-means
      initialisation on the first batch, dead-code replacement below
      ``dead_code_threshold`` vectors per batch (the library's default 2.0
      would replace codes all the time with ``K = 256`` and batches of 256:
      chapter 9).
    - ``"rvq_factorized"``: the same, searched in a ``codebook_dim``-dimensional
      projection with l2-normalized vectors and codewords
      (``codebook_dim=codebook_dim, normalize=True``, as DAC).
    - ``"rvq_rotation"``: the same as ``"rvq_ema"`` with the rotation trick
      (``gradient="rotation"``) instead of the straight-through estimator.
    - ``"fsq"``: :class:`rvqlib.fsq.FSQ` on ``fsq_dim`` coordinates of
      ``2 ** (bits / fsq_dim)`` levels each.
    - ``"residual_fsq"``: :class:`rvqlib.fsq.ResidualFSQ` with ``bits / 8``
      stages of ``fsq_dim`` coordinates of ``2 ** (8 / fsq_dim)`` levels
      (one stage is exactly :class:`~rvqlib.fsq.FSQ` with those levels; ``n``
      stages are FSQ with ``levels**n`` levels between the fixed scalings by
      ``1 / kappa`` and ``kappa``, :meth:`~rvqlib.fsq.ResidualFSQ.bound_scale`).
    - ``"lfq"``: :class:`rvqlib.fsq.LFQ` on ``bits`` coordinates (one bit each),
      its entropy term (weight ``lfq_entropy_weight``, temperature 0.01) and
      commitment weight 0.25.

    And the one of :data:`EXTRA_QUANTIZERS`, at slightly fewer bits:

    - ``"fsq_paper"``: :class:`rvqlib.fsq.FSQ` with the levels Mentzer et al.
      recommend (:data:`FSQ_PAPER_LEVELS`): ``[8, 6, 5]`` at ``bits=8`` (3
      coordinates, 240 codes, 7.91 bits) and ``[8, 8, 8, 5, 5, 5]`` at
      ``bits=16`` (6 coordinates, 64,000 codes, 15.97 bits); ``fsq_dim`` is
      not used. :attr:`QuantizerSpec.code_bits` gives the exact bits.

    And the one of :data:`CUSTOM_QUANTIZERS`, at most ``bits`` bits:

    - ``"fsq_custom"``: :class:`rvqlib.fsq.FSQ` with the levels
      ``fsq_levels`` (one coordinate per level, ``prod(fsq_levels)`` codes,
      at most ``2**bits``), e.g. ``[5, 4, 4, 3]`` at ``bits=8``: the 240
      codes of ``"fsq_paper"`` on the 4 coordinates of ``"fsq"``; ``bits``
      is the rate it is grouped with and ``fsq_dim`` is not used.

    Parameters
    ----------
    name : str
        One of :data:`QUANTIZERS`, :data:`EXTRA_QUANTIZERS` or
        :data:`CUSTOM_QUANTIZERS`.
    bits : int
        Bits per vector, a positive multiple of 8 (the stage size of the
        residual quantizers) that ``fsq_dim`` divides; for ``"fsq_paper"``, 8
        or 16; for ``"fsq_custom"``, any positive integer with
        ``prod(fsq_levels) <= 2**bits``.
    rvq_dim : int, default 16
        Latent dimension of the three RVQ variants.
    codebook_dim : int, default 8
        Dimension of the factorized lookup of ``"rvq_factorized"`` (DAC's 8).
    fsq_dim : int, default 4
        Coordinates of FSQ and of every residual-FSQ stage.
    dead_code_threshold : float, default 0.5
        Passed to every RVQ stage: a code is replaced when it wins fewer than
        this many vectors per batch on average (EMA), here half its fair share
        ``batch / K = 1`` for batches of 256.
    lfq_entropy_weight : float, default 0.1
        Weight of LFQ's entropy term (0 switches it off).
    fsq_levels : sequence of int, optional
        The levels of ``"fsq_custom"`` (each an integer >= 2), which needs
        them; no other configuration takes them.

    Returns
    -------
    QuantizerSpec

    Raises
    ------
    TypeError
        ``name`` not a str, or a non-integer size or level.
    ValueError
        Unknown ``name``; ``bits`` not a positive multiple of 8 divisible by
        ``fsq_dim`` or, for ``"fsq_paper"``, not 8 or 16; ``fsq_levels``
        missing for ``"fsq_custom"``, given for another configuration, or
        with more than ``2**bits`` codes.
    """
    name = _check_name(name)
    bits = positive_int(bits, "bits")
    rvq_dim = positive_int(rvq_dim, "rvq_dim")
    codebook_dim = positive_int(codebook_dim, "codebook_dim")
    fsq_dim = positive_int(fsq_dim, "fsq_dim")
    if fsq_levels is not None and name != "fsq_custom":
        raise ValueError(f"fsq_levels is taken by 'fsq_custom' only, got name={name!r}")
    if name == "fsq_custom":
        if fsq_levels is None:
            raise ValueError("fsq_custom needs its levels: pass fsq_levels=[...]")
        spec = _fsq_spec(name, bits, FSQ(fsq_levels))  # FSQ checks the levels
        if spec.codebook_sizes[0] > 2**bits:
            raise ValueError(
                f"fsq_levels {list(spec.module.levels)} give {spec.codebook_sizes[0]:,} codes, "
                f"more than the 2**{bits} of bits={bits}"
            )
        return spec
    if name == "fsq_paper":
        if bits not in FSQ_PAPER_LEVELS:
            raise ValueError(
                f"fsq_paper has levels for bits in {tuple(FSQ_PAPER_LEVELS)} only, got "
                f"bits={bits}; for other rates build rvqlib.fsq.FSQ with the levels of "
                "Table 1 of Mentzer et al. (2023)"
            )
        return _fsq_spec(name, bits, FSQ(list(FSQ_PAPER_LEVELS[bits])))
    if bits % STAGE_BITS or bits % fsq_dim or STAGE_BITS % fsq_dim:
        raise ValueError(
            f"bits must be a positive multiple of {STAGE_BITS} divisible by fsq_dim={fsq_dim} "
            f"(and fsq_dim must divide {STAGE_BITS}), got bits={bits}"
        )
    n_q = bits // STAGE_BITS
    if name.startswith("rvq"):
        extra: dict[str, Any] = {}
        detail = "EMA, k-means init"
        if name == "rvq_factorized":
            extra = {"codebook_dim": codebook_dim, "normalize": True}
            detail = f"lookup in {codebook_dim}-d, l2-normalized"
        elif name == "rvq_rotation":
            extra = {"gradient": "rotation"}
            detail = "EMA, rotation trick"
        module = ResidualVQ(
            rvq_dim,
            n_q,
            2**STAGE_BITS,
            dead_code_threshold=dead_code_threshold,
            **extra,
        )
        return QuantizerSpec(
            name,
            bits,
            module,
            rvq_dim,
            (2**STAGE_BITS,) * n_q,
            f"{n_q} x 256 codes in {rvq_dim}-d, {detail}",
        )
    if name == "fsq":
        levels = [2 ** (bits // fsq_dim)] * fsq_dim
        return QuantizerSpec(
            name,
            bits,
            FSQ(levels),
            fsq_dim,
            (math.prod(levels),),
            f"levels {levels}, {math.prod(levels):,} codes",
        )
    if name == "residual_fsq":
        levels = [2 ** (STAGE_BITS // fsq_dim)] * fsq_dim
        return QuantizerSpec(
            name,
            bits,
            ResidualFSQ(levels, n_q),
            fsq_dim,
            (math.prod(levels),) * n_q,
            f"{n_q} stage{'s' if n_q > 1 else ''} of levels {levels}",
        )
    weight = nonnegative_float(lfq_entropy_weight, "lfq_entropy_weight")
    return QuantizerSpec(
        name,
        bits,
        LFQ(bits, entropy_weight=weight),
        bits,
        (2**bits,),
        f"{bits} coordinates, entropy weight {weight:g}",
    )


class MLPCodec(nn.Module):
    """The bake-off's tiny codec: ``x -> encoder -> quantizer -> decoder -> x_hat``.

    Encoder and decoder are two-layer MLPs with a GELU between the layers,
    ``input_dim -> hidden -> latent_dim`` and back. The quantizer is any
    module with the calling convention of :class:`rvqlib.nn.ResidualVQ`,
    ``quantizer(z) -> (zq, codes, losses)``.

    Parameters
    ----------
    input_dim : int
        Dimension of the vectors to code.
    latent_dim : int
        Dimension of the encoder output (what the quantizer expects).
    quantizer : torch.nn.Module
        The quantizer.
    hidden : int, default 64
        Width of the hidden layers.
    """

    def __init__(
        self, input_dim: int, latent_dim: int, quantizer: nn.Module, *, hidden: int = 64
    ) -> None:
        super().__init__()
        input_dim = positive_int(input_dim, "input_dim")
        latent_dim = positive_int(latent_dim, "latent_dim")
        hidden = positive_int(hidden, "hidden")
        if not isinstance(quantizer, nn.Module):
            raise TypeError(f"quantizer must be a torch.nn.Module, got {type(quantizer).__name__}")
        self.encoder = nn.Sequential(
            nn.Linear(input_dim, hidden), nn.GELU(), nn.Linear(hidden, latent_dim)
        )
        self.quantizer = quantizer
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.GELU(), nn.Linear(hidden, input_dim)
        )

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Code and decode ``x`` ``(N, input_dim)``: ``(x_hat, codes, losses)``."""
        zq, codes, losses = self.quantizer(self.encoder(x))
        return self.decoder(zq), codes, losses


@dataclass(frozen=True)
class TrainConfig:
    """How every codec of a bake-off is trained and measured.

    Attributes
    ----------
    steps : int
        Optimizer steps (one batch each).
    batch : int
        Vectors per batch, drawn with replacement from the training set.
    lr : float
        Adam's learning rate at step 0; it decays linearly to 0 at ``steps``.
    hidden : int
        Width of the codec's hidden layers.
    eval_every : int
        Steps between two measurements of the training curve.
    n_curve : int
        Test vectors used for the training curve (the final measurement
        uses the whole test set).
    """

    steps: int = 100
    batch: int = 256
    lr: float = 1e-2
    hidden: int = 64
    eval_every: int = 10
    n_curve: int = 2000

    def __post_init__(self) -> None:
        for key in ("steps", "batch", "hidden", "eval_every", "n_curve"):
            positive_int(getattr(self, key), key)
        if not (isinstance(self.lr, float | int) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")


@dataclass
class BakeoffRun:
    """One trained codec: a quantizer at a bitrate with one seed, and its measurements.

    Attributes
    ----------
    name, bits, seed : str, int, int
        Which quantizer, the rate it was built for (bits per vector,
        :attr:`QuantizerSpec.bits`), which seed.
    description : str
        The quantizer's configuration (:attr:`QuantizerSpec.description`).
    curve_steps : numpy.ndarray
        Steps after which the curve was measured (``eval_every, 2 eval_every, ...``).
    curve_snr_db : numpy.ndarray
        Test SNR (dB) on the first ``n_curve`` test vectors at those steps.
    snr_db, mse : float
        Final SNR (dB) and MSE per entry on the whole test set.
    usage : tuple of float
        For each codebook, the fraction of its codes that the test set uses.
    perplexity : tuple of float
        For each codebook, the perplexity of its codes on the test set.
    codebook_sizes : tuple of int
        Size of each codebook.
    n_test : int
        Test vectors behind ``usage`` and ``perplexity``.
    cpu_seconds, wall_seconds : float
        Process CPU time and wall-clock time of the training loop (without the
        measurements).
    steps : int
        Training steps.
    """

    name: str
    bits: int
    seed: int
    description: str
    curve_steps: np.ndarray
    curve_snr_db: np.ndarray
    snr_db: float
    mse: float
    usage: tuple[float, ...]
    perplexity: tuple[float, ...]
    codebook_sizes: tuple[int, ...]
    n_test: int
    cpu_seconds: float
    wall_seconds: float
    steps: int

    @property
    def label(self) -> str:
        """The quantizer's name in words."""
        return LABELS[self.name]

    @property
    def ms_per_step(self) -> float:
        """CPU milliseconds per training step."""
        return 1e3 * self.cpu_seconds / self.steps

    @property
    def code_bits(self) -> float:
        """``sum(log2(K))`` over the codebooks: the bits per vector its codes can carry.

        Equal to ``bits`` except for ``"fsq_paper"`` (7.91 at 8, 15.97 at 16)
        and ``"fsq_custom"`` (at most ``bits``).
        """
        return _code_bits(self.codebook_sizes)

    @property
    def used_bits(self) -> float:
        """``sum(log2(perplexity))`` over the codebooks: bits the codes carry.

        At most :attr:`code_bits`.
        """
        return float(sum(math.log2(p) for p in self.perplexity))


def _as_float32(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) array, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must hold floats, got dtype {t.dtype}")
    t = t.to(torch.float32)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    return t


def _snr_db(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    err = float(((x - x_hat) ** 2).sum())
    sig = float((x**2).sum())
    return math.inf if err == 0 else 10 * math.log10(sig / err)


def train_run(
    name: str,
    bits: int,
    seed: int,
    x_train: Any,
    x_test: Any,
    config: TrainConfig | None = None,
    **quantizer_kwargs: Any,
) -> BakeoffRun:
    """Train one :class:`MLPCodec` with quantizer ``name`` at ``bits`` bits, and measure it.

    ``torch.manual_seed(seed)`` is called first, so the seed fixes the
    codec's initial weights, the quantizer's random choices (k-means
    initialisation, dead-code replacement) and the order of the batches; the
    data are the same for every seed. The loss is the reconstruction MSE plus
    the quantizer's own losses (commitment, LFQ's entropy term), minimised by
    Adam with a learning rate decaying linearly to 0.

    Parameters
    ----------
    name : str
        One of :data:`QUANTIZERS`, :data:`EXTRA_QUANTIZERS` or
        :data:`CUSTOM_QUANTIZERS`.
    bits : int
        Bits per vector (see :func:`make_quantizer`).
    seed : int
        Non-negative seed.
    x_train, x_test : array_like or torch.Tensor
        ``(N, D)`` training and test vectors.
    config : TrainConfig, optional
        Training and measurement settings (default ``TrainConfig()``).
    **quantizer_kwargs
        Passed to :func:`make_quantizer`.

    Returns
    -------
    BakeoffRun
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    seed = positive_int(seed, "seed", minimum=0)
    xtr = _as_float32(x_train, "x_train")
    xte = _as_float32(x_test, "x_test")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            "x_train and x_test must have the same dimension, got "
            f"{xtr.shape[1]} and {xte.shape[1]}"
        )
    torch.manual_seed(seed)
    spec = make_quantizer(name, bits, **quantizer_kwargs)
    model = MLPCodec(xtr.shape[1], spec.latent_dim, spec.module, hidden=config.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / config.steps)
    batches = torch.Generator().manual_seed(seed)
    x_curve = xte[: config.n_curve]
    curve_steps, curve = [], []
    cpu = wall = 0.0
    model.train()
    for step in range(1, config.steps + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        xb = xtr[torch.randint(len(xtr), (config.batch,), generator=batches)]
        x_hat, _, losses = model(xb)
        loss = ((x_hat - xb) ** 2).mean() + sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        if step % config.eval_every == 0 or step == config.steps:
            model.eval()
            with torch.no_grad():
                curve.append(_snr_db(x_curve, model(x_curve)[0]))
            model.train()
            curve_steps.append(step)
    model.eval()
    with torch.no_grad():
        x_hat, codes, _ = model(xte)
    codes2 = codes.reshape(len(xte), -1)
    usage, ppl = [], []
    for q, k in enumerate(spec.codebook_sizes):
        counts = code_usage(codes2[:, q], k)
        usage.append(float((counts > 0).sum()) / k)
        ppl.append(code_perplexity(codes2[:, q], k))
    return BakeoffRun(
        name=name,
        bits=spec.bits,
        seed=seed,
        description=spec.description,
        curve_steps=np.array(curve_steps),
        curve_snr_db=np.array(curve),
        snr_db=_snr_db(xte, x_hat),
        mse=float(((xte - x_hat) ** 2).mean()),
        usage=tuple(usage),
        perplexity=tuple(ppl),
        codebook_sizes=spec.codebook_sizes,
        n_test=len(xte),
        cpu_seconds=cpu,
        wall_seconds=wall,
        steps=config.steps,
    )


def run_bakeoff(
    names: Sequence[str],
    bits: Sequence[int],
    seeds: Sequence[int],
    x_train: Any,
    x_test: Any,
    config: TrainConfig | None = None,
    *,
    progress: Callable[[BakeoffRun], Any] | None = None,
    **quantizer_kwargs: Any,
) -> list[BakeoffRun]:
    """Every quantizer of ``names`` at every rate of ``bits`` with every seed of ``seeds``.

    Parameters
    ----------
    names : sequence of str
        Quantizers (from :data:`QUANTIZERS`, :data:`EXTRA_QUANTIZERS` or
        :data:`CUSTOM_QUANTIZERS`).
    bits : sequence of int
        Bits per vector.
    seeds : sequence of int
        Seeds (each run calls ``torch.manual_seed(seed)``).
    x_train, x_test, config, **quantizer_kwargs
        As in :func:`train_run`.
    progress : callable, optional
        Called with each finished :class:`BakeoffRun` (e.g. to advance a
        progress bar).

    Returns
    -------
    list of BakeoffRun
        In the order quantizer, then rate, then seed.
    """
    names = [_check_name(n) for n in names]
    if not names or not list(bits) or not list(seeds):
        raise ValueError("names, bits and seeds must each hold at least one value")
    runs = []
    for name in names:
        for b in bits:
            for s in seeds:
                run = train_run(name, b, s, x_train, x_test, config, **quantizer_kwargs)
                runs.append(run)
                if progress is not None:
                    progress(run)
    return runs


def steps_to_target(run: BakeoffRun, target_db: float) -> int | None:
    """First measured step at which the run's test SNR reaches ``target_db``, or None."""
    if not isinstance(run, BakeoffRun):
        raise TypeError(f"run must be a BakeoffRun, got {type(run).__name__}")
    hit = np.nonzero(run.curve_snr_db >= float(target_db))[0]
    return int(run.curve_steps[hit[0]]) if hit.size else None


@dataclass(frozen=True)
class SeedSummary:
    """One measurement of one quantizer at one rate, over seeds.

    Attributes
    ----------
    values : tuple of float
        The measurement for each seed, in seed order.
    """

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean over seeds."""
        return float(np.mean(self.values))

    @property
    def low(self) -> float:
        """Smallest value over seeds."""
        return float(np.min(self.values))

    @property
    def high(self) -> float:
        """Largest value over seeds."""
        return float(np.max(self.values))

    @property
    def spread(self) -> float:
        """``high - low``: how far apart the seeds are."""
        return self.high - self.low


def summarize(
    runs: Iterable[BakeoffRun], value: Callable[[BakeoffRun], float]
) -> dict[tuple[str, int], SeedSummary]:
    """Group runs by ``(name, bits)`` and summarise ``value(run)`` over their seeds.

    ``bits`` is the rate a run was built for (:attr:`BakeoffRun.bits`), so
    ``"fsq_paper"`` is grouped, and ranked by :func:`ranking_claims`, with the
    rate it stands in for (8 or 16) although its codes have 7.91 or 15.97 bits
    (:attr:`BakeoffRun.code_bits`: use that one for a bitrate).

    Parameters
    ----------
    runs : iterable of BakeoffRun
    value : callable
        The measurement, e.g. ``lambda r: r.snr_db``.

    Returns
    -------
    dict
        ``(name, bits) -> SeedSummary``, in the order the pairs first occur.
    """
    groups: dict[tuple[str, int], list[float]] = {}
    for run in runs:
        groups.setdefault((run.name, run.bits), []).append(float(value(run)))
    return {key: SeedSummary(tuple(v)) for key, v in groups.items()}


def beats(
    a: SeedSummary, b: SeedSummary, *, higher_is_better: bool = True, factor: float = 1.0
) -> bool:
    """True when **every** seed of ``a`` is better than **every** seed of ``b``.

    The seed ranges do not overlap. That is a rule against reading noise as
    a difference, not a proof of one: with three seeds each, two equally
    good quantizers (exchangeable results) pass it one time in ten, 2 of the
    ``C(6, 3) = 20`` orderings of the six results.
    ``factor > 1`` asks for more, a ratio: for ``higher_is_better`` the worst
    seed of ``a`` must exceed ``factor`` times the best seed of ``b``, and
    otherwise ``factor`` times the worst seed of ``a`` must stay below the
    best seed of ``b`` (for noisy positive measurements such as times).
    """
    if not (isinstance(a, SeedSummary) and isinstance(b, SeedSummary)):
        raise TypeError("a and b must be SeedSummary objects (from summarize)")
    if not (isinstance(factor, float | int) and math.isfinite(factor) and factor >= 1.0):
        raise ValueError(f"factor must be a finite number >= 1, got {factor!r}")
    if higher_is_better:
        return a.low > factor * b.high if factor != 1.0 else a.low > b.high
    return factor * a.high < b.low


def ranking_claims(
    summaries: dict[tuple[str, int], SeedSummary],
    bits: int,
    *,
    higher_is_better: bool = True,
    factor: float = 1.0,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The pairwise rankings at rate ``bits`` that the seeds support, and the ties.

    Parameters
    ----------
    summaries : dict
        From :func:`summarize`.
    bits : int
        The rate to compare at.
    higher_is_better : bool, default True
        Direction of the measurement.
    factor : float, default 1.0
        Passed to :func:`beats`.

    Returns
    -------
    claims : list of (str, str)
        ``(winner, loser)`` for every pair where :func:`beats` holds, the
        winner first, sorted by the winner's mean then the loser's.
    ties : list of (str, str)
        The other pairs, the one with the better mean first.
    """
    names = [n for (n, b) in summaries if b == bits]
    if not names:
        raise ValueError(f"no summaries at bits={bits}")
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(names, key=lambda n: -sign * summaries[(n, bits)].mean)
    claims, ties = [], []
    for i, a in enumerate(order):
        for b in order[i + 1 :]:
            sa, sb = summaries[(a, bits)], summaries[(b, bits)]
            if beats(sa, sb, higher_is_better=higher_is_better, factor=factor):
                claims.append((a, b))
            else:
                ties.append((a, b))
    return claims, ties
