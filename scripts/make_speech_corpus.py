"""Make the book's small speech corpus (data/speech/) with two free synthesizers.

The corpus is the capstone's data (chapter 8) and is reused by chapters 10 and 11.
It is committed, so building the book never needs a synthesizer; this script
documents how it was made and remakes it bit for bit on a machine with the same
synthesizer versions (Debian 12: ``apt-get install -y espeak-ng flite``; eSpeak NG
1.51, Flite 2.2).

What it does, for every (voice, sentence) pair listed in :data:`VOICES`:

1. synthesize the sentence of ``data/speech/texts.tsv`` to a temporary WAV file
   (Flite at 16 kHz, eSpeak NG at 22.05 kHz);
2. read it with ``soundfile`` and resample it to 16 kHz with ``soxr``
   (:func:`rvqlib.speech.resample`);
3. remove DC and rumble below 50 Hz (a 2nd-order Butterworth high-pass run
   forwards and backwards), trim leading and trailing silence (below -50 dB of
   the peak, 60 ms kept on each side);
4. scale it to an RMS of -20 dBFS, lowered if needed so that its peak stays at or
   below -0.5 dBFS;
5. write it as 16-bit FLAC to ``data/speech/audio/<voice>_<sentence>.flac`` and
   list it in ``data/speech/manifest.tsv``.

Run from the repository root::

    .venv/bin/python scripts/make_speech_corpus.py
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rvqlib.speech import SAMPLE_RATE, resample  # noqa: E402

CORPUS = ROOT / "data" / "speech"

#: English training sentences en01..en24 are spread over the five English training
#: voices (eight each, so most sentences are read by two voices); en25..en30 are read
#: only by the held-out voice. The two Arabic voices read eight of the twelve Arabic
#: sentences each (four of them by both).
_EN_TRAIN = [f"en{i:02d}" for i in range(1, 25)]
_AR = [f"ar{i:02d}" for i in range(1, 13)]


def _rotate(ids: list[str], start: int, count: int) -> list[str]:
    return [ids[(start + k) % len(ids)] for k in range(count)]


#: (voice name, engine, engine voice, language, split, sentence ids)
VOICES: list[tuple[str, str, str, str, str, list[str]]] = [
    ("flite-kal16", "flite", "kal16", "en", "train", _rotate(_EN_TRAIN, 0, 8)),
    ("flite-awb", "flite", "awb", "en", "train", _rotate(_EN_TRAIN, 5, 8)),
    ("flite-rms", "flite", "rms", "en", "train", _rotate(_EN_TRAIN, 10, 8)),
    ("espeak-en-us", "espeak-ng", "en-us", "en", "train", _rotate(_EN_TRAIN, 15, 8)),
    ("espeak-en-gb-f3", "espeak-ng", "en-gb+f3", "en", "train", _rotate(_EN_TRAIN, 20, 8)),
    ("espeak-ar", "espeak-ng", "ar", "ar", "train", _rotate(_AR, 0, 8)),
    ("espeak-ar-f3", "espeak-ng", "ar+f3", "ar", "train", _rotate(_AR, 6, 8)),
    ("flite-slt", "flite", "slt", "en", "test", [f"en{i:02d}" for i in range(25, 31)]),
]

TARGET_RMS_DBFS = -20.0
PEAK_LIMIT_DBFS = -0.5
SILENCE_DB = -50.0
MARGIN_S = 0.06


def read_texts(path: Path) -> dict[str, tuple[str, str]]:
    """``{id: (language, text)}`` from ``texts.tsv``."""
    with path.open(encoding="utf-8", newline="") as f:
        return {
            row["id"]: (row["language"], row["text"]) for row in csv.DictReader(f, delimiter="\t")
        }


def synthesize(engine: str, voice: str, text: str, wav: Path) -> None:
    """Write ``text`` spoken by ``voice`` to ``wav`` (Flite or eSpeak NG)."""
    if engine == "flite":
        cmd = ["flite", "-voice", voice, "-t", text, "-o", str(wav)]
    elif engine == "espeak-ng":
        cmd = ["espeak-ng", "-v", voice, "-s", "160", "-w", str(wav), text]
    else:
        raise ValueError(f"unknown engine {engine!r}")
    subprocess.run(cmd, check=True, capture_output=True)


def condition(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample to 16 kHz, high-pass at 50 Hz, trim silence, normalise loudness."""
    x = resample(x, sample_rate, SAMPLE_RATE).astype(np.float64)
    sos = signal.butter(2, 50.0, "highpass", fs=SAMPLE_RATE, output="sos")
    x = signal.sosfiltfilt(sos, x)
    level = 20 * np.log10(np.abs(x) + 1e-12)
    loud = np.flatnonzero(level > level.max() + SILENCE_DB)
    margin = int(MARGIN_S * SAMPLE_RATE)
    x = x[max(loud[0] - margin, 0) : loud[-1] + margin + 1]
    gain = 10 ** (TARGET_RMS_DBFS / 20) / np.sqrt(np.mean(x**2))
    gain = min(gain, 10 ** (PEAK_LIMIT_DBFS / 20) / np.abs(x).max())
    return (gain * x).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CORPUS, help="corpus folder (texts.tsv in it)")
    args = parser.parse_args()
    for tool in ("flite", "espeak-ng"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install -y espeak-ng flite")
    texts = read_texts(args.out / "texts.tsv")
    audio_dir = args.out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, engine, voice, language, split, ids in VOICES:
            for text_id in ids:
                lang, text = texts[text_id]
                if lang != language:
                    raise ValueError(f"{name} speaks {language} but {text_id} is {lang}")
                wav = Path(tmp) / "tts.wav"
                synthesize(engine, voice, text, wav)
                raw, sr = sf.read(wav, dtype="float64", always_2d=True)
                x = condition(raw.mean(axis=1), sr)
                rel = f"audio/{name}_{text_id}.flac"
                sf.write(args.out / rel, x, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
                rows.append(
                    {
                        "file": rel,
                        "voice": name,
                        "engine": engine,
                        "engine_voice": voice,
                        "language": language,
                        "split": split,
                        "text_id": text_id,
                        "seconds": f"{len(x) / SAMPLE_RATE:.3f}",
                    }
                )
                print(f"{rel}: {len(x) / SAMPLE_RATE:.2f} s")
    with (args.out / "manifest.tsv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    for split in ("train", "test"):
        secs = sum(float(r["seconds"]) for r in rows if r["split"] == split)
        print(f"{split}: {sum(r['split'] == split for r in rows)} files, {secs:.1f} s")


if __name__ == "__main__":
    main()
