"""The fingerprint benchmark's bookkeeping (benchmarks/bench_fingerprint.py): its fingerprint cache and seeds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.ml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_fingerprint", ROOT / "benchmarks" / "bench_fingerprint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cached_fingerprints_are_regenerated_for_a_rebuilt_base(bench, tiny_base_dir, tiny_other_seed_dir, tmp_path,
                                                                monkeypatch):
    """Same preset, other weights (a rebuilt base): the cached responses of the old base must not be reused."""
    from fingerprinting.fpfile import read_fingerprint_file
    from fingerprinting.models import weights_hash

    monkeypatch.setattr(bench, "CACHE", tmp_path / "cache")
    first = bench.fingerprint_file(tiny_base_dir, "random_tokens", 4, 8, "tiny")
    header, fps = read_fingerprint_file(first)
    assert header.base_weights_hash == weights_hash(tiny_base_dir) and len(fps) == 4
    assert bench.fingerprint_file(tiny_base_dir, "random_tokens", 4, 8, "tiny") == first  # reused
    rebuilt = bench.fingerprint_file(tiny_other_seed_dir, "random_tokens", 4, 8, "tiny")
    header, _ = read_fingerprint_file(rebuilt)
    assert header.base_weights_hash == weights_hash(tiny_other_seed_dir) != weights_hash(tiny_base_dir)


def test_rows_report_the_mean_and_sd_over_seeds(bench):
    def row(seed, acc, pers):
        r = {m: 1.0 for m in bench.METRICS}
        return {**r, "name": "perinucleus-16-kl", "seed": seed, "accuracy": acc, "persistence": pers,
                "heldout_template_accuracy": None, "per_template": {"bare": acc}, "variant": "kl"}

    one = bench.aggregate([row(0, 0.5, 0.25)])
    assert one["accuracy"] == 0.5 and one["accuracy_sd"] is None and one["seeds"] == [0]
    three = bench.aggregate([row(2, 1.0, 0.5), row(0, 0.5, 0.25), row(1, 0.75, 0.25)])
    assert three["seeds"] == [0, 1, 2] and three["accuracy"] == pytest.approx(0.75)
    assert three["accuracy_sd"] == pytest.approx(0.25) and three["persistence"] == pytest.approx(1 / 3)
    assert three["heldout_template_accuracy"] is None and three["per_template"]["bare"] == pytest.approx(0.75)
    assert "seed" not in three


def test_variants_and_the_two_attack_learning_rates(bench):
    assert bench.embed_config("kl", 4).kl_weight == 1.0 and bench.embed_config("reg", 4).kl_weight == 0.0
    assert bench.embed_config("kl", 4, seed=2).seed == 2
    assert all(bench.embed_config(v, 4).benign_max_length == 128 for v in bench.VARIANTS)
    assert bench.ATTACK.lr == 3e-4 and bench.ATTACK_PAPER_LR == 1e-5
    assert ("perinucleus", bench.N_STRETCH, "kl") in bench.STRETCH


def test_runs_of_parallel_processes_merge_into_one_result(bench, tmp_path, tiny_base_dir, tiny_other_seed_dir):
    """Rows run in separate processes (each its own --out) merge by (row, seed); the targets use the rows."""
    import json

    def row(name, seed, acc, pers):
        strategy, n, variant = name.rsplit("-", 2)
        r = {m: 0.0 for m in bench.METRICS}
        return {**r, "name": name, "seed": seed, "strategy": strategy, "n": int(n), "variant": variant,
                "mixing": 0.5, "kl_weight": 1.0, "adversarial": False, "accuracy": acc, "persistence": pers,
                "heldout_template_accuracy": 0.95, "ppl_ratio": 1.0, "per_template": {"bare": acc}}

    a, b, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "merged.json"
    a.write_text(json.dumps({"seed_runs": [row("perinucleus-16-kl", 0, 1.0, 0.8), row("perinucleus-16-kl", 1, 0.5, 0.6)]}))
    b.write_text(json.dumps({"seed_runs": [row("english_random-16-reg", 0, 1.0, 0.2),
                                           row("perinucleus-16-kl", 1, 0.0, 0.0)]}))  # a duplicate: first one kept
    doc = bench.main(["--quick", "--merge", str(a), str(b), "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["runs"] == doc["runs"] and out.with_suffix(".png").is_file()
    by = {r["name"]: r for r in saved["runs"]}
    assert by["perinucleus-16-kl"]["seeds"] == [0, 1] and by["perinucleus-16-kl"]["accuracy"] == pytest.approx(0.75)
    assert saved["targets"]["kl"]["english_random_row"] == "english_random-16-reg"
    assert saved["targets"]["kl"]["persistence>=2x_english_random"] == [[pytest.approx(0.7), 0.2], True]
    assert saved["targets"]["kl"]["heldout_template_accuracy>=0.9"] == [0.95, True]
    assert len(saved["seed_runs"]) == 3 and "total_seconds" not in saved  # nothing was run
