"""The book's speech corpus, and reading and resampling audio (chapters 8, 10, 11).

The corpus in ``data/speech/`` holds short sentences in English and Arabic, each a
16 kHz mono 16-bit FLAC file, spoken by eight synthetic voices (Flite and eSpeak
NG; ``scripts/make_speech_corpus.py`` made them, ``data/speech/README.md`` lists
them with their licences). One voice, :data:`HELD_OUT_VOICE`, reads sentences no
other voice reads and is never used for training: it is the test set
(``split == "test"``).

Reading goes through ``soundfile`` (libsndfile) and resampling through ``soxr``;
both are imported inside the functions that need them, so ``import rvqlib`` pays
only for numpy and torch.

Examples
--------
>>> from rvqlib.speech import load_corpus
>>> test = load_corpus("test")  # doctest: +SKIP
>>> {u.voice for u in test}  # doctest: +SKIP
{'flite-slt'}
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CORPUS_DIR",
    "HELD_OUT_CLIP",
    "HELD_OUT_VOICE",
    "SAMPLE_RATE",
    "Utterance",
    "held_out_clip",
    "load_audio",
    "load_corpus",
    "resample",
]

#: Sample rate of every file of the corpus, in Hz.
SAMPLE_RATE: int = 16_000
#: Where the corpus lives: ``data/speech`` beside the ``rvqlib`` package.
CORPUS_DIR: Path = Path(__file__).resolve().parents[1] / "data" / "speech"
#: The voice kept out of training (a female Flite voice; the training voices are
#: three other Flite voices and four eSpeak NG voices).
HELD_OUT_VOICE: str = "flite-slt"
#: The sentence of the held-out voice that chapter 8 plays, codes and writes to bytes.
HELD_OUT_CLIP: str = "en28"

_SPLITS = ("train", "test")


@dataclass(frozen=True)
class Utterance:
    """One file of the corpus.

    Attributes
    ----------
    file : str
        Path relative to the corpus folder (``audio/<voice>_<text_id>.flac``).
    voice : str
        Voice name, e.g. ``"flite-awb"`` or ``"espeak-ar"``.
    engine : str
        The synthesizer: ``"flite"`` or ``"espeak-ng"``.
    language : str
        ``"en"`` or ``"ar"``.
    split : str
        ``"train"`` or ``"test"`` (the held-out voice).
    text_id : str
        The sentence's id in ``texts.tsv``.
    text : str
        The sentence.
    audio : numpy.ndarray
        The samples, float32 in ``[-1, 1]``, shape ``(n,)``.
    sample_rate : int
        Samples per second of ``audio``.
    """

    file: str
    voice: str
    engine: str
    language: str
    split: str
    text_id: str
    text: str
    audio: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self.audio) / self.sample_rate


def _rate(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a positive integer (Hz), got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer (Hz), got {value}")
    return int(value)


def _rate_real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a positive number (Hz), got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number (Hz), got {value}")
    return value


def resample(x: Any, from_rate: float, to_rate: float) -> np.ndarray:
    """Resample a mono signal with ``soxr`` (high quality, linear phase).

    The output has ``round(len(x) * to_rate / from_rate)`` samples. Any ratio is
    allowed, including non-integer sample rates (the classic coders of
    :mod:`rvqlib.classic` run at rates such as 2666.67 Hz).

    Parameters
    ----------
    x : array_like
        The samples, shape ``(n,)``.
    from_rate, to_rate : float
        Input and output sample rates in Hz.

    Returns
    -------
    numpy.ndarray
        The resampled signal, float64 for float64 input and float32 otherwise.

    Raises
    ------
    TypeError
        If ``x`` is not numeric or a rate is not a number.
    ValueError
        If ``x`` is not 1-D, is empty or holds NaN/inf, or a rate is not positive.
    """
    import soxr

    from_rate = _rate_real(from_rate, "from_rate")
    to_rate = _rate_real(to_rate, "to_rate")
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise TypeError(f"x must be a real array of samples, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"x must be a non-empty 1-D array of samples, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("x holds NaN or inf")
    dtype = np.float64 if arr.dtype == np.float64 else np.float32
    arr = arr.astype(dtype, copy=False)
    if from_rate == to_rate:
        return arr.copy()
    out = soxr.resample(arr, from_rate, to_rate, quality="HQ")
    return np.ascontiguousarray(out, dtype=dtype)


def load_audio(path: str | Path, sample_rate: int | None = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Read an audio file (WAV, FLAC, ...) as mono float32 with ``soundfile``.

    Several channels are averaged; with ``sample_rate`` given, the signal is
    resampled to it with :func:`resample`.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    sample_rate : int or None, default 16000
        The rate to return; ``None`` keeps the file's own.

    Returns
    -------
    audio : numpy.ndarray
        float32 samples, shape ``(n,)``.
    sample_rate : int
        Their sample rate.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    TypeError, ValueError
        If ``sample_rate`` is not a positive integer.
    """
    import soundfile as sf

    if sample_rate is not None:
        sample_rate = _rate(sample_rate, "sample_rate")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    audio = data.mean(axis=1).astype(np.float32)
    if sample_rate is not None and sample_rate != rate:
        audio = resample(audio, rate, sample_rate).astype(np.float32)
        rate = sample_rate
    return audio, int(rate)


