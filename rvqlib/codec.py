"""A tiny convolutional speech codec with a swappable quantizer (chapters 8, 10, 11).

:class:`TinyCodec` is the capstone of chapter 8: a strided convolutional
encoder turns 16 kHz audio into one latent vector every ``hop`` samples, a
quantizer turns each vector into integer codes, and a decoder built from
transposed convolutions turns the quantized vectors back into audio. By
default the quantizer is a :class:`rvqlib.nn.ResidualVQ` (EMA codebooks,
k-means initialisation, dead-code replacement, quantizer dropout), but any
module with the same calling convention can take its place (chapter 10 does
this)::

    zq, codes, losses = quantizer(z)            # z: (batch, frames, dim)
    zq, codes, losses = quantizer(z, n_q)       # optional: the first n_q stages

``zq`` has ``z``'s shape and carries the straight-through gradient to ``z``,
``codes`` is an integer tensor ``(batch, frames, n_stages)`` (or
``(batch, frames)`` for a single code), and ``losses`` is a dict of scalar
tensors added to the training loss as they are.

:func:`train_codec` trains a codec on a list of clips with a ``tqdm`` progress
bar and returns a :class:`TrainingLog` (losses, and per-stage dead-code
replacements and usage over training). :func:`save_codec` / :func:`load_codec`
store a codec with its configuration; :func:`load_capstone` loads the weights
shipped with the book (``data/weights/capstone_codec.pt``, trained by
``scripts/train_capstone.py``) and :func:`capstone_codes` returns the codes of
the held-out clip under them (for chapter 11's entropy coding).

Only numpy and torch are needed; ``tqdm`` is imported when a progress bar is
asked for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rvqlib.audio_metrics import multiscale_mel_loss
from rvqlib.nn import ResidualVQ

__all__ = [
    "CAPSTONE_WEIGHTS",
    "CodecOutput",
    "Decoder",
    "Encoder",
    "TinyCodec",
    "TinyCodecConfig",
    "TrainingLog",
    "capstone_codes",
    "load_capstone",
    "load_codec",
    "random_segments",
    "save_codec",
    "train_codec",
]

#: The weights shipped with the book (the headline codec of chapter 8).
CAPSTONE_WEIGHTS: Path = (
    Path(__file__).resolve().parents[1] / "data" / "weights" / "capstone_codec.pt"
)


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class TinyCodecConfig:
    """Everything that defines a :class:`TinyCodec`'s architecture.

    Attributes
    ----------
    sample_rate : int
        Audio sample rate in Hz.
    strides : tuple of int
        Down-sampling factor of each encoder block; their product is the hop.
    channels : int
        Channels after the first convolution; they double after every block,
        up to ``max_channels``.
    max_channels : int
        Cap on the channels.
    dim : int
        Dimension of the latent vectors (and of the codewords).
    n_q : int
        Number of residual quantizer stages.
    codebook_size : int
        Codewords per stage ``K``.
    quantizer_dropout : bool
        Train with SoundStream's quantizer dropout (a random number of stages per batch).
    dead_code_threshold : float
        Passed to every :class:`rvqlib.nn.VectorQuantizer` stage: codes whose EMA
        count of vectors *per batch* falls below it are replaced.
    commitment_weight : float
        The commitment loss weight beta of every stage.
    residual : bool
        Add one residual unit (a dilated convolution and a 1x1 convolution with
        a skip connection) at every resolution of the encoder and decoder.
    """

    sample_rate: int = 16_000
    strides: tuple[int, ...] = (2, 4, 4, 4)
    channels: int = 8
    max_channels: int = 64
    dim: int = 32
    n_q: int = 8
    codebook_size: int = 256
    quantizer_dropout: bool = True
    dead_code_threshold: float = 0.1
    commitment_weight: float = 0.25
    residual: bool = False

    def __post_init__(self) -> None:
        for name in ("sample_rate", "channels", "max_channels", "dim", "n_q", "codebook_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not self.strides or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.strides
        ):
            raise ValueError(
                f"strides must be a non-empty tuple of positive ints, got {self.strides}"
            )
        object.__setattr__(self, "strides", tuple(self.strides))
        if self.dead_code_threshold < 0 or self.commitment_weight < 0:
            raise ValueError("dead_code_threshold and commitment_weight must be >= 0")

    @property
    def hop(self) -> int:
        """Samples per latent frame: the product of the strides."""
        return math.prod(self.strides)

    @property
    def frame_rate(self) -> float:
        """Latent frames per second."""
        return self.sample_rate / self.hop

    @property
    def bits_per_code(self) -> float:
        """``log2(codebook_size)``."""
        return math.log2(self.codebook_size)

    def kbps(self, n_q: int | None = None) -> float:
        """Bitrate in kbps with the first ``n_q`` stages (default all)."""
        n = self.n_q if n_q is None else n_q
        return self.frame_rate * n * self.bits_per_code / 1000


# --------------------------------------------------------------------------- modules
def _widths(cfg: TinyCodecConfig) -> list[int]:
    return [min(cfg.channels * 2**i, cfg.max_channels) for i in range(len(cfg.strides) + 1)]


class _ResidualUnit(nn.Module):
    """``x + conv1x1(elu(conv7_dilated(elu(x))))``: more context, same length."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.elu(self.conv(F.elu(x))))


