"""rvqlib.speech and the corpus in data/speech: reading, resampling, splits, documentation."""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from rvqlib.speech import (
    CORPUS_DIR,
    HELD_OUT_CLIP,
    HELD_OUT_VOICE,
    SAMPLE_RATE,
    held_out_clip,
    load_audio,
    load_corpus,
    resample,
)


@pytest.fixture(scope="module")
def manifest():
    with (CORPUS_DIR / "manifest.tsv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_files_and_manifest_agree(manifest):
    listed = {r["file"] for r in manifest}
    on_disk = {f"audio/{p.name}" for p in (CORPUS_DIR / "audio").glob("*.flac")}
    assert listed == on_disk and len(listed) == len(manifest)
    for r in manifest:
        info = sf.info(CORPUS_DIR / r["file"])
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert info.frames / SAMPLE_RATE == pytest.approx(float(r["seconds"]), abs=1e-3)
    assert (CORPUS_DIR / "LICENSE").is_file() and (CORPUS_DIR / "README.md").is_file()


def test_readme_table_matches_the_manifest(manifest):
    text = (CORPUS_DIR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \**([a-z0-9-]+)\** \|.*\| (\d+) \| ([\d.]+) \|$", text, re.M)
    assert len(rows) == len({r["voice"] for r in manifest})
    for voice, files, seconds in rows:
        mine = [r for r in manifest if r["voice"] == voice]
        assert len(mine) == int(files)
        assert sum(float(r["seconds"]) for r in mine) == pytest.approx(float(seconds), abs=0.05)


def test_splits_hold_out_a_voice_and_its_sentences():
    train, test = load_corpus("train"), load_corpus("test")
    assert {u.voice for u in test} == {HELD_OUT_VOICE}
    assert HELD_OUT_VOICE not in {u.voice for u in train}
    assert not {u.text_id for u in test} & {u.text_id for u in train}
    assert {u.language for u in train} == {"en", "ar"}
    assert all(u.audio.dtype == np.float32 and u.sample_rate == SAMPLE_RATE for u in test)
    assert all(np.abs(u.audio).max() <= 1.0 for u in train + test)
    assert sum(u.seconds for u in train) > 120 and sum(u.seconds for u in test) > 20
    # the loudness normalisation of the corpus script: -20 dBFS RMS unless the peak limits it
    rms = [20 * np.log10(np.sqrt(np.mean(u.audio.astype(float) ** 2))) for u in train]
    assert max(rms) < -19.9 and np.median(rms) > -21.0
    clip = held_out_clip()
    assert (clip.voice, clip.text_id) == (HELD_OUT_VOICE, HELD_OUT_CLIP) and clip.split == "test"


def test_filters_and_errors(tmp_path):
    arabic = load_corpus(language="ar")
    assert arabic and {u.language for u in arabic} == {"ar"}
    assert "ا" in arabic[0].text  # the Arabic text is read as UTF-8
    assert {u.voice for u in load_corpus(voices="flite-awb")} == {"flite-awb"}
    with pytest.raises(ValueError, match="split"):
        load_corpus("dev")
    with pytest.raises(ValueError, match="unknown voices"):
        load_corpus(voices=["nobody"])
    with pytest.raises(ValueError, match="no utterance"):
        load_corpus("test", language="ar")
    with pytest.raises(FileNotFoundError, match="manifest"):
        load_corpus(root=tmp_path)


def test_resample():
    t = np.arange(16000) / 16000
    x = np.sin(2 * np.pi * 440 * t)
    y = resample(x, 16000, 8000)
    assert y.shape == (8000,) and y.dtype == np.float64
    ref = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    assert np.max(np.abs(y[100:-100] - ref[100:-100])) < 1e-3
    z = resample(x.astype(np.float32), 16000, 16000 / 6)  # non-integer rate
    assert z.dtype == np.float32 and abs(len(z) - 16000 / 6) <= 1
    # content above the new Nyquist frequency is removed
    high = np.sin(2 * np.pi * 6000 * t)
    assert np.sqrt(np.mean(resample(high, 16000, 8000)[100:-100] ** 2)) < 1e-3
    with pytest.raises(ValueError, match="1-D"):
        resample(np.zeros((2, 10)), 16000, 8000)
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 8000)
    with pytest.raises(TypeError):
        resample(["a"], 16000, 8000)


def test_load_audio_mixes_and_resamples(tmp_path):
    t = np.arange(22050) / 22050
    stereo = np.stack([np.sin(2 * np.pi * 300 * t), np.zeros_like(t)], axis=1) * 0.5
    sf.write(tmp_path / "s.wav", stereo, 22050)
    audio, rate = load_audio(tmp_path / "s.wav")
    assert rate == 16000 and audio.dtype == np.float32 and abs(len(audio) - 16000) <= 1
    assert np.abs(audio).max() == pytest.approx(0.25, abs=0.01)
    same, rate = load_audio(tmp_path / "s.wav", sample_rate=None)
    assert rate == 22050 and len(same) == 22050
    with pytest.raises(FileNotFoundError):
        load_audio(tmp_path / "missing.flac")


def test_import_rvqlib_stays_light():
    code = (
        "import sys, rvqlib, rvqlib.speech, rvqlib.codec, rvqlib.classic, "
        "rvqlib.bitstream, rvqlib.audio_metrics\n"
        "heavy = {'soundfile', 'soxr', 'scipy.signal'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
