"""rvqlib.bitstream: fixed-width packing of codes, its header, and damaged streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rvqlib.bitstream import (
    HEADER_BYTES,
    pack_codes,
    packed_size,
    read_codes,
    unpack_codes,
    write_codes,
)


def test_known_bytes():
    # codes 1, 2, 3, 0 at 2 bits each: 01 10 11 00 = 0x6c
    data = pack_codes([[1, 2], [3, 0]], 4, hop=128, sample_rate=16000)
    assert len(data) == HEADER_BYTES + 1 == 21
    assert data[:4] == b"RVQC" and data[HEADER_BYTES:] == bytes([0x6C])
    got = unpack_codes(data)
    assert got.codes.tolist() == [[1, 2], [3, 0]]
    assert (got.codebook_size, got.hop, got.sample_rate) == (4, 128, 16000)
    assert got.bits_per_code == 2


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 40),
    st.integers(1, 9),
    st.sampled_from([2, 3, 16, 64, 100, 256, 1000, 1024, 4096, 2**24]),
    st.integers(0, 2**31 - 1),
)
def test_round_trip(n_frames, n_q, k, seed):
    codes = np.random.default_rng(seed).integers(0, k, (n_frames, n_q))
    data = pack_codes(codes, k, hop=320, sample_rate=24000)
    assert len(data) == packed_size(n_frames, n_q, k)
    assert len(data) == HEADER_BYTES + math.ceil(n_frames * n_q * math.ceil(math.log2(k)) / 8)
    got = unpack_codes(data)
    assert got.codes.shape == (n_frames, n_q) and got.codes.dtype == np.int64
    assert np.array_equal(got.codes, codes)


def test_size_is_the_nominal_bitrate():
    # 125 frames/s, 8 stages of 256 codes: 8 kbps, i.e. 1000 bytes per second
    codes = np.zeros((125 * 3, 8), dtype=np.int64)
    data = pack_codes(codes, 256, hop=128, sample_rate=16000)
    assert len(data) - HEADER_BYTES == 3000
    assert unpack_codes(data).kbps == 8.0


def test_torch_codes_and_one_stage(tmp_path):
    codes = torch.tensor([3, 1, 2])
    size = write_codes(tmp_path / "c.bin", codes, 4, hop=64, sample_rate=8000)
    assert size == (tmp_path / "c.bin").stat().st_size == HEADER_BYTES + 1
    got = read_codes(tmp_path / "c.bin")
    assert got.codes.tolist() == [[3], [1], [2]] and got.sample_rate == 8000


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="integers"):
        pack_codes([[0.0, 1.0]], 4, hop=1, sample_rate=16000)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        pack_codes([[0, 4]], 4, hop=1, sample_rate=16000)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        pack_codes([[-1, 0]], 4, hop=1, sample_rate=16000)
    with pytest.raises(ValueError, match="shape"):
        pack_codes(np.zeros((2, 2, 2), dtype=int), 4, hop=1, sample_rate=16000)
    with pytest.raises(ValueError, match="multiple of 10"):
        pack_codes([[0]], 4, hop=1, sample_rate=16001)
    with pytest.raises(ValueError, match="hop"):
        pack_codes([[0]], 4, hop=0, sample_rate=16000)
    with pytest.raises(ValueError, match="codebook_size"):
        pack_codes([[0]], 1, hop=1, sample_rate=16000)
    with pytest.raises(TypeError, match="bytes"):
        unpack_codes("RVQC")


def test_damaged_streams_are_detected():
    data = pack_codes(np.arange(12).reshape(4, 3) % 5, 5, hop=128, sample_rate=16000)
    with pytest.raises(ValueError, match="too short"):
        unpack_codes(data[:10])
    with pytest.raises(ValueError, match="magic"):
        unpack_codes(b"XXXX" + data[4:])
    with pytest.raises(ValueError, match="version"):
        unpack_codes(data[:4] + bytes([9]) + data[5:])
    with pytest.raises(ValueError, match="announces"):
        unpack_codes(data[:-1])
    with pytest.raises(ValueError, match="announces"):
        unpack_codes(data + b"\x00")
    # 4 x 3 codes of 3 bits = 36 bits: the last byte has 4 padding bits
    with pytest.raises(ValueError, match="padding"):
        unpack_codes(data[:-1] + bytes([data[-1] | 1]))
    # a code of 7 (>= K = 5) in the first frame
    first = (0b111 << 5) | (data[HEADER_BYTES] & 0b11111)
    with pytest.raises(ValueError, match=">= the codebook size"):
        unpack_codes(data[:HEADER_BYTES] + bytes([first]) + data[HEADER_BYTES + 1 :])


@pytest.mark.parametrize("k", [2**24 + 1, 2**31, 2**32 - 1])
def test_a_header_with_k_beyond_the_format_is_refused(k):
    # was: K = 2**31 was read back as codebook_size 2147483648 (pack_codes refuses K > 2**24)
    import struct

    with pytest.raises(ValueError, match="codebook_size"):
        pack_codes([[0]], k, hop=1, sample_rate=10)
    header = struct.pack("<4sBBHIIHH", b"RVQC", 1, 1, 0, k, 1, 1, 1)
    width = math.ceil(math.log2(k))  # one frame of one code: a length the header agrees with
    data = header + bytes(math.ceil(width / 8))
    with pytest.raises(ValueError, match=r"damaged header: codebook size K = \d+ is outside"):
        unpack_codes(data)


def test_the_largest_k_of_the_format_round_trips():
    codes = np.array([[0, 2**24 - 1], [12345, 1]])
    got = unpack_codes(pack_codes(codes, 2**24, hop=320, sample_rate=16000))
    assert got.codebook_size == 2**24 and got.bits_per_code == 24
    np.testing.assert_array_equal(got.codes, codes)
