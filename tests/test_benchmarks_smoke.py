"""The benchmark script runs end to end at smoke sizes, with or without the peer libraries.

No timing is asserted (timings depend on the machine): these tests check that
every part runs, writes its files, and that the correctness facts the
benchmark reports hold: rvqlib's module and function give identical codes,
every peer's codes differ from rvqlib's only on float32 ties, FSQ and LFQ give
vector-quantize-pytorch's codes once the conventions are matched, and the rANS
coder stays within the contract's 1 % + 64 bits of the ideal. ``--update``
reruns one part and keeps the others, each named with its own run.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"{prelude}\nfrom benchmarks.run import main\nmain({args!r})\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    out = tmp_path_factory.mktemp("bench")
    res = _run(["--smoke", "--out", str(out)])
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    return json.loads((out / "latest.json").read_text()), out, res.stdout


def test_smoke_writes_every_output(smoke: tuple[dict, Path, str]) -> None:
    results, out, stdout = smoke
    assert results["smoke"] is True
    assert set(results) >= {
        "encode",
        "scaling",
        "kmeans",
        "seeding",
        "train",
        "fsq",
        "entropy",
        "targets",
        "machine",
        "provenance",
    }
    assert set(results["provenance"]) == {"encode", "scaling", "kmeans", "train", "fsq", "entropy"}
    assert (out / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "latest.md").read_text()
    assert "| implementation |" in md and "rvqlib rvq_encode" in md
    assert "python -m benchmarks.run --smoke" in md
    assert md.count("Run of ") == 1  # one run: one line saying where it comes from
    assert "**FSQ, LFQ and residual FSQ**" in md and "| comparison |" in md
    assert "**rANS entropy coder**" in md and "encode (symbols/s)" in md
    for title in ("RVQ encode", "k-means", "k-means++ seeding", "RVQ training step"):
        assert title in stdout
    for title in ("Peak memory", "Targets", "FSQ / LFQ / ResidualFSQ", "Entropy coding"):
        assert title in stdout


def test_smoke_fsq_and_lfq_codes_agree_with_the_peer(smoke: tuple[dict, Path, str]) -> None:
    fsq = smoke[0]["fsq"]
    comps = fsq["comparisons"]
    assert set(comps) == {
        "FSQ",
        "FSQ (peer default bound, odd levels)",
        "LFQ",
        "LFQ, training forward",
        "ResidualFSQ",
    }
    for entry in comps.values():
        assert entry["n_vectors"] == 2 * 256
        assert all(t["median_s"] > 0 for t in entry["timings"].values())
    if fsq["peer"] is None:
        pytest.skip("vector-quantize-pytorch is not installed")
    # the same values and cell edges: codes equal but for values on an edge (none here)
    assert comps["FSQ"]["agreement"]["codes_equal_fraction"] == 1.0
    assert comps["FSQ"]["agreement"]["max_abs_value_difference"] <= 1e-6
    # the peer's default bound moves the cell edges by 1e-3: a few codes differ
    assert (
        0.95
        < comps["FSQ (peer default bound, odd levels)"]["agreement"]["codes_equal_fraction"]
        < 1.0
    )
    lfq = comps["LFQ"]["agreement"]
    assert lfq["codes_equal_fraction_after_bit_reversal"] == 1.0 and lfq["values_equal"]
    for ent in lfq["entropy_terms_nats"].values():
        assert ent["rvqlib_codebook"] == pytest.approx(ent["peer_codebook"], rel=1e-4)
        assert ent["rvqlib_per_sample"] == pytest.approx(ent["peer_per_sample"], rel=1e-3)
    assert min(comps["ResidualFSQ"]["agreement"]["codes_equal_fraction_per_stage"]) >= 0.99
    for name in ("FSQ", "LFQ", "LFQ, training forward", "ResidualFSQ"):
        assert comps[name]["speed_ratio_peer_over_rvqlib"] > 0


def test_smoke_entropy_coder(smoke: tuple[dict, Path, str]) -> None:
    ent = smoke[0]["entropy"]
    assert ent["n_symbols"] == 600 * 4 and ent["k"] == 256
    assert set(ent["models"]) == {
        "static",
        "per stage",
        "previous frame",
        "previous stage",
        "per symbol",
    }
    for name, m in ent["models"].items():
        # the contract's bound, stream by stream: at most 1 % + 64 bits over the ideal
        assert m["ideal_bits"] <= m["coded_bits"] <= 1.01 * m["ideal_bits"] + 64 * m["streams"]
        assert m["encode_symbols_per_s"] > 0 and m["decode_symbols_per_s"] > 0, name
    assert ent["bound"]["bound_met"] and ent["bound"]["trials"] == 30
    target = [t for t in smoke[0]["targets"] if t["target"].startswith("rANS coded length")]
    assert [t["met"] for t in target] == [True]


def test_update_keeps_the_other_parts_and_names_both_runs(
    smoke: tuple[dict, Path, str], tmp_path: Path
) -> None:
    before, out, _ = smoke
    (tmp_path / "latest.json").write_text((out / "latest.json").read_text())
    res = _run(["--smoke", "--parts", "fsq", "--update", "--out", str(tmp_path)])
    assert res.returncode == 0, res.stderr[-4000:]
    after = json.loads((tmp_path / "latest.json").read_text())
    for key in ("encode", "scaling", "kmeans", "seeding", "train", "entropy"):
        assert after[key] == before[key], key  # kept as they were
    assert after["provenance"]["encode"] == before["provenance"]["encode"]
    assert after["provenance"]["fsq"]["command"].endswith("--parts fsq --update")
    md = (tmp_path / "latest.md").read_text()
    assert md.count("Run of ") == 2 and md.startswith("FSQ/LFQ: Run of ")
    assert "RVQ encode, scaling and memory, k-means and seeding, training step, entropy coder" in md
    # a full-size update of smoke results is refused before anything is measured
    bad = _run(["--parts", "fsq", "--update", "--out", str(tmp_path)])
    assert bad.returncode != 0 and "other sizes" in bad.stderr


def test_smoke_encode_codes_agree(smoke: tuple[dict, Path, str]) -> None:
    enc = smoke[0]["encode"]
    assert [r["n"] for r in enc["runs"]] == [300, 1000]
    for run in enc["runs"]:
        module = run["agreement"]["rvqlib ResidualVQ.encode"]
        assert module["vectors_differing"] == 0  # the module is rvq_encode, exactly
        for peer, agr in run["agreement"].items():
            assert agr["all_ties"], (peer, agr["listed"])
        for impl in run["impls"].values():
            assert impl["vectors_per_s"] > 0 and len(impl["times_s"]) == enc["repeats"]


def test_smoke_scaling_and_memory(smoke: tuple[dict, Path, str]) -> None:
    scal = smoke[0]["scaling"]
    assert [p["n"] for p in scal["sweeps"]["n"]["points"]] == [200, 800]
    assert [p["k"] for p in scal["sweeps"]["k"]["points"]] == [16, 64]
    assert [p["n_q"] for p in scal["sweeps"]["n_q"]["points"]] == [1, 4]
    probes = [m for m in scal["memory"] if "skipped" not in m]
    assert [(m["impl"], m["n"]) for m in probes] == [("rvqlib", 1000), ("rvqlib", 4000)]
    for m in probes:
        assert m["peak_extra_bytes"] >= 0 and m["codes_bytes"] == m["n"] * m["n_q"] * 8


def test_smoke_kmeans(smoke: tuple[dict, Path, str]) -> None:
    km = smoke[0]["kmeans"]
    for name, r in km["impls"].items():
        assert 1 <= r["iterations"] <= km["n_iter"], name
        assert r["inertia_float64"] > 0
    # rvqlib's numpy and torch paths start from the same centroids and agree closely
    a = km["impls"]["rvqlib kmeans (numpy)"]["inertia_float64"]
    b = km["impls"]["rvqlib kmeans (torch)"]["inertia_float64"]
    assert abs(a - b) <= 1e-3 * a
    # the floor (the score products alone) is timed beside them and in the report
    assert km["floor_s_per_iter"] > 0
    assert "score products alone (floor)" in (smoke[1] / "latest.md").read_text()


def test_smoke_training_step_and_seeding(smoke: tuple[dict, Path, str]) -> None:
    train = smoke[0]["train"]
    assert [r["n"] for r in train["runs"]] == [300]
    # the peers come with `make bench` (benchmarks/requirements.txt), not with the
    # book's requirements: CI runs without them, and they are skipped by name
    peers = {"EnCodec RVQ": "encodec", "vector-quantize-pytorch": "vector_quantize_pytorch"}
    present = {name for name, module in peers.items() if importlib.util.find_spec(module)}
    for run in train["runs"]:
        # (the full run times the compiled model too; smoke sizes leave it out)
        assert set(run["impls"]) == {"rvqlib ResidualVQ"} | present
        assert set(train.get("skipped", {})) >= set(peers) - present
        for name, agr in run["agreement"].items():  # the first step's codes are greedy RVQ's
            assert agr["all_ties"], (name, agr["listed"])
        for impl in run["impls"].values():
            assert impl["median_s"] > 0 and len(impl["times_s"]) == train["repeats"]
    seed = smoke[0]["seeding"]
    assert len(seed["sets"]) == seed["n_sets"]
    for row in seed["sets"]:
        assert 0 <= row["rvqlib"] <= seed["seeds"] and 0 <= row["sklearn"] <= seed["seeds"]
    names = {t["target"] for t in smoke[0]["targets"]}
    assert "rvqlib k-means++ poor-minimum rate <= scikit-learn's" in names
    if "EnCodec RVQ" in present:
        assert any(n.startswith("rvqlib training step >= 2x EnCodec RVQ") for n in names)


_BLOCK_PEERS = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('encodec', 'vector_quantize_pytorch', 'sklearn'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


def test_smoke_without_peers_skips_them(tmp_path: Path) -> None:
    res = _run(["--smoke", "--parts", "encode,kmeans,fsq", "--out", str(tmp_path)], _BLOCK_PEERS)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "[skip] EnCodec RVQ" in res.stdout and "[skip] scikit-learn KMeans" in res.stdout
    assert "[skip] vector-quantize-pytorch" in res.stdout
    results = json.loads((tmp_path / "latest.json").read_text())
    names = set(results["encode"]["runs"][0]["impls"])
    assert names == {"rvqlib ResidualVQ.encode", "rvqlib rvq_encode", "matmul+argmin floor"}
    assert set(results["encode"]["skipped"]) == {"EnCodec RVQ", "vector-quantize-pytorch"}
    assert set(results["kmeans"]["skipped"]) == {"scikit-learn KMeans"}
    assert results["fsq"]["peer"] is None
    assert all(len(c["timings"]) >= 1 for c in results["fsq"]["comparisons"].values())
    assert "| FSQ | " in (tmp_path / "latest.md").read_text()
    assert "skipped" in (tmp_path / "latest.md").read_text()
    assert not (tmp_path / "scaling.png").exists()


def test_tie_check_flags_a_real_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """explain_differences accepts float32 ties and rejects a wrong code."""
    monkeypatch.syspath_prepend(str(ROOT))  # benchmarks/ is a folder of the repository
    from benchmarks.encode import explain_differences

    cb = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    z = torch.tensor([[1.0, 0.0], [0.1, 0.0]])  # row 0: exact tie 0/1; row 1: 0 is nearest
    ref = torch.tensor([[0], [0]])
    tie = explain_differences(z, [cb], ref, torch.tensor([[1], [0]]))
    assert tie["vectors_differing"] == 1 and tie["all_ties"] and tie["max_gap_units"] == 0.0
    wrong = explain_differences(z, [cb], ref, torch.tensor([[0], [2]]))
    assert wrong["vectors_differing"] == 1 and not wrong["all_ties"]
    assert wrong["listed"][0]["stage"] == 0 and wrong["listed"][0]["dist_ref"] < 0.02
    # a tie at the second stage, on the residual left by the first
    books = [torch.tensor([[0.0, 0.0], [5.0, 5.0]]), torch.tensor([[0.0, 0.0], [2.0, 0.0]])]
    z2 = torch.tensor([[6.0, 5.0]])  # stage 0 picks [5, 5]; residual [1, 0] is 1 from both
    later = explain_differences(z2, books, torch.tensor([[1, 0]]), torch.tensor([[1, 1]]))
    assert later["all_ties"] and later["listed"][0]["stage"] == 1
    assert later["listed"][0]["dist_ref"] == later["listed"][0]["dist_other"] == 1.0
