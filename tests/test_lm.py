"""Tests for rvqlib.lm: adaptive count models, conditional entropy, layouts and the tiny LM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rvqlib.bitrate import empirical_entropy
from rvqlib.entropy import entropy_decode, entropy_encode, frequency_model, ideal_length
from rvqlib.lm import (
    ContextLM,
    LayoutContext,
    adaptive_model,
    code_probabilities,
    conditional_entropy,
    cross_entropy_bits,
    layout_context,
    stage_contexts,
    stage_model,
    train_context_lm,
)
from rvqlib.tokens import delay_pattern, flatten_codes, sequence_length

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- adaptive_model
def _naive_adaptive(s, k, ctx, n_ctx, prior, w, alpha):
    counts = np.full((n_ctx, k), alpha, dtype=float)
    if prior is not None:
        counts += w * (prior if prior.ndim == 2 else prior[None])
    out = []
    for si, ci in zip(s, ctx, strict=True):
        out.append(counts[ci] / counts[ci].sum())
        counts[ci, si] += 1
    return np.array(out)


@pytest.mark.parametrize("mode", ["none", "previous", "array"])
@pytest.mark.parametrize("use_prior", [False, True])
def test_adaptive_model_matches_a_sequential_count(mode, use_prior):
    rng = np.random.default_rng(3)
    k, n = 5, 200
    s = rng.integers(0, k, n)
    if mode == "none":
        contexts, ctx, n_ctx = None, np.zeros(n, int), 1
    elif mode == "previous":
        contexts, ctx, n_ctx = "previous", np.r_[k, s[:-1]], k + 1
    else:
        ctx = rng.integers(0, 3, n)
        contexts, n_ctx = ctx, 3
    prior = rng.dirichlet(np.ones(k), size=n_ctx) if use_prior else None
    got = adaptive_model(
        s, k, contexts=contexts, prior=prior, prior_weight=7.0 if use_prior else 0.0, alpha=0.5
    )
    want = _naive_adaptive(s, k, ctx, n_ctx, prior, 7.0, 0.5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)


def test_adaptive_model_rows_depend_only_on_the_past():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 4, 50)
    a = adaptive_model(s, 4, contexts="previous")
    s2 = s.copy()
    s2[30:] = (s2[30:] + 1) % 4  # change the future
    b = adaptive_model(s2, 4, contexts="previous")
    np.testing.assert_array_equal(a[:31], b[:31])  # row 30 depends on s[29] only


def test_adaptive_model_codes_and_decodes():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 16, 500)
    p = adaptive_model(s, 16, contexts="previous")
    data = entropy_encode(s, p)
    np.testing.assert_array_equal(entropy_decode(data, p, s.size), s)
    ideal = ideal_length(s, p)
    assert ideal <= 8 * len(data) <= 1.01 * ideal + 64


def test_adaptive_model_learns_a_skewed_source():
    rng = np.random.default_rng(2)
    s = rng.choice(8, size=4000, p=[0.65] + [0.05] * 7)
    bits = ideal_length(s, adaptive_model(s, 8))
    h = empirical_entropy(s, 8)
    # KT regret: about (K - 1) / 2 log2 n bits over the whole stream
    assert s.size * h <= bits <= s.size * h + 4 * math.log2(s.size) + 20


def test_adaptive_model_errors():
    with pytest.raises(ValueError, match="alpha = 0 needs a prior"):
        adaptive_model([0, 1], 2, alpha=0.0)
    with pytest.raises(ValueError, match="lie in"):
        adaptive_model([0, 2], 2)
    with pytest.raises(ValueError, match="prior must have shape"):
        adaptive_model([0, 1], 2, prior=[0.2, 0.3, 0.5], prior_weight=1.0)
    with pytest.raises(ValueError, match="sum to 1"):
        adaptive_model([0, 1], 2, prior=[0.2, 0.3], prior_weight=1.0)
    with pytest.raises(ValueError, match="contexts must"):
        adaptive_model([0, 1], 2, contexts="next")
    with pytest.raises(ValueError, match="shape of symbols"):
        adaptive_model([0, 1], 2, contexts=[0])
    with pytest.raises(ValueError, match="integer"):
        adaptive_model([0.5, 1], 2)
    with pytest.raises(TypeError):
        adaptive_model("ab", 2)
    with pytest.raises(ValueError, match=">= 0"):
        adaptive_model([0, 1], 2, alpha=-1.0)
    assert adaptive_model([], 3).shape == (0, 3)


# ------------------------------------------------------------------------- conditional_entropy
def test_conditional_entropy_is_the_plug_in_value():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 6, 3000)
    c = (x + rng.integers(0, 2, x.size)) % 4
    joint = np.zeros((4, 6))
    np.add.at(joint, (c, x), 1)
    pj = joint / joint.sum()
    pc = pj.sum(1, keepdims=True)
    m = pj > 0
    want = float(-(pj[m] * np.log2((pj / pc)[m])).sum())
    assert conditional_entropy(x, c, 6) == pytest.approx(want, rel=1e-12)
    assert conditional_entropy(x, c, 6) <= empirical_entropy(x, 6)
    # the model fitted on these very symbols (alpha = 0) reaches it exactly
    fitted = frequency_model(x, 6, contexts=c, n_contexts=4, alpha=0)
    assert ideal_length(x, fitted, contexts=c) == pytest.approx(x.size * want, rel=1e-9)


def test_conditional_entropy_edge_cases():
    assert conditional_entropy([0, 1, 0, 1], [0, 1, 0, 1], 2) == 0.0
    assert conditional_entropy([0, 1, 0, 1], [0, 0, 0, 0], 2) == pytest.approx(1.0)
    s = np.array([0, 1, 1, 0, 1])
    assert conditional_entropy(s, "previous", 2) == pytest.approx(
        conditional_entropy(s, np.r_[2, s[:-1]], 2)
    )
    assert conditional_entropy([], [], 3) == 0.0
    with pytest.raises(ValueError, match="contexts must"):
        conditional_entropy([0, 1], None, 2)


# ------------------------------------------------------------------------------ layout_context
def _step(layout, t, q, n_q):
    return {"flatten": t * n_q + q, "delay": t + q, "parallel": t}[layout]


@pytest.mark.parametrize("layout", ["flatten", "delay", "parallel"])
@pytest.mark.parametrize("window", [(0, 0), (1, 0), (2, 1)])
def test_layout_context_shows_exactly_what_was_generated_before(layout, window):
    rng = np.random.default_rng(7)
    t_len, n_q, k = 9, 3, 5
    codes = rng.integers(0, k, (t_len, n_q))
    ctx = layout_context(codes, layout, k, window=window)
    before, after = window
    assert ctx.context.shape == (t_len, n_q, (before + 1 + after) * n_q)
    assert ctx.n_steps == sequence_length(t_len, n_q, layout)
    for t in range(t_len):
        for q in range(n_q):
            for i, d in enumerate(range(-before, after + 1)):
                for qq in range(n_q):
                    got = ctx.context[t, q, i * n_q + qq]
                    tt = t + d
                    seen = 0 <= tt < t_len and _step(layout, tt, qq, n_q) < _step(layout, t, q, n_q)
                    assert got == (codes[tt, qq] if seen else k)


def test_layout_context_agrees_with_the_token_layouts():
    rng = np.random.default_rng(8)
    t_len, n_q, k = 7, 4, 6
    codes = rng.integers(0, k, (t_len, n_q))
    # delay: codes[t, q] is generated at the step where delay_pattern puts it
    d = layout_context(codes, "delay", k)
    tokens = delay_pattern(codes, pad=-1)
    for t in range(t_len):
        for q in range(n_q):
            assert tokens[d.steps[t, q], q] == codes[t, q]
    # flatten: generation order is flatten_codes' order
    f = layout_context(codes, "flatten", k)
    np.testing.assert_array_equal(f.codes.reshape(-1)[f.order()], flatten_codes(codes))
    # parallel: nothing of the current frame is ever visible
    p = layout_context(codes, "parallel", k, window=(1, 0))
    assert np.all(p.context[:, :, n_q:] == k)
    assert p.visible()[:, :n_q].all() and not p.visible()[:, n_q:].any()


def test_layout_context_errors():
    with pytest.raises(ValueError, match="layout must be one of"):
        layout_context([[0]], "stacked", 2)
    with pytest.raises(ValueError, match="window"):
        layout_context([[0]], "delay", 2, window=(1,))
    with pytest.raises(ValueError, match="window"):
        layout_context([[0]], "delay", 2, window=(-1, 0))
    with pytest.raises(ValueError, match="shape"):
        layout_context([0, 1], "delay", 2)
    with pytest.raises(ValueError, match="lie in"):
        layout_context([[0, 3]], "delay", 2)
    with pytest.raises(ValueError, match="integer"):
        layout_context([[0.5]], "delay", 2)


# ------------------------------------------------------------------------------ the model
def _copy_codes(t_len, k, seed):
    """Stage 1 copies stage 0 of the same frame; stage 0 is fresh noise every frame."""
    rng = np.random.default_rng(seed)
    c0 = rng.integers(0, k, t_len)
    return np.stack([c0, c0], axis=1)


def test_the_layout_decides_what_can_be_learned():
    k = 8
    train, test = _copy_codes(3000, k, 0), _copy_codes(500, k, 1)
    bits = {}
    for layout in ("parallel", "delay"):
        a = layout_context(train, layout, k, window=(1, 0))
        b = layout_context(test, layout, k, window=(1, 0))
        model, hist = train_context_lm(a, eval_context=b, steps=150, batch=256, lr=1e-2, seed=0)
        bits[layout] = hist.eval_bits[-1]
        assert hist.eval_bits[-1] == pytest.approx(cross_entropy_bits(model, b))
    # stage 0 is unpredictable (3 bits); delay sees stage 0 when it predicts stage 1 (0 bits)
    assert bits["parallel"] > 2.8
    assert bits["delay"] < 1.8


def test_training_is_deterministic_and_probabilities_code():
    k = 8
    codes = _copy_codes(400, k, 2)
    ctx = layout_context(codes, "flatten", k)
    m1, h1 = train_context_lm(ctx, steps=20, batch=64, seed=3, log_every=10)
    m2, h2 = train_context_lm(ctx, steps=20, batch=64, seed=3, log_every=10)
    assert h1 == h2 and h1.steps == [0, 10, 20]
    for a, b in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(a, b)
    probs = code_probabilities(m1, ctx)
    assert probs.shape == (codes.size, k)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    symbols = codes.reshape(-1)[ctx.order()]
    ideal = ideal_length(symbols, probs)
    assert ideal / codes.size == pytest.approx(cross_entropy_bits(m1, ctx), rel=1e-5)
    data = entropy_encode(symbols, probs)
    np.testing.assert_array_equal(entropy_decode(data, probs, symbols.size), symbols)


def test_lookup_and_gradients_are_those_of_the_embedding_bit_for_bit():
    torch.manual_seed(5)
    model = ContextLM(3, 8, 6, dim=4, hidden=8)
    context = torch.randint(0, 9, (3, 50, 6))
    context[:, :20] = 8  # many repeated (empty) slots: accumulated gradients
    targets = torch.randint(0, 8, (3, 50))

    def step(forward):
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(
            forward(context).reshape(-1, 8), targets.reshape(-1)
        )
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    def with_embedding(ctx):
        h = model.embed(ctx + model.offsets).sum(dim=2) + model.stage
        h = model.norm(h + model.mlp(h))
        return torch.bmm(h, model.head) + model.bias

    (l1, g1), (l2, g2) = step(model), step(with_embedding)
    assert torch.equal(l1, l2)
    assert all(torch.equal(a, b) for a, b in zip(g1, g2, strict=True))


def test_the_first_record_is_the_untrained_model():
    k = 8
    codes = _copy_codes(400, k, 2)
    ctx = layout_context(codes, "delay", k)
    untrained, _ = train_context_lm(ctx, steps=0, seed=3)
    model, hist = train_context_lm(ctx, eval_context=ctx, steps=5, batch=64, seed=3)
    assert hist.steps == [0, 5] and math.isfinite(hist.train_bits[0])
    assert hist.eval_bits[0] == cross_entropy_bits(untrained, ctx)  # before any update
    assert abs(hist.train_bits[0] - cross_entropy_bits(untrained, ctx)) < 0.5


def test_model_and_training_errors():
    model = ContextLM(2, 4, 4)
    assert model(torch.zeros(2, 3, 4, dtype=torch.long)).shape == (2, 3, 4)
    with pytest.raises(ValueError, match="context must have shape"):
        model(torch.zeros(3, 3, 4, dtype=torch.long))
    assert model.n_parameters() == sum(p.numel() for p in model.parameters())
    ctx = layout_context([[0, 1], [1, 0]], "delay", 4)
    other = layout_context([[0, 1], [1, 0]], "parallel", 4)
    with pytest.raises(TypeError, match="LayoutContext"):
        train_context_lm(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="same layout"):
        train_context_lm(ctx, eval_context=other, steps=1)
    with pytest.raises(ValueError, match="lr"):
        train_context_lm(ctx, steps=1, lr=0)
    with pytest.raises(ValueError, match="seed"):
        train_context_lm(ctx, steps=1, seed=-1)
    assert isinstance(ctx, LayoutContext) and ctx.blank == 4 and ctx.n_slots == 4


# ------------------------------------------------------------------ stage_model / stage_contexts
@pytest.mark.parametrize("context", ["none", "previous frame", "previous stage"])
def test_stage_models_code_each_stage_in_its_context(context):
    rng = np.random.default_rng(9)
    k, n_q = 6, 3
    train = rng.integers(0, k, (400, n_q))
    test = rng.integers(0, k, (50, n_q))
    table = stage_model(train, k, context)
    rows = stage_contexts(test, k, context)
    flat = test.reshape(-1)
    data = entropy_encode(flat, table, contexts=rows)
    np.testing.assert_array_equal(entropy_decode(data, table, flat.size, contexts=rows), flat)
    # the same bits as coding every stage alone with frequency_model's own tables
    total = 0.0
    for q in range(n_q):
        s = test[:, q]
        if context == "none" or (context == "previous stage" and q == 0):
            total += ideal_length(s, frequency_model(train[:, q], k))
        elif context == "previous frame":
            p = frequency_model(train[:, q], k, contexts="previous")
            total += ideal_length(s, p, contexts="previous")
        else:
            p = frequency_model(train[:, q], k, contexts=train[:, q - 1], n_contexts=k)
            total += ideal_length(s, p, contexts=test[:, q - 1])
    assert ideal_length(flat, table, contexts=rows) == pytest.approx(total, rel=1e-12)


def test_stage_contexts_rows_and_errors():
    assert stage_contexts([[1, 2], [3, 0]], 4, "none").tolist() == [0, 1, 0, 1]
    assert stage_contexts([[1, 2], [3, 0]], 4, "previous frame").tolist() == [4, 9, 1, 7]
    assert stage_contexts([[1, 2], [3, 0]], 4, "previous stage").tolist() == [0, 2, 0, 4]
    assert stage_model([[1, 2], [3, 0]], 4, "previous stage").shape == (5, 4)
    assert stage_model([[1, 2], [3, 0]], 4, "previous frame").shape == (10, 4)
    with pytest.raises(ValueError, match="context must be one of"):
        stage_contexts([[0]], 2, "previous")
    with pytest.raises(ValueError, match="shape"):
        stage_model([0, 1], 2)
    with pytest.raises(ValueError, match="lie in"):
        stage_contexts([[0, 5]], 2)


# ---------------------------------------------------------------------- regressions: limits
def test_conditional_entropy_of_contexts_whose_key_would_wrap_int64():
    # regression: the key ctx * k + s wrapped around in int64 and merged contexts (0.0 here)
    assert conditional_entropy([0, 1, 1, 0], [0, 0, 2**62, 2**62], 4) == pytest.approx(1.0)
    assert conditional_entropy([0, 1, 1, 0], [0, 0, 3, 3], 2**62) == pytest.approx(1.0)
    assert conditional_entropy([0, 1, 1, 1], [5, 5, 2**62, 2**62], 2**40) == pytest.approx(0.5)
    rng = np.random.default_rng(9)
    s, c = rng.integers(0, 5, 500), rng.integers(0, 7, 500)
    # the same contexts, spread far apart: the same entropy
    assert conditional_entropy(s, c * 2**60, 5) == conditional_entropy(s, c, 5)


def test_adaptive_model_memory_does_not_grow_with_the_context_values():
    # regression: a (max context + 1) x K table was allocated (MemoryError: 512 TiB)
    np.testing.assert_array_equal(adaptive_model([0], 2, contexts=[2**45]), [[0.5, 0.5]])
    assert adaptive_model([0, 1], 10**6, contexts="previous").shape == (2, 10**6)  # not K^2
    rng = np.random.default_rng(4)
    s, c = rng.integers(0, 3, 200), rng.integers(0, 5, 200)
    prior = rng.dirichlet(np.ones(3), size=5)
    dense = adaptive_model(s, 3, contexts=c, prior=prior, prior_weight=2.0)
    np.testing.assert_array_equal(
        adaptive_model(s, 3, contexts=c * 2**50), adaptive_model(s, 3, contexts=c)
    )
    np.testing.assert_allclose(dense, _naive_adaptive(s, 3, c, 5, prior, 2.0, 0.5), rtol=1e-12)


def _trained(k=4, seed=0):
    rng = np.random.default_rng(seed)
    ctx = layout_context(rng.integers(0, k, (40, 2)), "delay", k)
    return ctx, train_context_lm(ctx, steps=3, batch=8)[0]


@pytest.mark.parametrize("other_k", [2, 8])
def test_a_context_of_another_codebook_size_is_rejected(other_k):
    # regression: K=2 gave (80, 2) garbage probabilities and a bit count, K=8 an IndexError
    ctx, model = _trained()
    rng = np.random.default_rng(1)
    other = layout_context(rng.integers(0, other_k, (40, 2)), "delay", other_k)
    msg = f"ctx has codebook_size={other_k} but the model was made for codebook_size=4"
    with pytest.raises(ValueError, match=msg):
        code_probabilities(model, other)
    with pytest.raises(ValueError, match=msg):
        cross_entropy_bits(model, other)
    with pytest.raises(ValueError, match=f"its codebook_size is {other_k}, train's 4"):
        train_context_lm(ctx, eval_context=other, steps=2, batch=8)
    wide = layout_context(rng.integers(0, 4, (40, 2)), "delay", 4, window=(2, 0))
    with pytest.raises(ValueError, match="ctx has n_slots=6 but the model was made for n_slots=4"):
        code_probabilities(model, wide)


def test_forward_rejects_tokens_outside_the_vocabulary():
    # regression: token 5 in slot 0 silently read slot 1's embedding table
    model = ContextLM(2, 4, 4)
    ok = torch.full((2, 3, 4), 4)
    assert model(ok).shape == (2, 3, 4)
    for bad in (5, -1):
        context = ok.clone()
        context[0, 1, 0] = bad
        with pytest.raises(ValueError, match=r"context tokens must lie in \[0, 4\]"):
            model(context)
    with pytest.raises(TypeError, match="integer torch.Tensor"):
        model(ok.float())
    assert model(torch.zeros(2, 0, 4, dtype=torch.long)).shape == (2, 0, 4)


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), -1.0, 0.0])
def test_training_rejects_a_learning_rate_that_is_not_positive_and_finite(lr):
    # regression: lr=inf was accepted and the loss became nan
    ctx, _ = _trained()
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        train_context_lm(ctx, steps=2, batch=8, lr=lr)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": "1e-2"}, "lr"),
        ({"lr": None}, "lr"),
        ({"lr": True}, "lr"),
        ({"seed": 1.5}, "seed"),
        ({"seed": "0"}, "seed"),
        ({"seed": False}, "seed"),
    ],
)
def test_training_rejects_hyperparameters_of_the_wrong_type(kwargs, name):
    # regression: a string lr or a float seed was a ValueError, not the TypeError of a wrong type
    ctx, _ = _trained()
    with pytest.raises(TypeError, match=f"{name} must be"):
        train_context_lm(ctx, steps=2, batch=8, **kwargs)


def test_training_on_an_empty_context_is_a_clear_error():
    # regression: RuntimeError "random_ expects 'from' to be less than 'to'"
    empty = layout_context(np.zeros((0, 2), np.int64), "delay", 4)
    for steps in (2, 0):
        with pytest.raises(ValueError, match="train has no frames to train on"):
            train_context_lm(empty, steps=steps)
    ctx, model = _trained()
    with pytest.raises(ValueError, match="eval_context has no frames"):
        train_context_lm(ctx, eval_context=empty, steps=2, batch=8)
    assert code_probabilities(model, empty).shape == (0, 4)
    assert cross_entropy_bits(model, empty) == 0.0


def test_a_model_that_is_not_a_context_lm_is_a_type_error():
    # regression: AttributeError: 'str' object has no attribute 'eval'
    ctx, model = _trained()
    with pytest.raises(TypeError, match="model must be a ContextLM"):
        code_probabilities("m", ctx)
    with pytest.raises(TypeError, match="model must be a ContextLM"):
        cross_entropy_bits("m", ctx)
    with pytest.raises(ValueError, match="chunk must be positive"):
        cross_entropy_bits(model, ctx, chunk=0)  # -1 used to give 0.0 bits
    with pytest.raises(TypeError, match="order must be a bool"):
        code_probabilities(model, ctx, order="no")