def _read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the corpus is data/speech/ in the book's repository "
            "(pass root= if it lives elsewhere)"
        )
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def load_corpus(
    split: str | None = None,
    *,
    voices: str | list[str] | None = None,
    language: str | None = None,
    root: str | Path | None = None,
) -> list[Utterance]:
    """Load the corpus (or part of it), in the order of ``manifest.tsv``.

    Parameters
    ----------
    split : {"train", "test"}, optional
        Only the training voices, or only the held-out voice; default both.
    voices : str or list of str, optional
        Only these voices (names as in ``manifest.tsv``).
    language : {"en", "ar"}, optional
        Only this language.
    root : str or pathlib.Path, optional
        The corpus folder; default :data:`CORPUS_DIR`.

    Returns
    -------
    list of Utterance
        16 kHz float32 audio with its text and labels.

    Raises
    ------
    ValueError
        Unknown split, language or voice, or no utterance left after filtering.
    FileNotFoundError
        If the corpus (its ``manifest.tsv``) is not found.
    """
    if split is not None and split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS} or None, got {split!r}")
    if language is not None and language not in ("en", "ar"):
        raise ValueError(f"language must be 'en', 'ar' or None, got {language!r}")
    if isinstance(voices, str):
        voices = [voices]
    folder = Path(root) if root is not None else CORPUS_DIR
    rows = _read_tsv(folder / "manifest.tsv")
    texts = {r["id"]: r["text"] for r in _read_tsv(folder / "texts.tsv")}
    known = {r["voice"] for r in rows}
    if voices is not None:
        unknown = sorted(set(voices) - known)
        if unknown:
            raise ValueError(f"unknown voices {unknown}; the corpus has {sorted(known)}")
    out = []
    for r in rows:
        if split is not None and r["split"] != split:
            continue
        if language is not None and r["language"] != language:
            continue
        if voices is not None and r["voice"] not in voices:
            continue
        audio, rate = load_audio(folder / r["file"], SAMPLE_RATE)
        out.append(
            Utterance(
                file=r["file"],
                voice=r["voice"],
                engine=r["engine"],
                language=r["language"],
                split=r["split"],
                text_id=r["text_id"],
                text=texts[r["text_id"]],
                audio=audio,
                sample_rate=rate,
            )
        )
    if not out:
        raise ValueError(
            f"no utterance matches split={split!r}, voices={voices!r}, language={language!r}"
        )
    return out


def held_out_clip(root: str | Path | None = None) -> Utterance:
    """The held-out sentence :data:`HELD_OUT_CLIP` spoken by :data:`HELD_OUT_VOICE`.

    Parameters
    ----------
    root : str or pathlib.Path, optional
        The corpus folder; default :data:`CORPUS_DIR`.

    Returns
    -------
    Utterance
    """
    for u in load_corpus("test", root=root):
        if u.text_id == HELD_OUT_CLIP:
            return u
    raise ValueError(f"the corpus has no held-out clip {HELD_OUT_CLIP!r}")
