"""Fingerprinting benchmark: utility and persistence against the number of fingerprints.

For each run (strategy, N, regularizers, adversarial or not) on the `demo` base
model: generate (cached) fingerprints, embed them, check them (bare keys and
the held-out system-prompt templates), measure the perplexity ratio against
the base on held-out text, run one fixed persistence attack and re-check, and
audit the base model and an independently trained model (another seed) for
false positives. Writes benchmarks/results/fingerprint.json after every run
(partial results survive) and redraws fingerprint.png (the spirit of the
seed's Figure 4). Run: `make bench-fingerprint` (options: --quick, --only,
--resume, --out, --threads).

Fingerprint sets: one set of 1024 per strategy, generated once with seed 0
and cached; the N = 64 and 256 sets are its first N records (prefixes).
Perinucleus and English-random share the same English keys (same seed, keys
are drawn before responses). Models live in a temporary directory that is
deleted after each run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fingerprinting.attack import AttackConfig, finetune_lm  # noqa: E402
from fingerprinting.base_models import build_base_model  # noqa: E402
from fingerprinting.check import check_fingerprints  # noqa: E402
from fingerprinting.data import load_corpus  # noqa: E402
from fingerprinting.embed import EmbedConfig, embed  # noqa: E402
from fingerprinting.fpfile import read_fingerprint_file, write_fingerprint_file  # noqa: E402
from fingerprinting.generate import GenerateConfig, generate_fingerprint_file  # noqa: E402
from fingerprinting.models import load_model  # noqa: E402
from fingerprinting.utility import perplexity  # noqa: E402

# ---------------------------------------------------------------- configuration
PRESET, BASE_SEED, INDEPENDENT_SEED, GEN_SEED = "demo", 0, 1, 0
N_MAX = 1024
PPL_PASSAGES, PPL_MAX_LENGTH = 200, 128  # first passages of the "heldout" split
STRATEGIES = {  # name -> (key strategy, response strategy)
    "perinucleus": ("english", "perinucleus"),
    "english_random": ("english", "english_random"),
    "random_tokens": ("random_tokens", "english_random"),
}
EMBED = EmbedConfig(lr=5e-4, epochs=8, batch_size=32, max_length=128, benign_max_length=32,
                    device="cpu", progress=False)
# Model averaging is off: per-step averaging (the reference implementation's effective schedule) at
# λ = 0.75 / 0.5 / 0.2 erased or crippled the fingerprints in the pilot and λ = 0.02 already cost accuracy
# and nearly all persistence (benchmarks/results/fingerprint_pilot.json); λ is recorded per run.
REGULARIZERS = dict(averaging_lambda=0.0, averaging_every_steps=0, mixing_ratio=0.5, prompt_augmentation=1)
NO_REGULARIZERS = dict(averaging_lambda=0.0, averaging_every_steps=0, mixing_ratio=0.0, prompt_augmentation=0)
ADVERSARIAL = dict(adversarial=True, adv_inner_steps=2, adv_lr=3e-4, adv_optimizer="adam", adv_every=4)
ATTACK = AttackConfig(lr=3e-4, steps=100, batch_size=8, max_length=64, seed=0, device="cpu", progress=False)
# Order: the target-relevant runs first, so a cut-short run still answers the targets.
RUNS = [  # (strategy, n, variant); variant: "reg" | "noreg" | "adv" (adv = reg + adversarial)
    ("perinucleus", 1024, "reg"), ("english_random", 1024, "reg"), ("perinucleus", 1024, "noreg"),
    ("perinucleus", 1024, "adv"), ("perinucleus", 64, "reg"), ("perinucleus", 256, "reg"),
    ("english_random", 64, "reg"), ("english_random", 256, "reg"), ("random_tokens", 64, "reg"),
    ("random_tokens", 256, "reg"), ("random_tokens", 1024, "reg"),
]
QUICK = dict(preset="tiny", n_max=64, runs=[("perinucleus", 16, "reg"), ("english_random", 16, "reg"),
                                            ("perinucleus", 16, "adv")], epochs=4, attack_steps=10, ppl=20)
CACHE = Path.home() / ".cache" / "oml" / "bench-fingerprints"
RESULTS = ROOT / "benchmarks" / "results"


def run_name(strategy: str, n: int, variant: str) -> str:
    return f"{strategy}-{n}-{variant}"


def embed_config(variant: str, epochs: int) -> EmbedConfig:
    extra = {**NO_REGULARIZERS} if variant == "noreg" else {**REGULARIZERS}
    if variant == "adv":
        extra.update(ADVERSARIAL)
    return replace(EMBED, epochs=epochs, **extra)


def fingerprint_file(base: Path, strategy: str, n: int, n_max: int, preset: str) -> Path:
    """The cached n_max set of a strategy, or its first n records."""
    CACHE.mkdir(parents=True, exist_ok=True)
    full = CACHE / f"{preset}-s{BASE_SEED}-{strategy}-g{GEN_SEED}-{n_max}.jsonl"
    if not full.is_file():
        keys, responses = STRATEGIES[strategy]
        tmp = full.with_suffix(".tmp")
        generate_fingerprint_file(base, tmp, GenerateConfig(n=n_max, key_strategy=keys, response_strategy=responses,
                                                            seed=GEN_SEED), device="cpu")
        tmp.rename(full)
    if n == n_max:
        return full
    part = full.with_name(full.stem + f"-first{n}.jsonl")
    if not part.is_file():
        header, fps = read_fingerprint_file(full)
        write_fingerprint_file(part, replace(header, n=n), fps[:n])
    return part


class Context:
    """Base and independent models, their perplexity and false-positive audits, loaded once."""

    def __init__(self, preset: str, ppl_passages: int):
        self.base_dir = build_base_model(preset, seed=BASE_SEED, progress=False)
        self.indep_dir = build_base_model(preset, seed=INDEPENDENT_SEED, progress=False)
        self.base, self.tok = load_model(self.base_dir, device="cpu")
        self.indep, _ = load_model(self.indep_dir, device="cpu")
        self.texts = load_corpus("heldout")[:ppl_passages]
        self.base_ppl = perplexity(self.base, self.tok, self.texts, max_length=PPL_MAX_LENGTH)
        self.audits: dict[str, tuple[list[int], list[int]]] = {}  # full set file -> (base held, indep held)

    def false_positives(self, full: Path, fps: list) -> tuple[float, float]:
        if str(full) not in self.audits:
            _, all_fps = read_fingerprint_file(full)
            self.audits[str(full)] = (check_fingerprints(self.base, self.tok, all_fps).held,
                                      check_fingerprints(self.indep, self.tok, all_fps).held)
        idx = {fp.index for fp in fps}
        base_held, indep_held = self.audits[str(full)]
        return (sum(i in idx for i in base_held) / len(fps), sum(i in idx for i in indep_held) / len(fps))


def one_run(ctx: Context, strategy: str, n: int, variant: str, epochs: int, attack: AttackConfig,
            n_max: int, preset: str) -> dict:
    t0 = time.perf_counter()
    fp_path = fingerprint_file(ctx.base_dir, strategy, n, n_max, preset)
    full = fingerprint_file(ctx.base_dir, strategy, n_max, n_max, preset)
    _, fps = read_fingerprint_file(fp_path)
    cfg = embed_config(variant, epochs)
    with tempfile.TemporaryDirectory(prefix="oml-bench-fp-") as tmp:
        res = embed(ctx.base_dir, fp_path, tmp, cfg)
    model = res.model
    check = check_fingerprints(model, ctx.tok, fps, "test")
    ratio = perplexity(model, ctx.tok, ctx.texts, max_length=PPL_MAX_LENGTH) / ctx.base_ppl
    t_attack = time.perf_counter()
    finetune_lm(model, ctx.tok, load_corpus("attack"), attack)
    after = check_fingerprints(model, ctx.tok, fps)
    attack_seconds = time.perf_counter() - t_attack
    fp_base, fp_indep = ctx.false_positives(full, fps)
    keys, responses = STRATEGIES[strategy]
    return {
        "name": run_name(strategy, n, variant), "strategy": strategy, "key_strategy": keys,
        "response_strategy": responses, "n": n, "variant": variant, "regularized": variant != "noreg",
        "averaging": cfg.averaging_lambda, "averaging_every_steps": cfg.averaging_every_steps,
        "mixing": cfg.mixing_ratio, "prompt_augmentation": cfg.prompt_augmentation,
        "adversarial": cfg.adversarial, "epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
        "optimizer_steps": res.steps, "accuracy": check.accuracy,
        "heldout_template_accuracy": check.test_template_accuracy, "per_template": check.per_template,
        "ppl_ratio": ratio, "persistence": after.accuracy,
        "persisted_count": len(after.held), "fp_base": fp_base, "fp_independent": fp_indep,
        "final_fp_loss": res.losses[-1] if res.losses else None, "embed_seconds": round(res.seconds, 1),
        "attack_seconds": round(attack_seconds, 1), "seconds": round(time.perf_counter() - t0, 1),
    }


# ---------------------------------------------------------------- report
def evaluate_targets(runs: list[dict], n: int = 1024) -> dict:
    by = {r["name"]: r for r in runs}
    peri, er = by.get(f"perinucleus-{n}-reg"), by.get(f"english_random-{n}-reg")
    adv = by.get(f"perinucleus-{n}-adv")
    out: dict = {}
    if peri:
        out["accuracy>=0.95"] = [peri["accuracy"], peri["accuracy"] >= 0.95]
        out["ppl_ratio<=1.05"] = [peri["ppl_ratio"], peri["ppl_ratio"] <= 1.05]
        out["fp_base==0"] = [peri["fp_base"], peri["fp_base"] == 0]
        out["fp_independent<=0.01"] = [peri["fp_independent"], peri["fp_independent"] <= 0.01]
    if peri and er:
        out["persistence>=2x_english_random"] = [[peri["persistence"], er["persistence"]],
                                                 peri["persistence"] >= 2 * er["persistence"]]
    if peri and adv:
        out["adversarial_raises_persistence"] = [[adv["persistence"], peri["persistence"]],
                                                 adv["persistence"] > peri["persistence"]]
        out["adversarial_ppl_ratio<=1.05"] = [adv["ppl_ratio"], adv["ppl_ratio"] <= 1.05]
    return out


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    colors = {"perinucleus": "tab:blue", "english_random": "tab:orange", "random_tokens": "tab:green"}
    panels = [("accuracy", "accuracy (bare keys)"), ("ppl_ratio", "perplexity ratio vs base (log scale; lower = better)"),
              ("persistence", "persistence (accuracy after attack)")]
    for ax, (field, title) in zip(axes, panels):
        for strategy, color in colors.items():
            pts = sorted((r["n"], r[field]) for r in runs if r["strategy"] == strategy and r["variant"] == "reg")
            if pts:
                ax.plot(*zip(*pts), "-o", color=color, label=f"{strategy} (regularized)")
        for variant, marker, label in (("noreg", "x", "perinucleus, no regularizers"),
                                       ("adv", "*", "perinucleus, adversarial")):
            pts = [(r["n"], r[field]) for r in runs if r["variant"] == variant]
            if pts:
                ax.plot(*zip(*pts), marker, color="tab:red" if variant == "noreg" else "tab:purple",
                        markersize=11, linestyle="none", label=label)
        if field != "ppl_ratio":
            ax.set_ylim(-0.03, 1.03)
        else:
            ax.set_yscale("log")
            ax.axhline(1.0, color="grey", linewidth=0.6)
            ax.axhline(1.05, color="grey", linestyle="--", linewidth=0.8, label="target 1.05")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("number of fingerprints N")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Fingerprinting on the {PRESET} model: utility and persistence vs N", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(runs: list[dict]) -> str:
    head = f"{'run':28} {'λ':>5} {'mix':>4} {'adv':>3} {'acc':>6} {'tmpl':>6} {'ppl':>6} {'pers':>6} " \
           f"{'fpB':>6} {'fpI':>6} {'sec':>6}"
    lines = [head, "-" * len(head)]
    for r in runs:
        tmpl = r["heldout_template_accuracy"]
        lines.append(f"{r['name']:28} {r['averaging']:5.2f} {r['mixing']:4.2f} {'y' if r['adversarial'] else 'n':>3} "
                     f"{r['accuracy']:6.3f} {tmpl if tmpl is not None else float('nan'):6.3f} {r['ppl_ratio']:6.3f} "
                     f"{r['persistence']:6.3f} {r['fp_base']:6.3f} {r['fp_independent']:6.3f} {r['seconds']:6.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small smoke configuration on the tiny model")
    ap.add_argument("--only", nargs="*", help="run names to run (e.g. perinucleus-1024-reg)")
    ap.add_argument("--resume", action="store_true", help="keep finished runs of an existing JSON and skip them")
    ap.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/fingerprint[_quick].json)")
    ap.add_argument("--replot", action="store_true", help="only redraw the PNG from the existing JSON")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on shared cores)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    global PRESET
    preset, n_max, runs_cfg, epochs, ppl = PRESET, N_MAX, RUNS, EMBED.epochs, PPL_PASSAGES
    attack = ATTACK
    if args.quick:
        preset, n_max, runs_cfg, epochs, ppl = (QUICK["preset"], QUICK["n_max"], QUICK["runs"], QUICK["epochs"],
                                                QUICK["ppl"])
        attack = replace(ATTACK, steps=QUICK["attack_steps"])
        PRESET = preset
    out = args.out or RESULTS / ("fingerprint_quick.json" if args.quick else "fingerprint.json")
    if args.replot:
        plot(json.loads(out.read_text())["runs"], out.with_suffix(".png"))
        return {}
    known = {run_name(*r) for r in runs_cfg}
    for name in args.only or []:
        if name not in known:
            ap.error(f"unknown run {name!r}; known: {', '.join(sorted(known))}")
    todo = [r for r in runs_cfg if not args.only or run_name(*r) in args.only]
    t_start = time.perf_counter()
    ctx = Context(preset, ppl)
    pilot = RESULTS / "fingerprint_pilot.json"
    doc = {
        "benchmark": "fingerprint", "preset": preset, "base_model": str(ctx.base_dir),
        "independent_model": str(ctx.indep_dir), "base_ppl": ctx.base_ppl,
        "config": {"embed": asdict(replace(EMBED, epochs=epochs)), "regularizers": REGULARIZERS,
                   "adversarial": ADVERSARIAL, "attack": {**asdict(attack), "split": "attack"},
                   "strategies": {k: {"keys": a, "responses": b} for k, (a, b) in STRATEGIES.items()},
                   "n_max": n_max, "generation_seed": GEN_SEED, "ppl_passages": ppl, "ppl_max_length": PPL_MAX_LENGTH,
                   "fingerprint_sets": "one set of n_max per strategy; smaller N are its prefixes; perinucleus "
                                       "and english_random share the English keys",
                   "threads": args.threads},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpu_count": torch.get_num_threads()},
        "pilot": json.loads(pilot.read_text()) if pilot.is_file() and not args.quick else None,
        "runs": [],
    }
    if args.resume and out.is_file():
        doc["runs"] = json.loads(out.read_text()).get("runs", [])
    done = {r["name"] for r in doc["runs"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    for strategy, n, variant in todo:
        if run_name(strategy, n, variant) in done:
            continue
        print(f"[bench-fingerprint] {run_name(strategy, n, variant)} ...", flush=True)
        row = one_run(ctx, strategy, n, variant, epochs, attack, n_max, preset)
        doc["runs"].append(row)
        doc["targets"] = evaluate_targets(doc["runs"], max(r[1] for r in runs_cfg))
        doc["total_seconds"] = round(time.perf_counter() - t_start, 1)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        plot(doc["runs"], out.with_suffix(".png"))
        print(table([row]).splitlines()[-1], flush=True)
    print(table(doc["runs"]))
    print(json.dumps(doc.get("targets", {}), indent=1))
    print(f"total {time.perf_counter() - t_start:.0f} s; wrote {out} and {out.with_suffix('.png')}")
    return doc


if __name__ == "__main__":
    main()
