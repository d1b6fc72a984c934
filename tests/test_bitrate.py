"""Tests for rvqlib.bitrate: the bitrate formula, published codec configurations, entropy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rvqlib.bitrate import (
    CODECS,
    CodecConfig,
    bitrate,
    bits_per_frame,
    empirical_entropy,
    frame_rate,
)


def test_notes_worked_example():
    # 24 kHz, stride 320, 8 quantizers of 1024 entries: 75 Hz, 80 bits, 6 kbps; 4 stages: 3 kbps
    assert frame_rate(24_000, 320) == 75.0
    assert bits_per_frame(8, 1024) == 80.0
    assert bitrate(24_000, 320, 8, 1024) == 6000.0
    assert bitrate(24_000, 320, 4, 1024) == 3000.0


@settings(deadline=None)
@given(
    st.integers(8_000, 96_000),
    st.integers(1, 4096),
    st.integers(1, 64),
    st.integers(1, 16),
)
def test_bitrate_linear_in_n_q_and_log2_k(sample_rate, hop, n_q, log2k):
    k = 2**log2k
    b = bitrate(sample_rate, hop, n_q, k)
    assert b == pytest.approx(sample_rate / hop * n_q * log2k, rel=1e-12)
    # linear in n_q: adding a stage adds one stage's worth
    assert bitrate(sample_rate, hop, n_q + 1, k) - b == pytest.approx(b / n_q, rel=1e-9)
    assert bitrate(sample_rate, hop, 2 * n_q, k) == pytest.approx(2 * b, rel=1e-12)
    # linear in log2 K: squaring K doubles the rate
    assert bitrate(sample_rate, hop, n_q, k * k) == pytest.approx(2 * b, rel=1e-12)
    assert bits_per_frame(n_q, 2 * k) - bits_per_frame(n_q, k) == pytest.approx(n_q)


def test_non_power_of_two_codebook():
    assert bits_per_frame(3, 1000) == pytest.approx(3 * math.log2(1000))
    assert bits_per_frame(5, 1) == 0.0


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: frame_rate(0, 320), ValueError, "sample_rate must be a finite number > 0"),
        (lambda: frame_rate(24_000, -1), ValueError, "hop must be a finite number > 0"),
        (lambda: frame_rate("24k", 320), TypeError, "sample_rate must be a real number"),
        (lambda: frame_rate(float("inf"), 320), ValueError, "sample_rate must be a finite"),
        (lambda: bits_per_frame(0, 1024), ValueError, "n_q must be positive"),
        (lambda: bits_per_frame(8, 0), ValueError, "codebook_size must be positive"),
        (lambda: bits_per_frame(8.0, 1024), TypeError, "n_q must be an integer"),
        (lambda: bitrate(24_000, 320, 8, 1024.5), TypeError, "codebook_size must be an integer"),
        (lambda: bitrate(24_000, 0, 8, 1024), ValueError, "hop must be"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------------------- codecs


def test_required_codecs_present_with_sources():
    for key in ("encodec_24khz", "soundstream", "dac_44khz", "mimi"):
        assert key in CODECS
    keys = {
        "defossez2023encodec",
        "zeghidour2021soundstream",
        "kumar2023dac",
        "defossez2024moshi",
        "zhang2024speechtokenizer",
    }
    for cfg in CODECS.values():
        assert isinstance(cfg, CodecConfig)
        assert cfg.citation in keys
        assert cfg.source and cfg.name
    with pytest.raises(TypeError):
        CODECS["x"] = CODECS["mimi"]  # read-only


def test_encodec_24khz_bandwidths():
    cfg = CODECS["encodec_24khz"]
    assert cfg.frame_rate == 75.0
    assert [cfg.kbps(n) for n in cfg.n_q_options] == [1.5, 3.0, 6.0, 12.0, 24.0]


@pytest.mark.parametrize("key", sorted(CODECS))
def test_computed_bitrates_match_published(key):
    cfg = CODECS[key]
    for n_q, computed, published in cfg.table():
        assert computed == pytest.approx(cfg.bitrate(n_q) / 1000)
        if published is not None:
            # every published figure is the formula's value up to rounding to <= 0.25 kbps
            assert computed == pytest.approx(published, abs=0.25)


def test_specific_configurations():
    assert CODECS["encodec_48khz"].frame_rate == 150.0
    assert [CODECS["encodec_48khz"].kbps(n) for n in (2, 4, 8, 16)] == [3.0, 6.0, 12.0, 24.0]
    assert [CODECS["soundstream"].kbps(n) for n in (4, 8, 16, 24)] == [3.0, 6.0, 12.0, 18.0]
    dac = CODECS["dac_44khz"]
    assert dac.bitrate(9) == pytest.approx(44_100 / 512 * 90)
    assert round(dac.kbps(9), 2) == 7.75 and dac.published_kbps == (8.0,)
    mimi = CODECS["mimi"]
    assert mimi.frame_rate == 12.5 and mimi.kbps(8) == 1.1
    assert CODECS["dac_24khz"].kbps(32) == 24.0
    assert CODECS["dac_16khz"].kbps(12) == 6.0
    assert CODECS["speechtokenizer"].kbps(8) == 4.0


def test_codec_config_validation():
    good = dict(
        name="x",
        sample_rate=16_000,
        hop=320,
        codebook_size=1024,
        n_q_options=(1, 2),
        published_kbps=(0.5, 1.0),
        citation="k",
        source="s",
    )
    CodecConfig(**good)
    with pytest.raises(ValueError, match="published_kbps must have one entry per n_q"):
        CodecConfig(**{**good, "published_kbps": (0.5,)})
    with pytest.raises(ValueError, match="hop must be positive"):
        CodecConfig(**{**good, "hop": 0})
    with pytest.raises(ValueError, match="n_q_options must list"):
        CodecConfig(**{**good, "n_q_options": (), "published_kbps": ()})


# ----------------------------------------------------------------------------- entropy


def test_entropy_values():
    assert empirical_entropy([0, 1, 2, 3], 4) == 2.0
    assert empirical_entropy(np.zeros(10, int), 1024) == 0.0
    p = np.array([0.75, 0.25])
    assert empirical_entropy([0, 0, 0, 1], 4) == pytest.approx(-(p * np.log2(p)).sum())
    codes = np.random.default_rng(0).integers(0, 256, size=200_000)
    assert empirical_entropy(codes, 256) == pytest.approx(8.0, abs=0.01)
    assert empirical_entropy(codes, 256) <= 8.0


@settings(deadline=None)
@given(st.lists(st.integers(0, 15), min_size=1, max_size=200))
def test_entropy_bounds_and_torch(values):
    h = empirical_entropy(values, 16)
    assert 0.0 <= h <= math.log2(min(16, len(values))) + 1e-12
    assert empirical_entropy(torch.tensor(values), 16) == pytest.approx(h, abs=1e-12)


@pytest.mark.parametrize(
    ("codes", "k", "exc", "match"),
    [
        ([0, 4], 4, ValueError, r"codes must lie in \[0, 4\)"),
        ([-1, 0], 4, ValueError, r"codes must lie in \[0, 4\)"),
        ([], 4, ValueError, "codes is empty"),
        ([0, 1], 0, ValueError, "codebook_size must be positive"),
        ([0.5], 4, ValueError, "codes must hold integer"),
        (["a"], 4, TypeError, "codes must be an integer array"),
        (torch.tensor([0, 9]), 4, ValueError, r"codes must lie in \[0, 4\)"),
    ],
)
def test_entropy_bad_input(codes, k, exc, match):
    with pytest.raises(exc, match=match):
        empirical_entropy(codes, k)


def test_empirical_entropy_reports_codes_beyond_int64_as_they_are():
    with pytest.raises(ValueError, match=r"codes .*int64 range, got the value 1e\+30$"):
        empirical_entropy(np.array([0.0, 1e30]), 4)
    with pytest.raises(ValueError, match=r"got the value 18446744073709551615$"):
        empirical_entropy(np.array([0, 2**64 - 1], dtype=np.uint64), 4)
