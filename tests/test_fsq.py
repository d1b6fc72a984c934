"""rvqlib.fsq: FSQ, LFQ and residual FSQ (functions and torch modules)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rvqlib.fsq import FSQ, LFQ, ResidualFSQ, fsq, fsq_decode, lfq, lfq_decode

torch.set_num_threads(1)

levels_st = st.lists(st.integers(2, 9), min_size=1, max_size=5)
values_st = st.floats(-30, 30, allow_nan=False, width=64)


def grid(level: int) -> np.ndarray:
    """The L values of one coordinate, ascending."""
    return (2 * np.arange(level) - (level - 1)) / (level - 1)


# --------------------------------------------------------------------------- fsq properties
@settings(max_examples=60, deadline=None)
@given(st.data(), levels_st)
def test_fsq_codes_in_range_decode_inverts_and_values_on_grid(data, levels):
    z = data.draw(arrays(np.float64, (7, len(levels)), elements=values_st))
    codes, zq = fsq(z, levels)
    assert codes.dtype == np.int64 and codes.shape == (7,)
    assert codes.min() >= 0 and codes.max() < math.prod(levels)
    np.testing.assert_array_equal(fsq_decode(codes, levels), zq)
    for d, level in enumerate(levels):
        assert np.isin(zq[:, d], grid(level)).all()
        # the nearest grid value of the bounded coordinate (|error| <= half a step)
        assert np.all(np.abs(zq[:, d] - np.tanh(z[:, d])) <= 1 / (level - 1) + 1e-12)
    # mixed radix, coordinate 0 least significant
    digits = np.stack([np.searchsorted(grid(lv), zq[:, d]) for d, lv in enumerate(levels)], -1)
    basis = np.cumprod([1] + list(levels[:-1]))
    np.testing.assert_array_equal(codes, digits @ basis)


@pytest.mark.parametrize("level", range(2, 17))
def test_every_one_of_the_levels_is_reachable_and_no_other(level):
    # a dense sweep of the whole real line (through tanh) reaches exactly L values
    z = np.arctanh(np.linspace(-1, 1, 20_001)[1:-1])
    z = np.concatenate([z, [-40.0, 40.0]])[:, None]
    codes, zq = fsq(z, [level])
    np.testing.assert_array_equal(np.unique(zq), grid(level))
    np.testing.assert_array_equal(np.unique(codes), np.arange(level))
    # each level k is reached by the centre of its cell (and the extremes by large |z|)
    centres = np.clip(grid(level), -1 + 1e-9, 1 - 1e-9)
    codes, _ = fsq(np.arctanh(centres)[:, None], [level])
    np.testing.assert_array_equal(codes, np.arange(level))


@settings(max_examples=40, deadline=None)
@given(st.data(), levels_st)
def test_rounding_is_mirror_symmetric(data, levels):
    z = data.draw(arrays(np.float64, (6, len(levels)), elements=values_st.filter(lambda v: v != 0)))
    _, zq = fsq(z, levels)
    _, zq_neg = fsq(-z, levels)
    np.testing.assert_array_equal(zq_neg, -zq)


def test_ties_go_away_from_the_centre_and_zero_goes_up():
    # L = 3: cells of the bounded value split at +-0.5; a tie goes outward
    _, zq = fsq(np.arctanh([[0.5], [-0.5], [0.0]]), [3])
    np.testing.assert_array_equal(zq[:, 0], [1.0, -1.0, 0.0])
    # L = 4 has no value at 0: tanh(z) = 0 goes to the value just above
    _, zq = fsq([[0.0], [-0.0]], [4])
    np.testing.assert_allclose(zq[:, 0], [1 / 3, 1 / 3])


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (9, 4), elements=values_st))
def test_fsq_with_two_levels_is_lfq(z):
    codes_f, zq_f = fsq(z, [2, 2, 2, 2])
    codes_l, zq_l = lfq(z)
    np.testing.assert_array_equal(codes_f, codes_l)
    np.testing.assert_array_equal(zq_f, zq_l)


def test_fsq_torch_matches_numpy_and_keeps_dtype():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=2, size=(200, 4))
    levels = [8, 5, 5, 5]
    codes, zq = fsq(z, levels)
    codes_t, zq_t = fsq(torch.from_numpy(z), levels)
    assert codes_t.dtype == torch.long and zq_t.dtype == torch.float64
    np.testing.assert_array_equal(codes_t.numpy(), codes)
    np.testing.assert_array_equal(zq_t.numpy(), zq)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        zt = torch.from_numpy(z).to(dtype)
        codes_d, zq_d = fsq(zt, levels)
        assert zq_d.dtype == dtype
        assert torch.equal(fsq_decode(codes_d, levels, dtype=dtype), zq_d)
        # the codes of float64 on the same (rounded) input, and its zq cast
        ref, ref_zq = fsq(zt.double().numpy(), levels)
        np.testing.assert_array_equal(codes_d.numpy(), ref)
        assert torch.equal(zq_d, torch.from_numpy(ref_zq).to(dtype))
    # numpy float32 stays float32, decode with that dtype is bit-exact
    codes32, zq32 = fsq(z.astype(np.float32), levels)
    assert zq32.dtype == np.float32
    np.testing.assert_array_equal(fsq_decode(codes32, levels, dtype=np.float32), zq32)


def test_fsq_gradient_is_straight_through_the_rounding():
    z = torch.linspace(-3, 3, 25, dtype=torch.float64).reshape(-1, 1).repeat(1, 2)
    z.requires_grad_(True)
    _, zq = fsq(z, [5, 6])
    zq.sum().backward()
    torch.testing.assert_close(z.grad, 1 - torch.tanh(z.detach()) ** 2)
    # the value is still exactly the grid value
    codes, values = fsq(z.detach(), [5, 6])
    assert torch.equal(zq.detach(), values)


def test_fsq_known_values():
    codes, zq = fsq([[0.1, -3.0], [2.0, 0.0]], [3, 4])
    np.testing.assert_array_equal(codes, [1, 8])
    np.testing.assert_allclose(zq, [[0.0, -1.0], [1.0, 1 / 3]])
    np.testing.assert_allclose(
        fsq_decode(np.arange(12), [3, 4])[:4], [[-1, -1], [0, -1], [1, -1], [-1, -1 / 3]]
    )


def test_fsq_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"levels\[1\] must be >= 2"):
        fsq(np.zeros((2, 2)), [3, 1])
    with pytest.raises(TypeError, match=r"levels\[0\] must be an integer"):
        fsq(np.zeros((2, 1)), [3.0])
    with pytest.raises(TypeError, match="levels must be a sequence"):
        fsq(np.zeros((2, 1)), 3)
    with pytest.raises(TypeError, match="levels must hold integers"):
        fsq(np.zeros((2, 2)), np.array([3.0, 4.0]))
    with pytest.raises(ValueError, match="levels is empty"):
        fsq(np.zeros((2, 1)), [])
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., 2\)"):
        fsq(np.zeros((2, 3)), [3, 4])
    with pytest.raises(ValueError, match="z must be finite"):
        fsq(np.array([[np.nan, 0.0]]), [3, 4])
    with pytest.raises(ValueError, match="2\\*\\*63"):
        fsq(np.zeros((1, 64)), [2] * 63 + [3])
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 12\)"):
        fsq_decode([0, 12], [3, 4])
    with pytest.raises(ValueError, match="codes must hold integer"):
        fsq_decode([0.5], [3, 4])
    with pytest.raises(TypeError, match="dtype must be a floating"):
        fsq_decode([0], [3, 4], dtype=np.int32)
    with pytest.raises(TypeError, match="z must be an array"):
        fsq("abc", [3])


# --------------------------------------------------------------------------- lfq
@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(1, 12))
def test_lfq_is_sign_and_codes_are_the_bits(data, dim):
    z = data.draw(arrays(np.float64, (11, dim), elements=values_st | st.just(0.0) | st.just(-0.0)))
    codes, zq = lfq(z)
    np.testing.assert_array_equal(zq, np.where(z >= 0, 1.0, -1.0))
    np.testing.assert_array_equal(codes, (z >= 0).astype(np.int64) @ (2 ** np.arange(dim)))
    np.testing.assert_array_equal(lfq_decode(codes, dim), zq)
    assert codes.min() >= 0 and codes.max() < 2**dim


def test_lfq_zero_is_plus_one_and_torch_matches():
    codes, zq = lfq(torch.tensor([[0.0, -0.0, -1e-30, 2.0]]))
    assert torch.equal(zq, torch.tensor([[1.0, 1.0, -1.0, 1.0]]))
    assert codes.tolist() == [1 + 2 + 8]
    assert torch.equal(lfq_decode(codes, 4), zq)
    # 63 bits: the largest dim whose codes fit in int64
    z = torch.ones(1, 63, dtype=torch.float64)
    codes, _ = lfq(z)
    assert int(codes) == 2**63 - 1
    assert torch.equal(lfq_decode(codes, 63, dtype=torch.float64), z)


def test_lfq_gradient_is_identity():
    z = torch.randn(5, 3, requires_grad=True)
    _, zq = lfq(z)
    (zq * torch.arange(3.0)).sum().backward()
    torch.testing.assert_close(z.grad, torch.arange(3.0).expand(5, 3))


def test_lfq_errors():
    with pytest.raises(ValueError, match="at most 63"):
        lfq(np.zeros((1, 64)))
    with pytest.raises(ValueError, match="dim must be at most 63"):
        lfq_decode([0], 64)
    with pytest.raises(ValueError, match="dim must be positive"):
        lfq_decode([0], 0)
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 8\)"):
        lfq_decode([8], 3)
    with pytest.raises(ValueError, match="z must be finite"):
        lfq([[np.inf]])


# --------------------------------------------------------------------------- modules
def test_fsq_module_layout_encode_decode():
    m = FSQ([8, 5, 5, 5], channel_dim=1)
    assert m.codebook_size == 1000 and m.dim == 4
    assert m.bits == pytest.approx(math.log2(1000))
    z = torch.randn(3, 4, 10)
    zq, codes, losses = m(z)
    assert zq.shape == z.shape and codes.shape == (3, 10) and losses == {}
    ref_codes, ref_zq = fsq(z.transpose(1, 2), [8, 5, 5, 5])
    assert torch.equal(codes, ref_codes)
    assert torch.equal(zq, ref_zq.transpose(1, 2))
    assert torch.equal(m.encode(z), codes)
    assert torch.equal(m.decode(codes), zq)
    with pytest.raises(ValueError, match="channel_dim=1"):
        m(torch.randn(3, 5, 10))
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        m(np.zeros((3, 4, 10)))


def test_fsq_module_trains_through_the_bound():
    torch.manual_seed(0)
    m = FSQ([5, 5])
    z = torch.randn(64, 2, requires_grad=True)
    zq, _, _ = m(z)
    zq.pow(2).sum().backward()
    expected = 2 * zq.detach() * (1 - torch.tanh(z.detach()) ** 2)
    torch.testing.assert_close(z.grad, expected)


def brute_force_entropies(z: torch.Tensor, temperature: float) -> tuple[float, float]:
    """H_sample and H_codebook from the softmax over all 2**D corners."""
    d = z.shape[-1]
    corners = torch.tensor(lfq_decode(np.arange(2**d), d))
    dist = torch.cdist(z.double(), corners).pow(2)
    q = torch.softmax(-dist / temperature, dim=-1)
    per_sample = -(torch.special.xlogy(q, q)).sum(-1).mean()
    avg = q.mean(0)
    return float(per_sample), float(-(torch.special.xlogy(avg, avg)).sum())


@pytest.mark.parametrize("temperature", [0.01, 0.5, 3.0])
def test_lfq_entropies_are_exact_for_small_dim(temperature):
    torch.manual_seed(1)
    z = 0.3 * torch.randn(200, 6, dtype=torch.float64)
    ent = LFQ(6, temperature=temperature).entropies(z)
    per_sample, codebook = brute_force_entropies(z, temperature)
    assert float(ent["per_sample"]) == pytest.approx(per_sample, rel=1e-9, abs=1e-12)
    assert float(ent["codebook"]) == pytest.approx(codebook, rel=1e-9)


def unfloored_entropies(z: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """H_sample, H_codebook and the share of log q below -80, without any floor before exp."""
    logits = 4.0 * z / temperature
    log_plus = torch.nn.functional.logsigmoid(logits)
    log_minus = torch.nn.functional.logsigmoid(-logits)
    per_sample = -(log_plus.exp() * log_plus + log_minus.exp() * log_minus).sum(-1).mean()
    d = z.shape[-1]
    bits = (torch.arange(2**d)[:, None] >> torch.arange(d)) & 1
    log_q = logits @ bits.to(z.dtype).T + log_minus.sum(-1, keepdim=True)
    avg = log_q.exp().mean(0)
    codebook = -(avg * avg.clamp_min(torch.finfo(z.dtype).tiny).log()).sum()
    return per_sample, codebook, float((log_q < -80).double().mean())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("temperature", [0.001, 0.01, 0.1, 1.0])
def test_lfq_floor_before_exp_leaves_the_entropies_unchanged(dtype, temperature):
    """Raising log q to -80 before exp (the fast path of exp) changes nothing to float precision."""
    gen = torch.Generator().manual_seed(3)
    spread = 0.3 * torch.randn(512, 8, generator=gen, dtype=dtype)
    collapsed = 0.5 + 0.01 * torch.randn(512, 8, generator=gen, dtype=dtype)  # one code
    rtol = 2e-6 if dtype == torch.float32 else 1e-12
    floored_somewhere = 0.0
    for z in (spread, collapsed, spread[:7]):
        z = z.clone().requires_grad_(True)
        ent = LFQ(8, temperature=temperature).entropies(z)
        per_sample, codebook, share = unfloored_entropies(z, temperature)
        floored_somewhere = max(floored_somewhere, share)
        torch.testing.assert_close(ent["per_sample"], per_sample, rtol=rtol, atol=1e-30)
        torch.testing.assert_close(ent["codebook"], codebook, rtol=rtol, atol=1e-28)
        for term, unfloored in (("per_sample", per_sample), ("codebook", codebook)):
            grad = torch.autograd.grad(ent[term], z, retain_graph=True)[0]
            ref = torch.autograd.grad(unfloored, z, retain_graph=True)[0]
            # to float precision of the largest element (near-zero elements are rounding)
            atol = 4 * torch.finfo(dtype).eps * float(ref.abs().max()) + 1e-30
            torch.testing.assert_close(grad, ref, rtol=rtol, atol=atol)
    if temperature <= 0.01:  # the floor is reached, so the comparison means something
        assert floored_somewhere > 0.5


def test_lfq_grouped_codebook_entropy_is_an_upper_bound():
    torch.manual_seed(2)
    base = torch.randn(300, 3, dtype=torch.float64)
    z = torch.cat([base, base + 0.1 * torch.randn(300, 3, dtype=torch.float64)], dim=1)
    exact = LFQ(6, temperature=0.5).entropies(z)["codebook"]
    grouped = LFQ(6, temperature=0.5, exact_entropy_bits=3)
    assert grouped.entropy_groups() == [(0, 3), (3, 6)]
    bound = grouped.entropies(z)["codebook"]
    bits = LFQ(6, temperature=0.5, exact_entropy_bits=1).entropies(z)["codebook"]
    # the two halves are strongly dependent, so the bound is loose but valid
    assert float(exact) < float(bound) - 0.5
    assert float(bound) <= float(bits) + 1e-12 <= 6 * math.log(2) + 1e-9
    # with independent halves the group bound is tight
    w = torch.randn(4000, 6, dtype=torch.float64)
    e_exact = LFQ(6, temperature=0.5).entropies(w)["codebook"]
    e_group = grouped.entropies(w)["codebook"]
    assert float(e_group) == pytest.approx(float(e_exact), abs=0.01)


def test_lfq_module_losses_and_gradients():
    torch.manual_seed(0)
    m = LFQ(5, entropy_weight=0.1, commitment_weight=0.25, channel_dim=1)
    z = torch.randn(4, 5, 8, requires_grad=True)
    zq, codes, losses = m(z)
    assert torch.equal(zq, torch.where(z >= 0, 1.0, -1.0))
    assert codes.shape == (4, 8)
    assert torch.equal(codes, m.encode(z))
    assert torch.equal(m.decode(codes), zq.detach())
    ent = m.entropies(z)
    expected = 0.1 * (ent["per_sample"] - ent["codebook"])
    torch.testing.assert_close(losses["entropy"], expected)
    commit = ((z - zq.detach()) ** 2).mean()
    torch.testing.assert_close(losses["commitment"], 0.25 * commit)
    (zq.sum() + sum(losses.values())).backward()
    assert torch.isfinite(z.grad).all()
    assert "commitment" not in LFQ(5, commitment_weight=0.0)(torch.randn(3, 5))[2]


def test_lfq_entropy_term_spreads_collapsed_codes():
    """Gradient steps on the entropy term alone move a collapsed batch onto many codes."""
    torch.manual_seed(0)
    m = LFQ(4, entropy_weight=1.0, commitment_weight=0.0, temperature=1.0)
    z = (0.5 + 0.05 * torch.randn(256, 4)).requires_grad_(True)  # all on code 15
    assert m.encode(z).unique().numel() == 1
    opt = torch.optim.SGD([z], lr=10.0)
    for _ in range(60):
        opt.zero_grad()
        m(z)[2]["entropy"].backward()
        opt.step()
    assert m.encode(z).unique().numel() >= 12


def test_lfq_large_dim_does_not_enumerate_all_codes():
    m = LFQ(40)  # 2**40 codes: groups of at most 10 bits
    assert [b - a for a, b in m.entropy_groups()] == [10, 10, 10, 10]
    ent = m.entropies(torch.randn(32, 40))
    assert 0 <= float(ent["codebook"]) <= 40 * math.log(2)


def test_module_argument_errors():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        LFQ(4, temperature=0.0)
    with pytest.raises(ValueError, match="entropy_weight"):
        LFQ(4, entropy_weight=-1.0)
    with pytest.raises(ValueError, match="exact_entropy_bits must be at most 20"):
        LFQ(30, exact_entropy_bits=25)
    with pytest.raises(TypeError, match="channel_dim must be an integer"):
        FSQ([3, 3], channel_dim="last")
    with pytest.raises(ValueError, match="n_q must be positive"):
        ResidualFSQ([3, 3], 0)
    with pytest.raises(ValueError, match="channel_dim=2 is not an axis"):
        FSQ([3, 3], channel_dim=2)(torch.zeros(4, 2))


# --------------------------------------------------------------------------- residual FSQ
def kappa(level: int, n_q: int) -> float:
    """The documented bound of ResidualFSQ: 1 + 1/L + ... + L**(1 - n_q)."""
    return sum(level ** (-i) for i in range(n_q))


def residual_grid(level: int, n: int) -> np.ndarray:
    """The L**n values of n stages, ascending: uniform, step 2/((L-1) L**(n-1)), ends +-kappa."""
    return -kappa(level, n) + 2 * np.arange(level**n) / ((level - 1) * level ** (n - 1))


def reference_residual_fsq(z: np.ndarray, levels: list[int], n_q: int, n: int):
    """The documented rule in numpy: codes (N, n) and values (N, D)."""
    lv = np.array(levels)
    k = np.array([kappa(level, n_q) for level in levels])
    residual = k * np.tanh(z / k)
    total = np.zeros_like(z)
    codes = []
    for i in range(n):
        s = lv ** (-float(i))
        y = np.clip(residual / s, -1, 1)
        digits = np.stack(
            [np.abs(y[:, d, None] - grid(L)[None]).argmin(1) for d, L in enumerate(levels)], -1
        )
        q = s * np.stack([grid(L)[digits[:, d]] for d, L in enumerate(levels)], -1)
        total += q
        residual -= q
        codes.append(digits @ np.cumprod([1] + levels[:-1]))
    return np.stack(codes, -1), total


def test_residual_fsq_values_form_one_uniform_grid():
    """With scales L**-i, the L**n code combinations give L**n distinct, evenly spaced values."""
    for level in (3, 4, 5):
        for n in (2, 3):
            m = ResidualFSQ([level], n)
            codes = torch.cartesian_prod(*[torch.arange(level)] * n).reshape(-1, n)
            values = m.decode(codes, dtype=torch.float64)[:, 0].sort().values
            assert values.unique().numel() == level**n
            torch.testing.assert_close(values.numpy(), residual_grid(level, n))


@pytest.mark.parametrize(("levels", "n_q"), [([4, 5, 3], 3), ([2, 8], 2), ([7], 4)])
def test_residual_fsq_follows_the_documented_rule(levels, n_q):
    gen = torch.Generator().manual_seed(4)
    z = 2 * torch.randn(3000, len(levels), generator=gen, dtype=torch.float64)
    m = ResidualFSQ(levels, n_q)
    torch.testing.assert_close(
        m.bound_scale(), torch.tensor([kappa(L, n_q) for L in levels], dtype=torch.float64)
    )
    for n in range(1, n_q + 1):
        codes, values = reference_residual_fsq(z.numpy(), levels, n_q, n)
        zq, got, _ = m(z, n_q=n)
        np.testing.assert_array_equal(got.numpy(), codes)
        np.testing.assert_allclose(zq.numpy(), values, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("levels", "n_q"), [([4, 5, 3], 3), ([2, 7, 8], 2), ([3], 4)])
def test_residual_fsq_is_fsq_with_L_to_the_n_levels_scaled_by_kappa(levels, n_q):
    """All n_q stages: kappa * fsq(z / kappa, L**n_q), its level index in base-L digits."""
    gen = torch.Generator().manual_seed(5)
    z = 3 * torch.randn(20_000, len(levels), generator=gen, dtype=torch.float64)
    m = ResidualFSQ(levels, n_q)
    k = m.bound_scale()
    zq, codes, _ = m(z)
    fine = [L**n_q for L in levels]
    fine_codes, fine_values = fsq(z / k, fine)
    torch.testing.assert_close(zq, k * fine_values, rtol=0, atol=1e-12)
    lv = torch.tensor(levels)
    basis = torch.cumprod(torch.tensor([1] + levels[:-1]), 0)
    for d, level in enumerate(levels):
        digits = codes // basis[d] % lv[d]  # (N, n_q): stage i's level of coordinate d
        index = sum(digits[:, i] * level ** (n_q - 1 - i) for i in range(n_q))
        fine_basis = math.prod(fine[:d])
        assert torch.equal(index, fine_codes // fine_basis % fine[d])


@settings(max_examples=40, deadline=None)
@given(
    st.data(),
    st.lists(st.integers(2, 7), min_size=1, max_size=3),
    st.integers(1, 4),
    st.sampled_from([torch.float32, torch.float64]),
)
def test_every_value_of_the_residual_grid_is_reached(data, levels, n_q, dtype):
    """For every prefix of n stages, each of the L**n values is the output of some input."""
    n = data.draw(st.integers(1, n_q), label="stages used")
    m = ResidualFSQ(levels, n_q)
    size = max(L**n for L in levels)
    # an input per grid value: anywhere in its cell (at most 0.9 of half a step from it)
    frac = data.draw(arrays(np.float64, (size, len(levels)), elements=st.floats(-0.9, 0.9)))
    t = np.empty((size, len(levels)))
    for d, level in enumerate(levels):
        values = residual_grid(level, n)
        half_step = 1 / ((level - 1) * level ** (n - 1))
        target = np.resize(values, size)  # every value at least once
        k = kappa(level, n_q)
        t[:, d] = np.clip(
            target + frac[:, d] * half_step, -k + 0.1 * half_step, k - 0.1 * half_step
        )
    k = np.array([kappa(L, n_q) for L in levels])
    z = torch.tensor(k * np.arctanh(t / k), dtype=dtype)
    zq, codes, _ = m(z, n_q=n)
    assert torch.equal(m.decode(codes, dtype=dtype), zq)
    for d, level in enumerate(levels):
        reached = np.unique(zq[:, d].double().numpy().round(6))
        assert len(reached) == level**n
        np.testing.assert_allclose(reached, residual_grid(level, n), atol=1e-5)


def test_one_residual_fsq_stage_is_fsq_only_when_built_with_one_stage():
    gen = torch.Generator().manual_seed(6)
    for dtype in (torch.float32, torch.float64):
        z = 2 * torch.randn(4000, 4, generator=gen, dtype=dtype)
        levels = [8, 5, 4, 3]
        zq, codes, _ = ResidualFSQ(levels, 1)(z)
        ref_zq, ref_codes, _ = FSQ(levels)(z)
        assert torch.equal(zq, ref_zq) and torch.equal(codes[:, 0], ref_codes)
        # built with 3 stages, the first one has FSQ's values but the wider bound kappa > 1
        first, codes3, _ = ResidualFSQ(levels, 3)(z, n_q=1)
        assert torch.equal(ResidualFSQ(levels, 1).decode(codes3, dtype=dtype), first)
        differ = (codes3[:, 0] != ref_codes).double().mean()
        assert 0.01 < float(differ) < 0.5


@pytest.mark.parametrize("levels", [[5, 5, 5], [8, 6], [3]])
def test_residual_fsq_error_shrinks_per_stage_and_decode_matches(levels):
    torch.manual_seed(0)
    z = 2 * torch.randn(500, len(levels), dtype=torch.float64)
    z[:5] = 40.0  # far in the tails: the outermost values
    m = ResidualFSQ(levels, n_q=4)
    k = torch.tensor([kappa(L, 4) for L in levels], dtype=torch.float64)
    bound_z = k * torch.tanh(z / k)
    lv = torch.tensor(levels, dtype=torch.float64)
    for n in range(1, 5):
        zq, codes, losses = m(z, n_q=n)
        assert codes.shape == (500, n) and losses == {}
        assert codes.min() >= 0 and codes.max() < math.prod(levels)
        limit = 1 / ((lv - 1) * lv ** (n - 1))
        assert ((zq - bound_z).abs() <= limit + 1e-12).all()
        assert torch.equal(m.decode(codes, dtype=torch.float64), zq)
        assert torch.equal(m.encode(z, n_q=n), codes)
        assert torch.equal(codes, m(z, n_q=4)[1][:, :n])  # a prefix of all the codes
    torch.testing.assert_close(m.scales()[2], lv**-2)


def test_residual_fsq_gradient_and_layout():
    m = ResidualFSQ([5, 5], n_q=3, channel_dim=1)
    z = torch.randn(2, 2, 7, requires_grad=True)
    zq, codes, _ = m(z)
    assert zq.shape == z.shape and codes.shape == (2, 7, 3)
    zq.sum().backward()
    k = kappa(5, 3)
    torch.testing.assert_close(z.grad, 1 - torch.tanh(z.detach() / k) ** 2)
    assert torch.equal(m.decode(codes), zq.detach())
    with pytest.raises(ValueError, match="n_q must be between 1 and 3"):
        m(z, n_q=4)
    with pytest.raises(ValueError, match=r"codes must have shape \(\.\.\., n\)"):
        m.decode(torch.zeros(2, 7, 4, dtype=torch.long))


@pytest.mark.parametrize(
    ("make", "dim", "code_tail"),
    [
        (lambda cd: FSQ([4, 4, 3], channel_dim=cd), 3, ()),
        (lambda cd: LFQ(4, commitment_weight=0.25, channel_dim=cd), 4, ()),
        (lambda cd: ResidualFSQ([4, 4, 3], n_q=2, channel_dim=cd), 3, (2,)),
    ],
    ids=["FSQ", "LFQ", "ResidualFSQ"],
)
@pytest.mark.parametrize(
    ("shape", "channel_dim"),
    [((0, None), -1), ((2, 0, None), -1), ((2, None, 0), 1)],
)
def test_modules_take_an_empty_batch_as_the_vq_modules_do(make, dim, code_tail, shape, channel_dim):
    """No vectors in, empty outputs out, zero (not NaN) losses, a working backward."""
    m = make(channel_dim)
    z = torch.zeros([dim if s is None else s for s in shape], requires_grad=True)
    zq, codes, losses = m(z)
    frames = tuple(s for s in shape if s is not None)
    assert zq.shape == z.shape and codes.shape == frames + code_tail
    assert codes.dtype == torch.long
    assert all(v.ndim == 0 and v.item() == 0.0 for v in losses.values())
    (zq.sum() + sum(losses.values())).backward()
    assert z.grad is not None and z.grad.shape == z.shape
    assert torch.equal(m.encode(z), codes)
    assert m.decode(codes).shape == z.shape
    if isinstance(m, LFQ):
        assert sorted(losses) == ["commitment", "entropy"]
        assert all(v.item() == 0.0 for v in m.entropies(z).values())


# --------------------------------------------------------------------------- float64 codes
# The contract: fsq, FSQ and ResidualFSQ give the codes of the float64 computation on the
# same input values for float16, bfloat16, float32 and float64 input, and zq is the float64
# zq cast to the input dtype. The inputs that tell are those at and just beside a cell edge.
NARROW = [torch.float32, torch.float16, torch.bfloat16]


def nudged(z: torch.Tensor, ulps: int) -> torch.Tensor:
    """``z`` moved ``ulps`` units in the last place of its own dtype (down when negative)."""
    target = torch.full_like(z, math.inf if ulps > 0 else -math.inf)
    for _ in range(abs(ulps)):
        z = torch.nextafter(z, target)
    return z


def cell_edges(level: int, max_edges: int = 400) -> np.ndarray:
    """Bounded values halfway between neighbouring levels, ascending: all ``L - 1`` of them,
    or ``max_edges`` spread evenly over them (without listing the others)."""
    if level - 1 <= max_edges:
        j = np.arange(level - 1)
    else:
        j = np.linspace(0, level - 2, max_edges).round().astype(np.int64)
    return (2 * j + 2 - level) / (level - 1)


def edge_inputs(levels: list[int], dtype: torch.dtype, ulps: int = 3) -> torch.Tensor:
    """``atanh`` of the cell edges of every coordinate in ``dtype``, and ``ulps`` ulps either side.

    Coordinate ``d`` cycles through its points, so the rows combine the coordinates' edges
    in changing ways.
    """
    columns = []
    for level in levels:
        at = torch.from_numpy(np.arctanh(cell_edges(level))).to(dtype)
        columns.append(torch.cat([nudged(at, u) for u in range(-ulps, ulps + 1)]))
    rows = max(len(c) for c in columns)
    return torch.stack([c.repeat(-(-rows // len(c)))[:rows] for c in columns], dim=-1)


def assert_float64_codes(z: torch.Tensor, levels: list[int]) -> None:
    """fsq and FSQ on ``z`` give the codes of float64 on its values, and zq its zq cast."""
    ref_codes, ref_zq = fsq(z.double(), levels)
    codes, zq = fsq(z, levels)
    assert zq.dtype == z.dtype
    assert torch.equal(codes, ref_codes)
    assert torch.equal(zq, ref_zq.to(z.dtype))
    assert torch.equal(fsq_decode(codes, levels, dtype=z.dtype), zq)
    m_zq, m_codes, _ = FSQ(levels)(z)
    assert torch.equal(m_codes, ref_codes) and torch.equal(m_zq, zq)
    assert torch.equal(FSQ(levels).encode(z), ref_codes)


def test_float32_value_just_inside_a_cell_edge_gets_the_float64_code():
    # tanh(-0.5493061) is -0.49999996 in float64, inside level 1 of L = 3; float32 tanh
    # rounds it onto the edge -0.5, whose tie goes outward to level 0
    z = torch.tensor([[-0.5493061]], dtype=torch.float32)
    codes, zq = fsq(z, [3])
    assert codes.tolist() == [1] and zq.tolist() == [[0.0]] and zq.dtype == torch.float32
    ref_codes, ref_zq = fsq(z.double(), [3])
    assert torch.equal(codes, ref_codes) and torch.equal(zq, ref_zq.float())
    assert FSQ([3])(z)[1].tolist() == [1]
    assert ResidualFSQ([3], 1)(z)[1].tolist() == [[1]]


def test_float32_input_with_more_than_2_to_the_24_levels_gets_the_float64_code():
    # float32 cannot tell 2**30 levels apart (its rounding lands 9 levels off here)
    z = torch.tensor([[0.3, 0.123456789]])
    levels = [3, 2**30]
    codes, zq = fsq(z, levels)
    assert codes.tolist() == [1808449720]
    assert torch.equal(codes, fsq(z.double(), levels)[0])
    assert torch.equal(fsq_decode(codes, levels, dtype=torch.float32), zq)


EDGE_LEVELS = [[3], [4], [2, 5], [8, 5, 5, 5], [7, 16, 6], [255], [4096, 3], [2**30, 3]]


@pytest.mark.parametrize("dtype", NARROW, ids=str)
@pytest.mark.parametrize("levels", EDGE_LEVELS, ids=str)
def test_inputs_at_and_beside_cell_edges_get_the_float64_codes(levels, dtype):
    z = edge_inputs(levels, dtype)
    assert_float64_codes(z, levels)
    # numpy in (float32 and float16 exist there): the same codes as float64 numpy
    if dtype in (torch.float32, torch.float16):
        arr = z.numpy()
        codes, zq = fsq(arr, levels)
        ref_codes, ref_zq = fsq(arr.astype(np.float64), levels)
        assert zq.dtype == arr.dtype
        np.testing.assert_array_equal(codes, ref_codes)
        np.testing.assert_array_equal(zq, ref_zq.astype(arr.dtype))
        np.testing.assert_array_equal(fsq_decode(codes, levels, dtype=arr.dtype), zq)


@settings(max_examples=80, deadline=None)
@given(
    st.data(),
    st.lists(st.integers(2, 9) | st.integers(10, 2**31), min_size=1, max_size=2),
    st.sampled_from(NARROW),
)
def test_drawn_inputs_near_cell_edges_get_the_float64_codes(data, levels, dtype):
    """Any levels, odd or even, up to 2**31: a drawn edge of each coordinate, nudged by ulps."""
    rows = []
    for _ in range(8):
        row = []
        for level in levels:
            j = data.draw(st.integers(0, level - 2), label="edge")
            edge = (2 * j + 2 - level) / (level - 1)
            at = torch.tensor([math.atanh(edge)], dtype=torch.float64).to(dtype)
            row.append(nudged(at, data.draw(st.integers(-4, 4), label="ulps")))
        rows.append(torch.cat(row))
    assert_float64_codes(torch.stack(rows), levels)


@pytest.mark.parametrize("dtype", NARROW, ids=str)
@pytest.mark.parametrize(("levels", "n_q"), [([3], 3), ([4, 5], 2), ([8, 6], 3)])
def test_residual_fsq_near_its_cell_edges_gets_the_float64_codes(levels, n_q, dtype):
    """The edges of the n_q-stage grid (where the last stage's rounding decides)."""
    m = ResidualFSQ(levels, n_q)
    columns = []
    for level in levels:
        values = residual_grid(level, n_q)
        k = kappa(level, n_q)
        at = torch.from_numpy(k * np.arctanh((values[:-1] + values[1:]) / 2 / k)).to(dtype)
        columns.append(torch.cat([nudged(at, u) for u in range(-3, 4)]))
    rows = max(len(c) for c in columns)
    z = torch.stack([c.repeat(-(-rows // len(c)))[:rows] for c in columns], dim=-1)
    ref_zq, ref_codes, _ = m(z.double())
    for n in range(1, n_q + 1):
        zq, codes, _ = m(z, n_q=n)
        assert zq.dtype == dtype
        assert torch.equal(codes, ref_codes[:, :n])
        assert torch.equal(zq, m(z.double(), n_q=n)[0].to(dtype))
        assert torch.equal(m.decode(codes, dtype=dtype), zq)
        assert torch.equal(m.encode(z, n_q=n), codes)
    assert torch.equal(zq, ref_zq.to(dtype))


@pytest.mark.parametrize("dtype", NARROW, ids=str)
def test_straight_through_gradients_stay_in_the_input_dtype(dtype):
    z = edge_inputs([5, 4], dtype, ulps=1).requires_grad_(True)
    tol = {"rtol": 1e-6, "atol": 1e-7} if dtype == torch.float32 else {"rtol": 1e-2, "atol": 1e-3}
    for m in (FSQ([5, 4]), ResidualFSQ([5, 4], 1), ResidualFSQ([5, 4], 2)):
        zq = m(z)[0]
        assert zq.dtype == dtype and zq.requires_grad
        (grad,) = torch.autograd.grad(zq.float().sum(), z)
        assert grad.dtype == dtype
        k = m.bound_scale() if isinstance(m, ResidualFSQ) else 1.0  # the bound k tanh(z / k)
        expected = 1 - torch.tanh(z.detach().double() / k) ** 2
        torch.testing.assert_close(grad.double(), expected, **tol)
        assert torch.equal(zq.detach(), m(z.detach())[0])  # the value is the grid value


@pytest.fixture
def _one_compile_thread():
    import torch._dynamo
    import torch._inductor.config as inductor_config

    old = inductor_config.compile_threads
    inductor_config.compile_threads = 1  # no pool of compile workers on a 2-core machine
    yield
    inductor_config.compile_threads = old
    torch._dynamo.reset()


@pytest.mark.usefixtures("_one_compile_thread")
@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"])
def test_compiled_fsq_gives_the_float64_codes_and_gradients(backend):
    levels = [8, 5, 5, 5]
    z = edge_inputs(levels, torch.float32, ulps=2)
    m = FSQ(levels, channel_dim=1)
    zc = z.T.unsqueeze(0).contiguous()  # (1, D, T): the channel axis second
    compiled = torch.compile(m, backend=backend)
    zg = zc.clone().requires_grad_(True)
    zq, codes, _ = compiled(zg)
    ref_codes, ref_zq = fsq(z.double(), levels)
    assert torch.equal(codes[0], ref_codes)
    assert zq.dtype == torch.float32 and torch.equal(zq[0].T, ref_zq.float())
    zq.sum().backward()
    assert zg.grad.dtype == torch.float32
    torch.testing.assert_close(zg.grad, 1 - torch.tanh(zc) ** 2)


# --------------------------------------------------------------------------- float32 fast path
def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``a`` and ``b`` have the same dtype, shape and bits (``-0.0`` is not ``0.0``)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if not a.is_floating_point():
        return torch.equal(a, b)
    ints = {8: torch.int64, 4: torch.int32, 2: torch.int16}[a.element_size()]
    return torch.equal(a.view(ints), b.view(ints))


def beside_every_edge(level: int, dtype: torch.dtype, ulps: int = 4) -> torch.Tensor:
    """``atanh`` of every cell edge of ``level`` (0 included for even ``L``) in ``dtype``,
    ``ulps`` ulps either side, both signs, and a few values far from any edge."""
    j = np.arange(level - 1)
    at = torch.from_numpy(np.arctanh((2 * j + 2 - level) / (level - 1))).to(dtype)
    near = torch.cat([nudged(at, u) for u in range(-ulps, ulps + 1)])
    extra = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e-40, -1e-40, 20.0, -20.0, 1e4, -1e4])
    far = torch.cat([torch.linspace(-6, 6, 2001, dtype=torch.float64), extra.double()])
    return torch.cat([near, -near, far.to(dtype)])


def fast_path_inputs(levels: list[int], dtype: torch.dtype) -> torch.Tensor:
    columns = [beside_every_edge(level, dtype) for level in levels]
    rows = max(len(c) for c in columns)
    gen = torch.Generator().manual_seed(len(levels) * 1031 + max(levels))
    # each column cycled and shuffled, so the rows combine the coordinates' edges in changing ways
    return torch.stack(
        [c.repeat(-(-rows // len(c)))[:rows][torch.randperm(rows, generator=gen)] for c in columns],
        dim=-1,
    )


FAST_LEVELS = [[2], [3], [4], [4, 4, 4, 4], [8, 6, 5], [5, 5, 5], [7, 16, 6], [1023], [1024, 3]]


@pytest.mark.parametrize("dtype", NARROW, ids=str)
@pytest.mark.parametrize("levels", FAST_LEVELS, ids=str)
def test_float32_fast_path_gives_the_float64_codes_and_values_bit_for_bit(levels, dtype):
    from rvqlib.fsq import _fsq_exact, _fsq_fast, _with_straight_through

    levels_t = tuple(levels)
    z = fast_path_inputs(levels, dtype)
    ref_codes, ref_values, _ = _fsq_exact(z, levels_t)
    ref_zq = ref_values.to(dtype)
    codes, values, bounded = _fsq_fast(z, levels_t)
    assert not bounded.requires_grad
    assert torch.equal(codes, ref_codes) and same_bits(values.to(dtype), ref_zq)
    # the public paths take the fast one here and give the same bits
    with torch.inference_mode():
        codes, zq = fsq(z, levels)
        m_zq, m_codes, _ = FSQ(levels).eval()(z)
        assert torch.equal(FSQ(levels).encode(z), ref_codes)
    assert torch.equal(codes, ref_codes) and same_bits(zq, ref_zq)
    assert torch.equal(m_codes, ref_codes) and same_bits(m_zq, ref_zq)
    # the channel axis second: a non-contiguous view of the channels-last input
    zc = z.T.unsqueeze(0).contiguous()
    c_zq, c_codes, _ = FSQ(levels, channel_dim=1)(zc)
    assert torch.equal(c_codes[0], ref_codes) and same_bits(c_zq[0].T, ref_zq)
    # an input that requires grad: under no_grad the same bits, with grad the float64 path,
    # the same values and the gradients of the float64 bound
    zg = z.clone().requires_grad_(True)
    with torch.no_grad():
        assert same_bits(fsq(zg, levels)[1], ref_zq)
    zq, codes = FSQ(levels)(zg)[:2]
    assert torch.equal(codes, ref_codes)
    ref = _with_straight_through(ref_values, torch.tanh(z.double().requires_grad_(True)))
    assert same_bits(zq.detach(), ref.detach().to(dtype))
    (grad,) = torch.autograd.grad(zq.float().sum(), zg)
    expected = (1 - torch.tanh(z.double()) ** 2).to(dtype)
    assert same_bits(grad, expected)


@pytest.mark.parametrize("levels", [[3], [4, 4, 4, 4], [8, 6, 5], [1023]], ids=str)
def test_float32_fast_path_on_many_drawn_values(levels):
    from rvqlib.fsq import _fsq_exact, _fsq_fast

    gen = torch.Generator().manual_seed(sum(levels))
    z = (
        torch.randn(50_000, len(levels), generator=gen)
        * torch.tensor([0.3, 1.0, 3.0, 10.0])[torch.arange(len(levels)) % 4]
    )
    ref_codes, ref_values, _ = _fsq_exact(z, tuple(levels))
    codes, values, _ = _fsq_fast(z, tuple(levels))
    assert torch.equal(codes, ref_codes) and same_bits(values, ref_values.float())


def test_float32_grid_values_round_to_every_dtype_as_float64_ones():
    """The fast path's float32 ``g / half`` cast to each narrow dtype is float64's cast."""
    for level in range(2, 1025):
        half = (level - 1) / 2
        g = torch.arange(level, dtype=torch.float64) - half
        g = torch.cat([g, -g])
        ref = g / torch.tensor([half], dtype=torch.float64)
        for values in (g.float() / half, g.float() / torch.tensor([half])):
            for dtype in NARROW:
                assert same_bits(values.to(dtype), ref.to(dtype)), (level, dtype)


def test_fast_path_is_taken_only_where_it_is_exact():
    import rvqlib.fsq as m

    calls = []
    real = m._fsq_fast

    def spy(z, levels):
        calls.append(z.dtype)
        return real(z, levels)

    z = torch.randn(4, 2)
    try:
        m._fsq_fast = spy
        fsq(z, [4, 4])
        fsq(z.half(), [4, 4])
        fsq(z.numpy(), [4, 4])
        assert len(calls) == 3
        fsq(z.double(), [4, 4])  # float64 already
        fsq(z, [3, 2**10 + 1])  # beyond the tolerance's proof
        FSQ([4, 4])(z.clone().requires_grad_(True))  # needs the float64 bound's gradient
        assert len(calls) == 3
    finally:
        m._fsq_fast = real
