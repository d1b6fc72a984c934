"""rvqlib.codec: the tiny codec's shapes, gradients, quantizer swap, training and storage."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rvqlib.codec import (
    TinyCodec,
    TinyCodecConfig,
    load_codec,
    random_segments,
    save_codec,
    train_codec,
)
from rvqlib.nn import straight_through

SMALL = TinyCodecConfig(strides=(2, 4), channels=4, max_channels=8, dim=4, n_q=3, codebook_size=8)


def clips(n=4, length=3000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 16000
    return [
        (
            0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.01 * rng.normal(size=length)
        ).astype(np.float32)
        for _ in range(n)
    ]


def test_config_bitrate_and_validation():
    cfg = TinyCodecConfig()
    assert cfg.hop == 128 and cfg.frame_rate == 125 and cfg.bits_per_code == 8
    assert cfg.kbps(1) == 1.0 and cfg.kbps() == 8.0
    with pytest.raises(ValueError, match="n_q"):
        TinyCodecConfig(n_q=0)
    with pytest.raises(ValueError, match="strides"):
        TinyCodecConfig(strides=())


@pytest.mark.parametrize("strides", [(2, 4), (3, 5), (4,)])
def test_shapes_and_padding(strides):
    cfg = TinyCodecConfig(strides=strides, channels=4, max_channels=8, dim=4, n_q=2,
                          codebook_size=8)  # fmt: skip
    codec = TinyCodec(cfg)
    hop = cfg.hop
    codec(torch.randn(4, hop * 8), 2)  # training mode, all stages: k-means initialisation
    codec.eval()
    for n in (hop * 5, hop * 5 + 3):
        out = codec(torch.randn(2, n))
        frames = -(-n // hop)
        assert out.audio.shape == (2, n)
        assert out.codes.shape == (2, frames, 2) and out.latent.shape == (2, frames, 4)
    assert codec(np.zeros(hop * 2, dtype=np.float32)).audio.shape == (1, hop * 2)
    assert codec(torch.zeros(1, 1, hop)).audio.shape == (1, hop)


def test_encode_decode_match_forward_in_eval():
    codec = TinyCodec(SMALL)
    train_codec(codec, clips(), steps=3, batch_size=2, segment=512, progress=False)
    x = torch.from_numpy(clips(1, seed=1)[0])
    for n_q in (1, 2, 3):
        out = codec(x, n_q)
        codes = codec.encode(x, n_q)
        assert codes.shape == (-(-len(x) // SMALL.hop), n_q)
        assert torch.equal(codes, out.codes[0])
        assert torch.allclose(codec.decode(codes, len(x)), out.audio[0], atol=1e-5)
    assert codec.encode(x[None]).shape[0] == 1


def test_straight_through_reaches_the_encoder_and_its_ablation_does_not():
    x = torch.from_numpy(np.stack(clips(2)))
    for train_encoder in (True, False):
        codec = TinyCodec(SMALL, train_encoder=train_encoder)
        codec.train()
        codec(x, SMALL.n_q)  # a first batch through all stages initialises them (k-means)
        codec.eval()
        codec.zero_grad()
        out = codec(x)
        (torch.nn.functional.l1_loss(out.audio, x) + sum(out.losses.values())).backward()
        first = codec.encoder.net[0].weight.grad
        if train_encoder:
            assert first is not None and float(first.abs().sum()) > 0
        else:
            assert first is None
        assert codec.decoder.net[-1].weight.grad is not None


class RoundingQuantizer(nn.Module):
    """A stand-in quantizer (scalar rounding), to show the codec takes any quantizer."""

    def forward(self, z, n_q=None):
        q = torch.round(z * 2) / 2
        return straight_through(z, q), torch.round(z[..., :1] * 2).long(), {}


def test_quantizer_can_be_swapped():
    codec = TinyCodec(SMALL, quantizer=RoundingQuantizer())
    log = train_codec(codec, clips(), steps=4, batch_size=2, segment=512, progress=False)
    assert log.replaced == [] and len(log.loss) == 4 and set(log.parts) == {"waveform", "mel"}
    assert codec(torch.zeros(1, 256)).codes.shape == (1, 32, 1)
    with pytest.raises(TypeError, match="Module"):
        TinyCodec(SMALL, quantizer=lambda z: z)


def test_training_learns_logs_and_is_reproducible():
    data = clips()
    runs = []
    for _ in range(2):
        torch.manual_seed(1)  # the initial weights
        codec = TinyCodec(SMALL)
        log = train_codec(codec, data, steps=60, batch_size=4, segment=512, progress=False,
                          log_every=20, seed=3)  # fmt: skip
        runs.append((codec, log))
    (codec, log), (_, log2) = runs
    assert log.loss == log2.loss  # same seed, same thread count: same run
    # the default loss weighs the waveform L1 by 30: at these toy sizes it falls ~28% in 60 steps
    assert np.mean(log.loss[-10:]) < 0.8 * np.mean(log.loss[:10])
    assert set(log.parts) == {"waveform", "mel", "commitment"}
    assert log.replaced_steps == [1, 21, 41, 60] and all(len(r) == 3 for r in log.replaced)
    counts = np.array(log.replaced)
    assert np.all(np.diff(counts, axis=0) >= 0)  # cumulative
    assert set(log.n_q) <= {1, 2, 3} and len(set(log.n_q)) > 1  # quantizer dropout
    assert not codec.training and log.wall_s > 0 and log.config["steps"] == 60


def test_training_input_errors():
    codec = TinyCodec(SMALL)
    with pytest.raises(ValueError, match="multiple of the hop"):
        train_codec(codec, clips(), steps=1, segment=500, progress=False)
    with pytest.raises(ValueError, match="clips"):
        train_codec(codec, [], steps=1, segment=512, progress=False)
    with pytest.raises(ValueError, match="not both 0"):
        train_codec(codec, clips(), steps=1, segment=512, waveform_weight=0, mel_weight=0)
    with pytest.raises(TypeError, match="TinyCodec"):
        train_codec(nn.Linear(2, 2), clips(), steps=1)
    with pytest.raises(ValueError, match="shape"):
        codec(torch.zeros(2, 2, 2, 2))
    with pytest.raises(TypeError, match="floating"):
        codec(np.zeros(100, dtype=np.int16))


def test_random_segments():
    gen = torch.Generator().manual_seed(0)
    short = random_segments([np.ones(100, dtype=np.float32)], 3, 256, gen)
    assert torch.equal(short[:, :100], torch.ones(3, 100)) and short[:, 100:].abs().sum() == 0
    two = [np.full(1256, 7.0, dtype=np.float32), np.arange(10256, dtype=np.float32)]
    batch = random_segments(two, 400, 256, gen)
    assert batch.shape == (400, 256)
    sevens = int((batch[:, 0] == 7.0).sum())
    assert 20 < sevens < 60  # drawn in proportion to the 1001 and 10001 start positions
    ramps = batch[batch[:, 0] != 7.0]
    assert torch.equal(ramps[:, 1:] - ramps[:, :-1], torch.ones(len(ramps), 255))


def test_save_and_load_round_trip(tmp_path):
    codec = TinyCodec(SMALL)
    train_codec(codec, clips(), steps=3, batch_size=2, segment=512, progress=False)
    metadata = {"steps": np.int64(3), "torch": torch.__version__, "shape": (2, 3)}
    save_codec(codec, tmp_path / "c.pt", metadata=metadata)  # numpy, str subclass, tuple
    loaded, meta = load_codec(tmp_path / "c.pt")  # weights_only=True loads it
    assert meta == {"steps": 3, "torch": str(torch.__version__), "shape": [2, 3]}
    assert type(meta["torch"]) is str and loaded.config == SMALL and not loaded.training
    x = torch.from_numpy(clips(1, seed=2)[0])
    assert torch.equal(loaded.encode(x), codec.encode(x))
    assert torch.equal(loaded(x).audio, codec(x).audio)
    save_codec(codec, tmp_path / "h.pt", half=True)  # weights (not codebooks) in float16
    half, _ = load_codec(tmp_path / "h.pt")
    assert (tmp_path / "h.pt").stat().st_size < (tmp_path / "c.pt").stat().st_size
    assert float((half.encode(x) == codec.encode(x)).float().mean()) > 0.9
    assert torch.allclose(half(x).audio, codec(x).audio, atol=5e-2)
    torch.save({"format": "other"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a codec"):
        load_codec(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        load_codec(tmp_path / "missing.pt")
