"""Train the codec whose weights chapter 8 ships (data/weights/), on the CPU.

Chapter 8 trains its codec and three ablations for about half a minute each;
this script trains the same design much longer and saves the result with
:func:`rvqlib.codec.save_codec`, together with a record of the run (settings,
wall and CPU time, the machine, dead-code replacements over training, held-out
scores) that the chapter prints. Run it from the repository root, niced on a
shared machine::

    nice -n 10 .venv/bin/python scripts/train_capstone.py            # the headline codec
    nice -n 10 .venv/bin/python scripts/train_capstone.py --waveform-only \\
        --out data/weights/capstone_codec_waveform_only.pt          # the L1-only contrast

One torch thread; the run is reproducible on the same machine, torch version and
thread count (seeded), not bit-for-bit across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rvqlib.audio_metrics import mel_distance, si_snr_db  # noqa: E402
from rvqlib.codec import TinyCodec, TinyCodecConfig, save_codec, train_codec  # noqa: E402
from rvqlib.metrics import snr_db  # noqa: E402
from rvqlib.speech import SAMPLE_RATE, load_corpus  # noqa: E402

#: The shipped codec's architecture and training settings (the chapter's in-book
#: runs use the same architecture and fewer steps).
CONFIG = {
    "training": {"batch_size": 16, "segment": 4096, "lr": 3e-3, "waveform_weight": 30.0},
}


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def evaluate(model: TinyCodec) -> dict[str, list[float]]:
    """Mean SNR, SI-SNR and mel distance over the held-out clips, per number of stages."""
    test = [u.audio for u in load_corpus("test")]
    out: dict[str, list[float]] = {"snr_db": [], "si_snr_db": [], "mel_db": []}
    with torch.no_grad():
        for n in range(1, model.config.n_q + 1):
            pairs = [(x, model(x, n).audio[0].numpy()) for x in test]
            out["snr_db"].append(float(np.mean([snr_db(x, y) for x, y in pairs])))
            out["si_snr_db"].append(float(np.mean([si_snr_db(x, y) for x, y in pairs])))
            out["mel_db"].append(
                float(np.mean([mel_distance(x, y, SAMPLE_RATE) for x, y in pairs]))
            )
    return {k: [round(v, 3) for v in vals] for k, vals in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mel-weight", type=float, default=1.0)
    parser.add_argument(
        "--waveform-only", action="store_true", help="train on the L1 waveform loss alone"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "weights" / "capstone_codec.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    train = [u.audio for u in load_corpus("train")]
    model = TinyCodec(TinyCodecConfig(channels=8, max_channels=64, residual=False))
    mel_weight = 0.0 if args.waveform_only else args.mel_weight
    load_before = _load_average()
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    log = train_codec(
        model,
        train,
        steps=args.steps,
        seed=args.seed,
        mel_weight=mel_weight,
        log_every=max(args.steps // 200, 1),
        **CONFIG["training"],
    )
    scores = evaluate(model)
    metadata = {
        "script": "scripts/train_capstone.py",
        "steps": args.steps,
        "seed": args.seed,
        "training": {**CONFIG["training"], "mel_weight": mel_weight},
        "train_voices": sorted({u.voice for u in load_corpus("train")}),
        "wall_s": round(log.wall_s, 1),
        "cpu_s": round(log.cpu_s, 1),
        "started": started,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load_average_before": load_before,
            "load_average_after": _load_average(),
        },
        "replaced_steps": log.replaced_steps,
        "replaced": log.replaced,
        "loss_every_100": [
            round(float(np.mean(log.loss[i : i + 100])), 4) for i in range(0, len(log.loss), 100)
        ],  # fmt: skip
        "held_out": scores,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_codec(model, args.out, metadata=metadata)
    print(json.dumps({k: metadata[k] for k in ("steps", "wall_s", "cpu_s", "held_out")}, indent=1))
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
