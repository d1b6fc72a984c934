"""Tests for rvqlib.bakeoff: the quantizer bake-off protocol of chapter 10."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from rvqlib.bakeoff import (
    CUSTOM_QUANTIZERS,
    EXTRA_QUANTIZERS,
    FSQ_PAPER_LEVELS,
    LABELS,
    QUANTIZERS,
    BakeoffRun,
    MLPCodec,
    SeedSummary,
    TrainConfig,
    beats,
    make_quantizer,
    ranking_claims,
    run_bakeoff,
    steps_to_target,
    summarize,
    train_run,
)
from rvqlib.fsq import FSQ

TINY = TrainConfig(steps=6, batch=32, eval_every=3, n_curve=50)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 6)).astype(np.float32)
    return x[:300], x[300:]


# ----------------------------------------------------------------- quantizers
@pytest.mark.parametrize("name", QUANTIZERS)
@pytest.mark.parametrize("bits", [8, 16])
def test_every_quantizer_has_exactly_the_nominal_bits(name, bits):
    spec = make_quantizer(name, bits)
    assert spec.bits == bits and spec.name == name
    assert math.isclose(sum(math.log2(k) for k in spec.codebook_sizes), bits)
    z = torch.randn(64, spec.latent_dim)
    zq, codes, losses = spec.module(z)
    assert zq.shape == z.shape and isinstance(losses, dict)
    flat = codes.reshape(64, -1)
    assert flat.shape[1] == len(spec.codebook_sizes)
    for q, k in enumerate(spec.codebook_sizes):
        assert 0 <= int(flat[:, q].min()) and int(flat[:, q].max()) < k


def test_configurations():
    assert make_quantizer("lfq", 16).latent_dim == 16
    assert make_quantizer("fsq", 16).module.levels == (16, 16, 16, 16)
    rvq = make_quantizer("rvq_factorized", 16).module
    assert rvq.n_q == 2 and rvq.layers[0].codebook_dim == 8 and rvq.layers[0].normalize
    assert make_quantizer("rvq_rotation", 8).module.layers[0].gradient == "rotation"
    assert make_quantizer("rvq_ema", 8).module.layers[0].dead_code_threshold == 0.5
    assert make_quantizer("lfq", 8, lfq_entropy_weight=0.0).module.entropy_weight == 0.0


@pytest.mark.parametrize(
    ("bits", "levels", "size", "code_bits"),
    [(8, (8, 6, 5), 240, 7.91), (16, (8, 8, 8, 5, 5, 5), 64_000, 15.97)],
)
def test_fsq_with_the_paper_levels(bits, levels, size, code_bits):
    assert EXTRA_QUANTIZERS == ("fsq_paper",) and "fsq_paper" not in QUANTIZERS
    assert FSQ_PAPER_LEVELS[bits] == levels and LABELS["fsq_paper"]
    spec = make_quantizer("fsq_paper", bits)
    assert isinstance(spec.module, FSQ) and spec.module.levels == levels
    assert spec.name == "fsq_paper" and spec.bits == bits  # the rate it stands in for
    assert spec.latent_dim == len(levels) and spec.codebook_sizes == (size,)
    assert min(levels) >= 5 and math.prod(levels) == size
    # its real bits, slightly fewer than the rate
    assert spec.code_bits == math.log2(size) == spec.module.bits
    assert round(spec.code_bits, 2) == code_bits and spec.code_bits < bits
    assert f"{size:,} codes" in spec.description
    z = torch.randn(500, spec.latent_dim)
    zq, codes, losses = spec.module(z)
    assert zq.shape == z.shape and losses == {}
    assert 0 <= int(codes.min()) and int(codes.max()) < size
    # fsq_dim belongs to the equal-bit FSQ, not to the paper's levels
    assert make_quantizer("fsq_paper", bits, fsq_dim=3).module.levels == levels


def test_fsq_with_given_levels():
    assert CUSTOM_QUANTIZERS == ("fsq_custom",) and LABELS["fsq_custom"]
    assert not set(CUSTOM_QUANTIZERS) & set(QUANTIZERS + EXTRA_QUANTIZERS)
    spec = make_quantizer("fsq_custom", 8, fsq_levels=[5, 4, 4, 3])
    assert isinstance(spec.module, FSQ) and spec.module.levels == (5, 4, 4, 3)
    assert spec.name == "fsq_custom" and spec.bits == 8
    # the codes of the paper's levels on the width of the equal-bit FSQ
    assert spec.codebook_sizes == make_quantizer("fsq_paper", 8).codebook_sizes
    assert spec.latent_dim == make_quantizer("fsq", 8).latent_dim == 4
    assert spec.code_bits == math.log2(240) and spec.description.startswith("levels [5, 4, 4, 3]")
    # exactly 2**bits codes is allowed, and then it is FSQ at equal bits
    same = make_quantizer("fsq_custom", 8, fsq_levels=(4, 4, 4, 4), fsq_dim=2)
    assert same.module.levels == make_quantizer("fsq", 8).module.levels and same.code_bits == 8
    z = torch.randn(64, 4)
    zq, codes, _ = spec.module(z)
    assert zq.shape == z.shape and 0 <= int(codes.min()) and int(codes.max()) < 240


def test_code_bits_equal_the_rate_for_the_six():
    for name in QUANTIZERS:
        assert make_quantizer(name, 16).code_bits == 16


def test_one_stage_of_residual_fsq_is_fsq():
    spec = make_quantizer("residual_fsq", 8)
    z = torch.randn(200, spec.latent_dim)
    assert torch.equal(spec.module(z)[0], FSQ(spec.module.levels)(z)[0])


def test_two_stages_of_residual_fsq_are_fsq_with_16_levels_rescaled():
    rfsq = make_quantizer("residual_fsq", 16).module
    fsq16 = make_quantizer("fsq", 16).module
    assert rfsq.n_q == 2 and fsq16.levels == (16, 16, 16, 16)
    kappa = rfsq.bound_scale()
    torch.testing.assert_close(kappa, torch.full((4,), 1.25, dtype=torch.float64))
    z = 2 * torch.randn(2000, 4, dtype=torch.float64)
    torch.testing.assert_close(rfsq(z)[0], kappa * fsq16(z / kappa)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "fragment"),
    [
        (("vq", 8), {}, ValueError, "name must be one of"),
        ((3, 8), {}, TypeError, "name must be a str"),
        (("fsq", 12), {}, ValueError, "multiple of 8"),
        (("fsq", 0), {}, ValueError, "bits"),
        (("fsq", 8.0), {}, TypeError, "bits"),
        (("fsq", 8), {"fsq_dim": 3}, ValueError, "fsq_dim"),
        (("lfq", 8), {"lfq_entropy_weight": -1.0}, ValueError, "lfq_entropy_weight"),
        (("fsq_paper", 12), {}, ValueError, r"fsq_paper has levels for bits in \(8, 16\)"),
        (("fsq_paper", 24), {}, ValueError, "got bits=24"),
        (("fsq_paper", 0), {}, ValueError, "bits"),
        (("fsq_paper", 8.0), {}, TypeError, "bits"),
        (("FSQ_paper", 8), {}, ValueError, "name must be one of"),
        (("fsq paper", 8), {}, ValueError, "fsq_paper"),
        (("fsq_custom", 8), {}, ValueError, "needs its levels"),
        (("fsq", 8), {"fsq_levels": [5, 4, 4, 3]}, ValueError, "'fsq_custom' only"),
        (("fsq_paper", 8), {"fsq_levels": [8, 6, 5]}, ValueError, "'fsq_custom' only"),
        (("fsq_custom", 8), {"fsq_levels": [8, 8, 5]}, ValueError, "320 codes, more than"),
        (("fsq_custom", 8), {"fsq_levels": [5, 1]}, ValueError, "levels"),
        (("fsq_custom", 8), {"fsq_levels": "543"}, TypeError, "levels"),
        (("fsq_custom", 8), {"fsq_levels": [5, 4.0]}, TypeError, "levels"),
        (("fsq_custom", 0), {"fsq_levels": [2]}, ValueError, "bits"),
    ],
)
def test_make_quantizer_rejects_bad_input(args, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        make_quantizer(*args, **kwargs)


# ----------------------------------------------------------------- the codec
def test_codec_shapes_and_validation():
    spec = make_quantizer("fsq", 8)
    codec = MLPCodec(6, spec.latent_dim, spec.module, hidden=16)
    x_hat, codes, losses = codec(torch.randn(10, 6))
    assert x_hat.shape == (10, 6) and codes.shape == (10,) and losses == {}
    with pytest.raises(TypeError, match="quantizer"):
        MLPCodec(6, 4, "fsq")
    with pytest.raises(ValueError, match="hidden"):
        MLPCodec(6, 4, spec.module, hidden=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("steps", 0), ("batch", -1), ("eval_every", 0), ("lr", 0.0), ("lr", float("nan"))],
)
def test_train_config_validation(field, value):
    with pytest.raises((ValueError, TypeError)):
        TrainConfig(**{field: value})


# ----------------------------------------------------------------- training
@pytest.mark.parametrize("name", QUANTIZERS)
def test_train_run_measures_everything(name, data):
    run = train_run(name, 8, 0, *data, TINY)
    assert run.name == name and run.bits == 8 and run.seed == 0 and run.steps == 6
    assert run.curve_steps.tolist() == [3, 6] and run.curve_snr_db.shape == (2,)
    assert np.isfinite(run.snr_db) and run.mse > 0
    assert math.isclose(
        run.snr_db, 10 * math.log10((data[1] ** 2).sum() / (run.mse * data[1].size)), rel_tol=1e-4
    )
    assert all(0 < u <= 1 for u in run.usage)
    assert all(1 <= p <= k for p, k in zip(run.perplexity, run.codebook_sizes, strict=True))
    assert 0 < run.used_bits <= 8 + 1e-9
    assert run.cpu_seconds > 0 and run.wall_seconds > 0 and run.ms_per_step > 0
    assert run.n_test == len(data[1]) and run.label


@pytest.mark.parametrize("bits", [8, 16])
def test_train_run_with_the_paper_levels(bits, data):
    run = train_run("fsq_paper", bits, 0, *data, TINY)
    assert run.name == "fsq_paper" and run.bits == bits and run.label == "FSQ, paper's levels"
    assert run.codebook_sizes == (math.prod(FSQ_PAPER_LEVELS[bits]),)
    assert run.code_bits == math.log2(run.codebook_sizes[0]) < bits
    assert np.isfinite(run.snr_db) and run.curve_snr_db.shape == (2,)
    assert 0 < run.used_bits <= run.code_bits + 1e-9
    assert 0 < run.usage[0] <= 1


def test_train_run_with_given_levels(data):
    run = train_run("fsq_custom", 8, 0, *data, TINY, fsq_levels=[5, 4, 4, 3])
    assert run.name == "fsq_custom" and run.bits == 8 and run.label == "FSQ, given levels"
    assert run.codebook_sizes == (240,) and run.code_bits == math.log2(240)
    assert np.isfinite(run.snr_db) and 0 < run.used_bits <= run.code_bits + 1e-9
    # [4, 4, 4, 4] given as levels trains exactly the equal-bit FSQ
    given = train_run("fsq_custom", 8, 0, *data, TINY, fsq_levels=[4, 4, 4, 4])
    assert given.snr_db == train_run("fsq", 8, 0, *data, TINY).snr_db
    runs = run_bakeoff(["fsq_custom"], [8], [0, 1], *data, TINY, fsq_levels=[5, 4, 4, 3])
    assert [(r.name, r.seed) for r in runs] == [("fsq_custom", 0), ("fsq_custom", 1)]
    assert runs[0].snr_db == run.snr_db
    with pytest.raises(ValueError, match="needs its levels"):
        train_run("fsq_custom", 8, 0, *data, TINY)


def test_train_run_is_reproducible_and_seeded(data):
    a = train_run("rvq_ema", 8, 1, *data, TINY)
    b = train_run("rvq_ema", 8, 1, *data, TINY)
    c = train_run("rvq_ema", 8, 2, *data, TINY)
    assert a.snr_db == b.snr_db and np.array_equal(a.curve_snr_db, b.curve_snr_db)
    assert a.snr_db != c.snr_db


def test_train_run_rejects_bad_data(data):
    x_train, x_test = data
    with pytest.raises(ValueError, match="same dimension"):
        train_run("fsq", 8, 0, x_train, x_test[:, :4], TINY)
    bad = x_test.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        train_run("fsq", 8, 0, x_train, bad, TINY)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        train_run("fsq", 8, 0, x_train[0], x_test, TINY)
    with pytest.raises(TypeError, match="floats"):
        train_run("fsq", 8, 0, x_train.astype(np.int64), x_test, TINY)
    with pytest.raises(TypeError, match="TrainConfig"):
        train_run("fsq", 8, 0, x_train, x_test, {"steps": 3})
    with pytest.raises(ValueError, match="seed"):
        train_run("fsq", 8, -1, x_train, x_test, TINY)


def test_run_bakeoff_order_and_progress(data):
    seen = []
    runs = run_bakeoff(["fsq", "lfq"], [8], [0, 1], *data, TINY, progress=seen.append)
    assert [(r.name, r.seed) for r in runs] == [("fsq", 0), ("fsq", 1), ("lfq", 0), ("lfq", 1)]
    assert seen == runs
    with pytest.raises(ValueError, match="at least one"):
        run_bakeoff([], [8], [0], *data, TINY)
    with pytest.raises(ValueError, match="name must be one of"):
        run_bakeoff(["nope"], [8], [0], *data, TINY)
    with pytest.raises(TypeError, match="name must be a str"):
        run_bakeoff([None], [8], [0], *data, TINY)


def test_run_bakeoff_with_the_seventh_configuration(data):
    runs = run_bakeoff(["fsq", "fsq_paper"], [8, 16], [0], *data, TINY)
    assert [(r.name, r.bits) for r in runs] == [
        ("fsq", 8),
        ("fsq", 16),
        ("fsq_paper", 8),
        ("fsq_paper", 16),
    ]
    snr = summarize(runs, lambda r: r.snr_db)
    # grouped under the rate it stands in for, so the seed rule compares it there
    assert set(snr) == {("fsq", 8), ("fsq", 16), ("fsq_paper", 8), ("fsq_paper", 16)}
    claims, ties = ranking_claims(snr, 8)
    assert len(claims) + len(ties) == 1
    bits = summarize(runs, lambda r: r.code_bits)
    assert round(bits["fsq_paper", 8].mean, 2) == 7.91 and bits["fsq", 8].mean == 8


# ----------------------------------------------------------------- claims
def _run(name, snr, seed=0, bits=8, curve=(1.0, 2.0, 3.0)):
    return BakeoffRun(
        name=name,
        bits=bits,
        seed=seed,
        description="",
        curve_steps=np.array([10, 20, 30]),
        curve_snr_db=np.array(curve),
        snr_db=snr,
        mse=1.0,
        usage=(1.0,),
        perplexity=(2.0,),
        codebook_sizes=(4,),
        n_test=10,
        cpu_seconds=1.0,
        wall_seconds=1.0,
        steps=30,
    )


def test_steps_to_target():
    run = _run("fsq", 3.0)
    assert steps_to_target(run, 1.5) == 20
    assert steps_to_target(run, 1.0) == 10
    assert steps_to_target(run, 3.5) is None
    with pytest.raises(TypeError, match="BakeoffRun"):
        steps_to_target("fsq", 1.0)


def test_summaries_and_the_seed_rule():
    runs = [_run("rvq_ema", v, s) for s, v in enumerate((10.0, 10.5, 11.0))]
    runs += [_run("fsq", v, s) for s, v in enumerate((9.0, 9.5, 9.9))]
    runs += [_run("lfq", v, s) for s, v in enumerate((9.8, 8.0, 8.5))]
    snr = summarize(runs, lambda r: r.snr_db)
    assert list(snr) == [("rvq_ema", 8), ("fsq", 8), ("lfq", 8)]
    s = snr["rvq_ema", 8]
    assert s.values == (10.0, 10.5, 11.0) and s.mean == 10.5 and s.spread == 1.0
    assert beats(snr["rvq_ema", 8], snr["fsq", 8])
    assert not beats(snr["fsq", 8], snr["lfq", 8])  # 9.0 < 9.8: the ranges overlap
    claims, ties = ranking_claims(snr, 8)
    assert claims == [("rvq_ema", "fsq"), ("rvq_ema", "lfq")]
    assert ties == [("fsq", "lfq")]
    with pytest.raises(ValueError, match="no summaries"):
        ranking_claims(snr, 16)


def test_lower_is_better_and_factor():
    fast, slow = SeedSummary((1.0, 1.2)), SeedSummary((2.0, 2.5))
    assert beats(fast, slow, higher_is_better=False)
    assert beats(fast, slow, higher_is_better=False, factor=1.6)
    assert not beats(fast, slow, higher_is_better=False, factor=1.7)
    assert beats(slow, fast, factor=1.6) and not beats(slow, fast, factor=1.7)
    with pytest.raises(ValueError, match="factor"):
        beats(fast, slow, factor=0.5)
    with pytest.raises(TypeError, match="SeedSummary"):
        beats((1.0,), slow)


def test_runs_can_be_relabelled():
    run = _run("fsq", 1.0)
    twin = dataclasses.replace(run, name="residual_fsq")
    assert twin.label == "residual FSQ" and twin.snr_db == run.snr_db
