"""Tests of the chapter 8 exercise checkers (rvqlib.exercises.ch08)."""

from __future__ import annotations

import numpy as np
import torch
from exercise_asserts import assert_right, assert_wrong

from rvqlib.bitstream import pack_codes
from rvqlib.exercises import ch08


# ----------------------------------------------------------------- by hand
def test_hand_answers_are_the_arithmetic() -> None:
    fwd, grad, grad_at_z = ch08.hand_answers()
    assert np.allclose(fwd, [0.5, 2.0])
    assert np.allclose(grad, [-1.0, 2.0])
    assert np.allclose(grad_at_z, [-1.4, 1.4])
    # the codebook's values are not its indices, so the two cannot be confused
    assert not np.allclose(ch08.CODEBOOK_HAND, np.arange(3))


def test_by_hand_right_and_rounded() -> None:
    assert_right(ch08.check_by_hand([0.5, 2.0], [-1.0, 2.0]))
    assert_right(ch08.check_by_hand(torch.tensor([0.5, 2.0]), np.array([-1.0, 2.0])))
    # float32 arithmetic and 3 significant figures are accepted
    assert_right(ch08.check_by_hand(np.float32([0.5000001, 2.0]), [-0.99999994, 2.0000002]))
    assert_right(ch08.check_by_hand([0.500, 2.00], [-1.00, 2.00]))


def test_by_hand_slips() -> None:
    assert_wrong(ch08.check_by_hand([1, 2], [-1.0, 2.0]), "indices")
    assert_wrong(ch08.check_by_hand([0.3, 1.7], [-1.0, 2.0]), "z itself")
    assert_wrong(ch08.check_by_hand([0.5, 2.0], [-1.4, 1.4]), "gradient at z")
    assert_wrong(ch08.check_by_hand([0.5, 2.0], [-1.40, 1.40]), "gradient at z")
    assert_wrong(ch08.check_by_hand([0.5, 2.0], [-0.5, 1.0]), "factor 2")
    assert_wrong(ch08.check_by_hand([0.5, 2.0], [0.0, 2.0]), "indices as the forward value")
    assert_wrong(ch08.check_by_hand([0.5, 2.0], [0.0, 0.0]), "argmin")
    assert_wrong(ch08.check_by_hand([0.5, 2.0], [1.0, 1.0]), "dL/d out")
    assert_wrong(ch08.check_by_hand([-1.0, 2.0], [-1.0, 2.0]), "forward value")
    assert_wrong(ch08.check_by_hand([0.5, 2.0], [1.0, -2.0]), "wrong sign")


def test_by_hand_wrong_types_and_placeholder() -> None:
    assert_wrong(ch08.check_by_hand(..., ...), "no answer yet")
    assert_wrong(ch08.check_by_hand([0.5, 2.0], ...), "no answer yet")
    assert_wrong(ch08.check_by_hand("0.5, 2", [-1, 2]), "array of numbers")
    assert_wrong(ch08.check_by_hand([0.5, 2.0, 1.0], [-1, 2]), "shape")
    assert_wrong(ch08.check_by_hand(None, None), "None")
    assert_wrong(ch08.check_by_hand({"a": 1}, [-1, 2]))


# ----------------------------------------------------------------- implement
def test_straight_through_right() -> None:
    assert_right(ch08.check_straight_through(lambda z, zq: z + (zq - z).detach()))
    assert_right(ch08.check_straight_through(lambda z, zq: zq.detach() + z - z.detach()))
    # computing in float64 and returning float64 is fine (float32-tolerant comparison)
    assert_right(ch08.check_straight_through(lambda z, zq: z.double() + (zq - z).double().detach()))


def test_straight_through_slips() -> None:
    assert_wrong(ch08.check_straight_through(lambda z, zq: z), "z's value")
    assert_wrong(ch08.check_straight_through(lambda z, zq: zq.detach()), "no gradient flows")
    assert_wrong(ch08.check_straight_through(lambda z, zq: z + (zq - z)), "z gets no gradient")
    assert_wrong(ch08.check_straight_through(lambda z, zq: zq + (z - zq).detach()), "z's value")
    assert_wrong(ch08.check_straight_through(lambda z, zq: zq + 0 * z), "goes to zq")
    assert_wrong(
        ch08.check_straight_through(lambda z, zq: 2 * z + (zq - 2 * z).detach()), "identity"
    )
    assert_wrong(ch08.check_straight_through(lambda z, zq: z + zq - z.detach()), "also reaches zq")
    assert_wrong(ch08.check_straight_through(lambda z, zq: zq.tolist()), "torch tensor")
    assert_wrong(ch08.check_straight_through(lambda z, zq: None), "returned None")


