"""rvqlib.entropy: the rANS coder, its models and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rvqlib.bitrate import empirical_entropy
from rvqlib.entropy import entropy_decode, entropy_encode, frequency_model, ideal_length


def bits(data: bytes) -> int:
    return 8 * len(data)


def bounded(k: int, rng: np.random.Generator, concentration: float) -> np.ndarray:
    """A random distribution on k symbols with every probability >= 2**-12."""
    floor = 2.0**-12
    return floor + (1 - k * floor) * rng.dirichlet(np.full(k, concentration))


def sample(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One symbol from each row of ``p`` (n, K), always one of positive probability."""
    cdf = np.cumsum(p, axis=1)
    u = rng.random((p.shape[0], 1)) * cdf[:, -1:]
    s = (cdf <= u).sum(axis=1)
    last_positive = p.shape[1] - 1 - np.argmax(p[:, ::-1] > 0, axis=1)
    return np.minimum(s, last_positive).astype(np.int64)


@st.composite
def model_and_symbols(draw, per_symbol: bool = False):
    """A random model (sometimes with zero probabilities) and symbols from its support."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = draw(st.integers(1, 300))
    n = draw(st.integers(1 if per_symbol else 0, 400))
    concentration = draw(st.sampled_from([0.05, 0.5, 5.0]))
    p = rng.dirichlet(np.full(k, concentration), size=n if per_symbol else 1)
    if k > 1 and draw(st.booleans()):
        p[:, rng.random(k) < 0.3] = 0.0  # unused symbols
        p[:, rng.integers(k)] += 1e-3
        p /= p.sum(axis=1, keepdims=True)
    s = sample(p if per_symbol else np.repeat(p, n, axis=0), rng)
    return s, (p if per_symbol else p[0])


@settings(max_examples=80, deadline=None)
@given(model_and_symbols())
def test_round_trip_static_model(case):
    s, p = case
    data = entropy_encode(s, p)
    np.testing.assert_array_equal(entropy_decode(data, p, len(s)), s)


@settings(max_examples=60, deadline=None)
@given(model_and_symbols(per_symbol=True))
def test_round_trip_per_symbol_model(case):
    s, p = case
    data = entropy_encode(s, p)
    np.testing.assert_array_equal(entropy_decode(data, p, len(s)), s)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 30), st.integers(0, 300))
def test_round_trip_context_models(seed, k, n_ctx, n):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, k, n)
    ctx = rng.integers(0, n_ctx, n)
    table = frequency_model(s, k, contexts=ctx, n_contexts=n_ctx)
    data = entropy_encode(s, table, contexts=ctx)
    np.testing.assert_array_equal(entropy_decode(data, table, n, contexts=ctx), s)
    markov = frequency_model(s, k, contexts="previous")
    data = entropy_encode(s, markov, contexts="previous")
    np.testing.assert_array_equal(entropy_decode(data, markov, n, contexts="previous"), s)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 4096),
    st.integers(0, 3000),
    st.sampled_from([0.02, 0.3, 3.0]),
    st.sampled_from(["model", "frequent", "rare"]),
)
def test_length_within_one_percent_plus_64_bits(seed, k, n, concentration, stream):
    """The contract: every probability >= 2**-12 => bits <= 1.01 * ideal + 64."""
    rng = np.random.default_rng(seed)
    p = bounded(k, rng, concentration)
    if stream == "model":
        s = rng.choice(k, size=n, p=p)
    elif stream == "frequent":  # the hardest case for a relative bound: ideal ~ 0 per symbol
        s = np.full(n, int(np.argmax(p)))
    else:
        s = np.full(n, int(np.argmin(p)))
    data = entropy_encode(s, p)
    ideal = ideal_length(s, p)
    assert bits(data) <= 1.01 * ideal + 64
    np.testing.assert_array_equal(entropy_decode(data, p, n), s)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 512), st.integers(1, 600))
def test_length_bound_per_symbol_model(seed, k, n):
    rng = np.random.default_rng(seed)
    p = np.stack([bounded(k, rng, 0.3) for _ in range(n)])
    s = np.array([rng.choice(k, p=row) for row in p])
    data = entropy_encode(s, p)
    assert bits(data) <= 1.01 * ideal_length(s, p) + 64


def test_a_minute_of_codec_codes_is_close_to_ideal():
    """75 Hz x 8 stages x 60 s = 36,000 codes of K = 1024: overhead well under the bound."""
    rng = np.random.default_rng(0)
    codes = rng.choice(1024, size=36_000, p=rng.dirichlet(np.full(1024, 0.5)))
    p = frequency_model(codes, 1024)
    data = entropy_encode(codes, p)
    ideal = ideal_length(codes, p)
    assert ideal < bits(data) <= ideal + 64
    # a model fitted without smoothing has the empirical entropy as its ideal length
    p0 = frequency_model(codes, 1024, alpha=0)
    assert ideal_length(codes, p0) == pytest.approx(36_000 * empirical_entropy(codes, 1024))
    np.testing.assert_array_equal(entropy_decode(data, p, codes.size), codes)


def test_known_lengths():
    # dyadic probabilities: the ideal length is an integer number of bits
    p = [0.5, 0.25, 0.125, 0.125]
    assert ideal_length([0, 0, 1, 3, 0, 2], p) == 11.0
    assert entropy_encode([], p) == entropy_encode(np.zeros(0, int), p)
    assert entropy_decode(entropy_encode([], p), p, 0).shape == (0,)
    # one symbol of probability 1 costs nothing: only the initial state M = 2**24
    # (4 bytes, little-endian) and the prefix remain
    assert entropy_encode(np.zeros(10_000, int), [1.0]) == b"\x04\x00\x00\x00\x01"
    assert ideal_length([0] * 5, [1.0]) == 0.0


def test_torch_in_torch_out():
    p = torch.tensor([0.2, 0.3, 0.5])
    s = torch.tensor([2, 2, 0, 1])
    data = entropy_encode(s, p)
    out = entropy_decode(data, p, 4)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.long
    assert torch.equal(out, s)
    assert data == entropy_encode(s.numpy(), p.numpy())


def test_renormalises_small_errors_and_rejects_others():
    p = np.array([0.2, 0.3, 0.5]) * (1 + 5e-4)  # float32 softmax-sized error: accepted
    s = [0, 1, 2, 2]
    assert ideal_length(s, p) == pytest.approx(ideal_length(s, p / p.sum()))
    np.testing.assert_array_equal(entropy_decode(entropy_encode(s, p), p, 4), s)
    with pytest.raises(ValueError, match="must sum to 1"):
        entropy_encode(s, [2.0, 3.0, 5.0])
    with pytest.raises(ValueError, match=r"must sum to 1.*\(row 1\)"):
        entropy_encode([0, 1], [[0.5, 0.5], [0.5, 0.6]])
    with pytest.raises(ValueError, match="non-negative"):
        entropy_encode(s, [-0.1, 0.6, 0.5])
    with pytest.raises(ValueError, match="finite"):
        entropy_encode(s, [np.nan, 0.5, 0.5])


def test_probability_zero_is_a_clear_error():
    with pytest.raises(ValueError, match=r"symbols\[2\] = 1 has probability 0"):
        entropy_encode([0, 2, 1], [0.5, 0.0, 0.5])
    with pytest.raises(ValueError, match=r"symbols\[1\] = 0 has probability 0.*row 1"):
        entropy_encode([0, 0], [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="infinite"):
        ideal_length([1], [1.0, 0.0])


def test_other_input_errors():
    p = [0.5, 0.5]
    with pytest.raises(ValueError, match=r"symbols must lie in \[0, 2\)"):
        entropy_encode([0, 2], p)
    with pytest.raises(ValueError, match=r"symbols must lie in \[0, 2\)"):
        entropy_encode([-1], p)
    with pytest.raises(ValueError, match="symbols must be a 1-D"):
        entropy_encode([[0, 1]], p)
    with pytest.raises(TypeError, match="symbols must hold integer|symbols must be"):
        entropy_encode(["a"], p)
    with pytest.raises(ValueError, match="needs 3 rows"):
        entropy_encode([0, 1, 1], [[0.5, 0.5]] * 2)
    with pytest.raises(ValueError, match=r"contexts must have shape \(2,\)"):
        entropy_encode([0, 1], [[0.5, 0.5]], contexts=[0])
    with pytest.raises(ValueError, match=r"contexts must lie in \[0, 1\)"):
        entropy_encode([0, 1], [[0.5, 0.5]], contexts=[0, 1])
    with pytest.raises(ValueError, match=r"\(K \+ 1, K\)"):
        entropy_encode([0, 1], [[0.5, 0.5]] * 2, contexts="previous")
    with pytest.raises(ValueError, match="contexts must be None"):
        entropy_encode([0, 1], [[0.5, 0.5]] * 2, contexts="next")
    with pytest.raises(ValueError, match=r"shape \(K,\)"):
        entropy_encode([0], np.ones((1, 1, 1)))
    with pytest.raises(TypeError, match="data must be bytes"):
        entropy_decode("abc", p, 1)
    with pytest.raises(TypeError, match="n must be"):
        entropy_decode(b"\x01\x01", p, 1.0)
    with pytest.raises(ValueError, match="n must be >= 0"):
        entropy_decode(b"\x01\x01", p, -1)


def test_every_truncation_and_extension_is_detected():
    rng = np.random.default_rng(3)
    for k, n in [(2, 50), (16, 300), (1024, 2000), (300, 7)]:
        p = rng.dirichlet(np.ones(k))
        s = rng.choice(k, size=n, p=p)
        data = entropy_encode(s, p)
        for cut in range(1, len(data) + 1):
            with pytest.raises(ValueError, match="truncated or corrupted"):
                entropy_decode(data[: len(data) - cut], p, n)
        with pytest.raises(ValueError, match="truncated or corrupted"):
            entropy_decode(data + b"\x00", p, n)


def test_wrong_model_or_length_or_flipped_bits_are_detected():
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(64))
    s = rng.choice(64, size=3000, p=p)
    data = entropy_encode(s, p)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        entropy_decode(data, p, 2999)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        entropy_decode(data, rng.dirichlet(np.ones(64)), 3000)
    detected = 0
    for _ in range(50):
        corrupted = bytearray(data)
        i = int(rng.integers(3, len(data)))  # past the length prefix
        corrupted[i] ^= 1 << int(rng.integers(8))
        try:
            entropy_decode(bytes(corrupted), p, 3000)
        except ValueError:
            detected += 1
    assert detected == 50


def test_frequency_model():
    s = np.array([0, 0, 1, 2, 2, 2])
    np.testing.assert_allclose(frequency_model(s, 4, alpha=0), [2 / 6, 1 / 6, 3 / 6, 0])
    np.testing.assert_allclose(frequency_model(s, 4, alpha=1), [3 / 10, 2 / 10, 4 / 10, 1 / 10])
    table = frequency_model(s, 3, contexts="previous", alpha=0)
    assert table.shape == (4, 3)
    np.testing.assert_allclose(table[3], [1, 0, 0])  # the first symbol
    np.testing.assert_allclose(table[2], [0, 0, 1])  # 2 is followed by 2, 2
    np.testing.assert_allclose(table[0], [0.5, 0.5, 0])
    ctx = np.array([1, 1, 0, 0, 1, 1])
    table = frequency_model(s, 3, contexts=ctx, n_contexts=3, alpha=0)
    np.testing.assert_allclose(table[2], [1 / 3] * 3)  # a context never seen: uniform
    np.testing.assert_allclose(table[0], [0, 0.5, 0.5])
    # ideal length under a fitted order-1 model = n x empirical conditional entropy
    markov = frequency_model(s, 3, contexts="previous", alpha=0)
    # the two symbols after a 0 cost 1 bit each, every other symbol is certain
    assert ideal_length(s, markov, contexts="previous") == pytest.approx(2.0)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        frequency_model(s, 3, alpha=-1)
    with pytest.raises(ValueError, match=r"contexts must lie in \[0, 1\)"):
        frequency_model(s, 3, contexts=ctx, n_contexts=1)
    with pytest.raises(ValueError, match=r"symbols must lie in \[0, 2\)"):
        frequency_model(s, 2)


def test_context_model_saves_bits_on_a_markov_chain():
    """A sticky chain: the order-1 model codes it in far fewer bits than the unigram model."""
    rng = np.random.default_rng(5)
    k, n = 32, 5000
    s = np.empty(n, dtype=np.int64)
    s[0] = 0
    for i in range(1, n):
        s[i] = s[i - 1] if rng.random() < 0.9 else rng.integers(k)
    uni = entropy_encode(s, frequency_model(s, k))
    table = frequency_model(s, k, contexts="previous")
    markov = entropy_encode(s, table, contexts="previous")
    assert bits(markov) < 0.4 * bits(uni)
    np.testing.assert_array_equal(entropy_decode(markov, table, n, contexts="previous"), s)


# ------------------------------------------------------------------ a wrong n
def _first(contexts, m):
    """The contexts of the first ``m`` symbols (None and "previous" as they are)."""
    return contexts if contexts is None or isinstance(contexts, str) else contexts[:m]


@pytest.mark.parametrize("contexts", [None, "previous", "rows", "per-symbol"])
def test_a_wrong_n_is_always_detected(contexts):
    # regression: the state used to start at 1, which a symbol whose slots start at 0
    # leaves unchanged; trailing runs of it cost nothing, and decoding with a larger
    # n appended fake zeros (a smaller one dropped real ones) without an error
    p = np.array([0.5, 0.25, 0.125, 0.125])
    rng = np.random.default_rng(1)
    for msg in ([1, 2, 3, 0, 0], [1, 2, 3], [0, 0, 0], [], *rng.integers(0, 4, (20, 9))):
        msg = np.asarray(msg, dtype=np.int64)
        n = msg.size
        if contexts == "per-symbol" and n == 0:
            continue
        if contexts == "previous":
            model, ctx = np.tile(p, (5, 1)), "previous"
        elif contexts == "rows":
            model, ctx = np.stack([p, p[::-1]]), np.arange(n + 6) % 2
        else:
            model, ctx = p, None
        if contexts == "per-symbol":
            model = np.tile(p, (n, 1))
        data = entropy_encode(msg, model, contexts=_first(ctx, n))
        for m in (n - 2, n - 1, n + 1, n + 3):
            if m < 0 or contexts == "per-symbol":  # a per-symbol model fixes n itself
                continue
            with pytest.raises(ValueError, match="number of symbols than n"):
                entropy_decode(data, model, m, contexts=_first(ctx, m))
        np.testing.assert_array_equal(entropy_decode(data, model, n, contexts=_first(ctx, n)), msg)


def test_trailing_zeros_cost_their_ideal_length():
    # the same regression seen from the encoder: BAD and BAD followed by A's (A owns
    # the slots from 0) no longer code to the same bytes
    p = [0.5, 0.25, 0.125, 0.125]
    streams = {entropy_encode([1, 0, 3] + [0] * t, p) for t in range(6)}
    assert len(streams) == 6
    run = [0] * 100
    skew = [2.0**-12, 1 - 2.0**-12]
    assert bits(entropy_encode(run, skew)) >= ideal_length(run, skew) == 1200