class Encoder(nn.Module):
    """Waveform ``(batch, 1, n)`` to latents ``(batch, dim, n / hop)``.

    A 7-tap convolution, then per stride ``s``: a residual unit (optional) and a
    strided convolution of kernel ``2 s`` that doubles the channels; a final
    3-tap convolution to ``dim`` channels. ``n`` must be a multiple of the hop.

    Parameters
    ----------
    config : TinyCodecConfig
        The architecture.
    """

    def __init__(self, config: TinyCodecConfig) -> None:
        super().__init__()
        w = _widths(config)
        layers: list[nn.Module] = [nn.Conv1d(1, w[0], 7, padding=3)]
        for i, s in enumerate(config.strides):
            if config.residual:
                layers.append(_ResidualUnit(w[i], dilation=3 if i else 1))
            layers += [nn.ELU(), nn.Conv1d(w[i], w[i + 1], 2 * s, stride=s, padding=(s + 1) // 2)]
        layers += [nn.ELU(), nn.Conv1d(w[-1], config.dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """Latents ``(batch, dim, frames)`` to a waveform ``(batch, 1, frames * hop)``.

    The mirror of :class:`Encoder`: a 7-tap convolution, then per stride (in
    reverse) a transposed convolution of kernel ``2 s`` that halves the channels
    and a residual unit (optional), and a final 7-tap convolution to one channel.

    Parameters
    ----------
    config : TinyCodecConfig
        The architecture.
    """

    def __init__(self, config: TinyCodecConfig) -> None:
        super().__init__()
        w = _widths(config)
        layers: list[nn.Module] = [nn.Conv1d(config.dim, w[-1], 7, padding=3)]
        for i in reversed(range(len(config.strides))):
            s = config.strides[i]
            layers += [
                nn.ELU(),
                nn.ConvTranspose1d(
                    w[i + 1], w[i], 2 * s, stride=s, padding=(s + 1) // 2, output_padding=s % 2
                ),
            ]
            if config.residual:
                layers.append(_ResidualUnit(w[i], dilation=3 if i else 1))
        layers += [nn.ELU(), nn.Conv1d(w[0], 1, 7, padding=3)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@dataclass
class CodecOutput:
    """What :meth:`TinyCodec.forward` returns.

    Attributes
    ----------
    audio : torch.Tensor
        The reconstruction, ``(batch, n)``.
    codes : torch.Tensor
        Integer codes, ``(batch, frames, n_stages)`` for a residual quantizer.
    losses : dict of str to torch.Tensor
        The quantizer's losses (e.g. ``"commitment"``), to add to the training loss.
    latent : torch.Tensor
        The encoder output ``z``, ``(batch, frames, dim)``.
    """

    audio: torch.Tensor
    codes: torch.Tensor
    losses: dict[str, torch.Tensor]
    latent: torch.Tensor


class TinyCodec(nn.Module):
    """Encoder, quantizer, decoder: a neural audio codec small enough to train on a CPU.

    Parameters
    ----------
    config : TinyCodecConfig, optional
        The architecture (default: 16 kHz, hop 128, 8 stages of 256 codewords,
        i.e. 125 frames/s and 1 kbps per stage).
    quantizer : torch.nn.Module, optional
        Replaces the default :class:`rvqlib.nn.ResidualVQ` built from ``config``.
        It is called as ``quantizer(z)`` or ``quantizer(z, n_q)`` on
        ``z`` of shape ``(batch, frames, config.dim)`` and returns
        ``(zq, codes, losses)``; see the module docstring.
    train_encoder : bool, default True
        With False the latent is detached before the quantizer: no gradient,
        neither the reconstruction's (through the straight-through estimator)
        nor the commitment loss's, reaches the encoder, which keeps its random
        initialisation. This is the chapter 8 ablation "without the
        straight-through estimator".

    Examples
    --------
    >>> codec = TinyCodec(TinyCodecConfig(n_q=2, codebook_size=16))
    >>> out = codec(torch.zeros(1, 1024))
    >>> out.audio.shape, out.codes.shape
    (torch.Size([1, 1024]), torch.Size([1, 8, 2]))
    """

    def __init__(
        self,
        config: TinyCodecConfig | None = None,
        *,
        quantizer: nn.Module | None = None,
        train_encoder: bool = True,
    ) -> None:
        super().__init__()
        self.config = config if config is not None else TinyCodecConfig()
        if not isinstance(self.config, TinyCodecConfig):
            raise TypeError(f"config must be a TinyCodecConfig, got {type(config).__name__}")
        if not isinstance(train_encoder, bool):
            raise TypeError(f"train_encoder must be True or False, got {train_encoder!r}")
        self.train_encoder = train_encoder
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        if quantizer is None:
            quantizer = ResidualVQ(
                dim=self.config.dim,
                n_q=self.config.n_q,
                codebook_size=self.config.codebook_size,
                quantizer_dropout=self.config.quantizer_dropout,
                dead_code_threshold=self.config.dead_code_threshold,
                commitment_weight=self.config.commitment_weight,
            )
        elif not isinstance(quantizer, nn.Module):
            raise TypeError(f"quantizer must be a torch.nn.Module, got {type(quantizer).__name__}")
        self.quantizer = quantizer

    @property
    def hop(self) -> int:
        """Samples per frame."""
        return self.config.hop

    def _audio(self, x: Any) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            arr = np.asarray(x)
            if not np.issubdtype(arr.dtype, np.floating):
                raise TypeError(f"audio must be floating samples, got dtype {arr.dtype}")
            x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        if not x.is_floating_point():
            raise TypeError(f"audio must be a floating tensor, got {x.dtype}")
        if x.ndim == 1:
            x = x[None]
        if x.ndim == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 2:
            raise ValueError(
                f"audio must have shape (n,), (batch, n) or (batch, 1, n), got {tuple(x.shape)}"
            )
        if x.shape[-1] == 0:
            raise ValueError("audio is empty")
        return x.to(next(self.parameters()).dtype)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        extra = (-x.shape[-1]) % self.hop
        return F.pad(x, (0, extra)) if extra else x

    def encode_latent(self, x: Any) -> torch.Tensor:
        """Encoder output ``(batch, frames, dim)``; the audio is zero-padded to a whole frame."""
        x = self._pad(self._audio(x))
        return self.encoder(x[:, None]).transpose(1, 2)

    def forward(self, x: Any, n_q: int | None = None) -> CodecOutput:
        """Code and decode audio.

        Parameters
        ----------
        x : torch.Tensor or array_like
            Audio ``(n,)``, ``(batch, n)`` or ``(batch, 1, n)``; zero-padded to a
            multiple of the hop, and the output trimmed back to ``n``.
        n_q : int, optional
            Use only the first ``n_q`` quantizer stages (default: all, or in
            training with quantizer dropout a random number).

        Returns
        -------
        CodecOutput
        """
        audio = self._audio(x)
        n = audio.shape[-1]
        z = self.encode_latent(audio)
        if not self.train_encoder:
            z = z.detach()
        zq, codes, losses = self.quantizer(z) if n_q is None else self.quantizer(z, n_q)
        y = self.decoder(zq.transpose(1, 2))[:, 0, :n]
        return CodecOutput(audio=y, codes=codes, losses=losses, latent=z)

    @torch.no_grad()
    def encode(self, x: Any, n_q: int | None = None) -> torch.Tensor:
        """Integer codes of audio: ``(batch, frames, n_q)`` (or ``(frames, n_q)`` for 1-D audio).

        Uses the quantizer's ``encode(z, n_q)`` (never changes the model).
        """
        one = (x.ndim if isinstance(x, torch.Tensor) else np.ndim(x)) == 1
        codes = self.quantizer.encode(self.encode_latent(x), n_q)
        return codes[0] if one else codes

    @torch.no_grad()
    def decode(self, codes: Any, n_samples: int | None = None) -> torch.Tensor:
        """Audio from codes ``(frames, n)`` or ``(batch, frames, n)``, the first ``n`` stages.

        Parameters
        ----------
        codes : torch.Tensor or array_like of int
            As returned by :meth:`encode` (fewer stages give a coarser sound).
        n_samples : int, optional
            Trim the output to this many samples (the length before padding).

        Returns
        -------
        torch.Tensor
            ``(n,)`` for 2-D codes, ``(batch, n)`` for 3-D codes.
        """
        c = torch.as_tensor(np.asarray(codes)) if not isinstance(codes, torch.Tensor) else codes
        one = c.ndim == 2
        if one:
            c = c[None]
        if c.ndim != 3:
            raise ValueError(
                f"codes must be (frames, n) or (batch, frames, n), got {tuple(c.shape)}"
            )
        zq = self.quantizer.decode(c.long())
        y = self.decoder(zq.transpose(1, 2).to(next(self.parameters()).dtype))[:, 0]
        if n_samples is not None:
            y = y[:, :n_samples]
        return y[0] if one else y


# --------------------------------------------------------------------------- training
def random_segments(
    clips: Sequence[np.ndarray], batch_size: int, length: int, generator: torch.Generator
) -> torch.Tensor:
    """A batch of random windows from clips, a clip drawn in proportion to its length.

    Clips shorter than ``length`` are zero-padded at the end.

    Parameters
    ----------
    clips : sequence of numpy.ndarray
        1-D float clips.
    batch_size, length : int
        Windows per batch and samples per window.
    generator : torch.Generator
        The random source (seed it for reproducible batches).

    Returns
    -------
    torch.Tensor
        ``(batch_size, length)`` float32.
    """
    sizes = torch.tensor([max(len(c) - length, 0) + 1 for c in clips], dtype=torch.float64)
    picks = torch.multinomial(sizes, batch_size, replacement=True, generator=generator).tolist()
    out = torch.zeros(batch_size, length)
    for row, i in enumerate(picks):
        clip = clips[i]
        start = int(torch.randint(0, int(sizes[i]), (1,), generator=generator))
        piece = torch.from_numpy(np.asarray(clip[start : start + length], dtype=np.float32))
        out[row, : len(piece)] = piece
    return out


@dataclass
class TrainingLog:
    """What happened during :func:`train_codec`.

    Attributes
    ----------
    loss : list of float
        The total training loss at every step.
    parts : dict of str to list of float
        Its parts per step: ``"waveform"`` (the weighted L1 term), ``"mel"`` (the
        weighted multi-scale mel term) and each quantizer loss.
    n_q : list of int
        Quantizer stages used at every step (varies with quantizer dropout).
    replaced : list of list of int
        Cumulative dead-code replacements per stage, recorded every ``log_every``
        steps (and at the end), when the quantizer has ``VectorQuantizer`` layers.
    replaced_steps : list of int
        The steps at which ``replaced`` was recorded.
    wall_s, cpu_s : float
        Wall-clock and process CPU time of the training loop.
    config : dict
        The training settings.
    """

    loss: list[float] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)
    n_q: list[int] = field(default_factory=list)
    replaced: list[list[int]] = field(default_factory=list)
    replaced_steps: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)


def _stage_replacements(quantizer: nn.Module) -> list[int] | None:
    layers = getattr(quantizer, "layers", None)
    if layers is None or not all(hasattr(layer, "n_replaced") for layer in layers):
        return None
    return [int(layer.n_replaced) for layer in layers]


def train_codec(
    model: TinyCodec,
    clips: Sequence[np.ndarray],
    *,
    steps: int,
    batch_size: int = 16,
    segment: int = 4096,
    lr: float = 3e-3,
    waveform_weight: float = 30.0,
    mel_weight: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    log_every: int = 10,
    step_callback: Callable[[int, TrainingLog], None] | None = None,
) -> TrainingLog:
    """Train a codec: Adam with a cosine learning-rate decay, random windows of the clips.

    The loss per batch is::

        waveform_weight * L1(x, x_hat)
        + mel_weight * multiscale_mel_loss(x, x_hat)      (rvqlib.audio_metrics)
        + the quantizer's losses (commitment, ...)

    The waveform term keeps the reconstruction in phase with the original
    where it can be (low frequencies); the mel term, which ignores phase, makes
    the decoder put back the right *amount* of energy in every band, which a
    waveform loss alone does not (chapter 8 explains why).

    Parameters
    ----------
    model : TinyCodec
        Trained in place (left in ``eval()`` mode at the end).
    clips : sequence of numpy.ndarray
        1-D float training clips at ``model.config.sample_rate``.
    steps : int
        Optimisation steps.
    batch_size, segment : int
        Windows per batch and their length in samples (a multiple of the hop).
    lr : float
        Peak learning rate (cosine decay to 0 over ``steps``).
    waveform_weight, mel_weight : float
        Loss weights (>= 0, not both 0). With the waveform weight much lower than
        30 (at 8 windows of 2048 samples per batch) some seeds never learn the
        waveform: the mel term, blind to phase, wins, and the SI-SNR stays
        negative.
    seed : int
        Seeds torch (the model's random draws during training: k-means, dead
        codes, dropout) and the batch sampler. The initial weights come from the
        random state when the model was built: seed torch before building it, and
        a run is reproducible on one machine and thread count.
    progress : bool
        Show a ``tqdm`` progress bar (printed to stdout, so a built book shows it).
    log_every : int
        Record the dead-code replacement counts every this many steps.
    step_callback : callable, optional
        ``step_callback(step, log)`` after every step (for extra diagnostics).

    Returns
    -------
    TrainingLog
    """
    if not isinstance(model, TinyCodec):
        raise TypeError(f"model must be a TinyCodec, got {type(model).__name__}")
    for name, v in (("steps", steps), ("batch_size", batch_size), ("segment", segment)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if segment % model.hop:
        raise ValueError(f"segment must be a multiple of the hop {model.hop}, got {segment}")
    if waveform_weight < 0 or mel_weight < 0 or waveform_weight + mel_weight == 0:
        raise ValueError("waveform_weight and mel_weight must be >= 0 and not both 0")
    clips = [np.asarray(c, dtype=np.float32) for c in clips]
    if not clips or any(c.ndim != 1 or c.size == 0 for c in clips):
        raise ValueError("clips must be a non-empty list of non-empty 1-D arrays")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    sr = model.config.sample_rate
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    log = TrainingLog(
        config=dict(
            steps=steps, batch_size=batch_size, segment=segment, lr=lr,
            waveform_weight=waveform_weight, mel_weight=mel_weight, seed=seed,
        )
    )  # fmt: skip
    iterator: Any = range(steps)
    if progress:
        import sys

        from tqdm.auto import tqdm

        iterator = tqdm(iterator, file=sys.stdout, mininterval=5, ncols=80, desc="training")
    model.train()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for step in iterator:
        x = random_segments(clips, batch_size, segment, gen)
        out = model(x)
        parts = {}
        if waveform_weight:
            parts["waveform"] = waveform_weight * F.l1_loss(out.audio, x)
        if mel_weight:
            parts["mel"] = mel_weight * multiscale_mel_loss(x, out.audio, sr)
        parts.update(out.losses)
        loss = sum(parts.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        log.loss.append(float(loss.detach()))
        for k, v in parts.items():
            log.parts.setdefault(k, []).append(float(v.detach()))
        log.n_q.append(int(out.codes.shape[-1]) if out.codes.ndim == 3 else 1)
        if step % log_every == 0 or step == steps - 1:
            counts = _stage_replacements(model.quantizer)
            if counts is not None:
                log.replaced.append(counts)
                log.replaced_steps.append(step + 1)
        if step_callback is not None:
            step_callback(step, log)
    log.wall_s = time.perf_counter() - wall0
    log.cpu_s = time.process_time() - cpu0
    model.eval()
    return log


# --------------------------------------------------------------------------- storage
def _plain(obj: Any) -> Any:
    """Metadata as plain Python values (numpy scalars and tuples converted), for safe loading."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):  # also str subclasses such as torch.__version__
        return str(obj)
    if isinstance(obj, int | float):
        return type(obj)(obj) if type(obj) in (int, float) else float(obj)
    raise TypeError(
        f"metadata must hold numbers, strings, lists and dicts, got {type(obj).__name__}"
    )


def save_codec(
    model: TinyCodec,
    path: str | Path,
    *,
    metadata: dict[str, Any] | None = None,
    half: bool = False,
) -> None:
    """Save a codec's configuration, weights and buffers (and any metadata) with ``torch.save``.

    Parameters
    ----------
    model : TinyCodec
        A codec with the default quantizer (a custom one is saved as its state only).
    path : str or pathlib.Path
        The file to write.
    metadata : dict, optional
        JSON-like information stored beside the weights (how it was trained):
        numbers (numpy scalars are converted), strings, lists and dicts.
    half : bool, default False
        Store the encoder's and decoder's floating weights as float16 (about half
        the size; loading casts them back to float32, so the model's outputs
        change slightly). The quantizer's codebooks and statistics stay float32.
    """
    state = {}
    for k, v in model.state_dict().items():
        keep = k.startswith("quantizer.") or not v.is_floating_point()
        state[k] = v.detach().cpu() if keep or not half else v.detach().cpu().half()
    torch.save(
        {
            "format": "rvqlib.TinyCodec/1",
            "config": asdict(model.config),
            "train_encoder": model.train_encoder,
            "state": state,
            "metadata": _plain(metadata or {}),
        },
        Path(path),
    )


def load_codec(path: str | Path) -> tuple[TinyCodec, dict[str, Any]]:
    """Load a codec written by :func:`save_codec`, in ``eval()`` mode.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    model : TinyCodec
        float32, on the CPU, in evaluation mode.
    metadata : dict
        What was stored with it.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a saved :class:`TinyCodec`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no codec weights at {path}")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "rvqlib.TinyCodec/1":
        raise ValueError(f"{path} is not a codec saved by rvqlib.codec.save_codec")
    cfg = dict(blob["config"])
    cfg["strides"] = tuple(cfg["strides"])
    model = TinyCodec(TinyCodecConfig(**cfg), train_encoder=bool(blob["train_encoder"]))
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in blob["state"].items()}
    model.load_state_dict(state)
    model.eval()
    return model, dict(blob["metadata"])


def load_capstone(path: str | Path | None = None) -> tuple[TinyCodec, dict[str, Any]]:
    """The codec shipped with the book (:data:`CAPSTONE_WEIGHTS`) and its training record.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Another weights file; default :data:`CAPSTONE_WEIGHTS`.

    Returns
    -------
    model : TinyCodec
    metadata : dict
        How and how long it was trained (``scripts/train_capstone.py`` wrote it).
    """
    return load_codec(CAPSTONE_WEIGHTS if path is None else path)


def capstone_codes(n_q: int | None = None, *, path: str | Path | None = None) -> np.ndarray:
    """Codes of the held-out clip (:func:`rvqlib.speech.held_out_clip`) under the shipped codec.

    Parameters
    ----------
    n_q : int, optional
        The first ``n_q`` stages (default all).
    path : str or pathlib.Path, optional
        Another weights file.

    Returns
    -------
    numpy.ndarray
        ``(frames, n_q)`` int64 codes in ``[0, codebook_size)``.
    """
    from rvqlib.speech import held_out_clip

    model, _ = load_capstone(path)
    return model.encode(held_out_clip().audio, n_q).numpy()