def test_straight_through_wrong_type_and_placeholder() -> None:
    assert_wrong(ch08.check_straight_through(3), "expected a function")
    assert_wrong(ch08.check_straight_through(None), "expected a function")
    assert_wrong(ch08.check_straight_through(...), "no function yet")
    assert_wrong(ch08.check_straight_through(lambda z, zq: ...), "no answer yet")


# ----------------------------------------------------------------- predict
def test_no_ste_gradient_matches_autograd() -> None:
    z = torch.tensor([[0.3], [1.7]], requires_grad=True)
    codebook = torch.tensor(ch08.CODEBOOK_HAND[:, None], dtype=torch.float32, requires_grad=True)
    k = torch.cdist(z, codebook).argmin(dim=1)
    ((codebook[k] - 1.0) ** 2).sum().backward()
    assert z.grad is None and codebook.grad is not None
    assert_right(ch08.check_no_ste_gradient(z.grad))  # Python None itself
    assert_right(ch08.check_no_ste_gradient("None"))
    assert_right(ch08.check_no_ste_gradient(" none "))
    assert_right(ch08.check_no_ste_gradient("no gradient"))


def test_no_ste_gradient_wrong_and_placeholder() -> None:
    assert_wrong(ch08.check_no_ste_gradient("zeros"), "not on any path")
    assert_wrong(ch08.check_no_ste_gradient(0), "not on any path")
    assert_wrong(ch08.check_no_ste_gradient("ones"), "estimator")
    assert_wrong(ch08.check_no_ste_gradient("the gradient at z_q"), "only the estimator")
    assert_wrong(ch08.check_no_ste_gradient("maybe"), "not one of the options")
    assert_wrong(ch08.check_no_ste_gradient([1, 2]), "not one of the options")
    assert_wrong(ch08.check_no_ste_gradient(...), "no answer yet")


# ----------------------------------------------------------------- explain
def test_bias() -> None:
    assert_right(ch08.check_bias("a"))
    assert_right(ch08.check_bias("(A)"))
    assert_wrong(ch08.check_bias("b"), "exactly z_q")
    assert_wrong(ch08.check_bias("c"), "without the estimator")
    assert_wrong(ch08.check_bias("d"), "codebook")
    assert_wrong(ch08.check_bias(3.5), "not one of the options")
    assert_wrong(ch08.check_bias(...), "no answer yet")


# ----------------------------------------------------------------- bytes
def test_stream_bytes_is_what_pack_codes_writes() -> None:
    c = ch08.STREAM_CONFIG
    frames = int(np.ceil(c["seconds"] * c["sample_rate"] / c["hop"]))
    codes = np.zeros((frames, int(c["n_q"])), dtype=np.int64)
    data = pack_codes(codes, int(c["codebook_size"]), hop=128, sample_rate=16000)
    assert len(data) == ch08.stream_bytes() == 959


def test_stream_bytes_checker() -> None:
    assert_right(ch08.check_stream_bytes(959))
    assert_right(ch08.check_stream_bytes(959.0))
    assert_right(ch08.check_stream_bytes(np.int64(959)))
    assert_wrong(ch08.check_stream_bytes(939), "header")
    assert_wrong(ch08.check_stream_bytes(7532), "bits, not bytes")
    assert_wrong(ch08.check_stream_bytes(956), "rounded the frames down")
    assert_wrong(ch08.check_stream_bytes(957.5), "nominal bitrate")
    for nominal in (958, 957):  # the same slip, rounded to whole bytes
        assert_wrong(ch08.check_stream_bytes(nominal), "nominal bitrate")
    for bare in (937.5, 938):  # nominal bitrate times duration, no header either
        assert_wrong(ch08.check_stream_bytes(bare), "nominal bitrate by the duration")
        assert_wrong(ch08.check_stream_bytes(bare), "header")
    assert_wrong(ch08.check_stream_bytes(960), "too large")
    assert_wrong(ch08.check_stream_bytes("959 bytes"), "single number")
    assert_wrong(ch08.check_stream_bytes(None), "None")
    assert_wrong(ch08.check_stream_bytes(...), "no answer yet")
