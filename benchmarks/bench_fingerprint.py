"""Fingerprinting benchmark: utility and persistence against the number of fingerprints.

For each run (strategy, N, variant) on the `demo` base model: generate (cached)
fingerprints, embed them, check them (bare keys and the held-out system-prompt
templates), measure the perplexity ratio and the mean KL(base ‖ model) against
the base on held-out text, run two persistence attacks (the benchmark's harsh
lr 3e-4, and the paper's lr 1e-5, same steps) and re-check, and audit the base
model and an independently trained model (another seed) for false positives.
Every row runs with several seeds (embedding and attack; the fingerprint set
is fixed) and reports the mean and the standard deviation. Writes
benchmarks/results/fingerprint.json after every seed (partial results
survive) and redraws fingerprint.png (the spirit of the seed's Figure 4).
Run: `make bench-fingerprint` (options: --quick, --only, --seeds, --stretch,
--resume, --merge, --out, --threads). Rows can run in parallel processes, each
with its own --out, and be merged afterwards: `--merge a.json b.json` adds
their seed runs (and runs nothing unless --only names rows).

Variants: "noreg" (no regularizer), "reg" (benign mixing 0.5 + prompt
augmentation), "kl" (reg + KL self-distillation β = 1, the library's default
β; the recipe to use for many fingerprints: `oml fingerprint embed
--mixing-ratio 0.5 --prompt-augmentation 1`), "adv" (reg + adversarial
training). Benign passages are 128 tokens.

Fingerprint sets: one set of 1024 per strategy (4096 for the stretch row),
generated once with seed 0 and cached under the base model's weights hash and
the generation settings (a rebuilt base or changed strategy defaults make a new
set); smaller N are its first N records (prefixes). Perinucleus and
English-random share the same English keys (same seed, keys are drawn before
responses). Models live in a temporary directory that is deleted after each run.

False positives: a perinucleus response is drawn outside the base model's
nucleus, so it is never the base's greedy next token; the base audit (fp_base)
can then only fire when the base's greedy text starts with the response's text
through another token (" catalog" for " cat"). fp_base ≈ 0 is thus close to
true by construction and says little; the claim rests on fp_independent, the
rate on a model trained independently from another seed.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import platform
import statistics
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
from fingerprinting.generate import STRATEGY_VERSION, GenerateConfig, generate_fingerprint_file  # noqa: E402
from fingerprinting.models import load_model, weights_hash  # noqa: E402
from fingerprinting.strategies import make_key_strategy, make_response_strategy, strategy_params  # noqa: E402
from fingerprinting.utility import mean_kl, perplexity  # noqa: E402

# ---------------------------------------------------------------- configuration
PRESET, BASE_SEED, INDEPENDENT_SEED, GEN_SEED = "demo", 0, 1, 0
N_MAX, N_STRETCH = 1024, 4096
SEEDS = 3  # per row (embedding and attack seed 0, 1, 2)
PPL_PASSAGES, PPL_MAX_LENGTH = 200, 128  # first passages of the "heldout" split
STRATEGIES = {  # name -> (key strategy, response strategy)
    "perinucleus": ("english", "perinucleus"),
    "english_random": ("english", "english_random"),
    "random_tokens": ("random_tokens", "english_random"),
}
EMBED = EmbedConfig(lr=5e-4, epochs=8, batch_size=32, max_length=128, benign_max_length=128, kl_weight=0.0,
                    device="cpu", progress=False)
# Model averaging is off: per-step averaging (the reference implementation's effective schedule) at
# λ = 0.75 / 0.5 / 0.2 erased or crippled the fingerprints in the pilot and λ = 0.02 already cost accuracy
# and nearly all persistence (benchmarks/results/fingerprint_pilot.json); λ is recorded per run.
REGULARIZERS = dict(averaging_lambda=0.0, averaging_every_steps=0, mixing_ratio=0.5, prompt_augmentation=1)
NO_REGULARIZERS = dict(averaging_lambda=0.0, averaging_every_steps=0, mixing_ratio=0.0, prompt_augmentation=0)
KL = dict(kl_weight=1.0)  # the "kl" variant: REGULARIZERS + self-distillation (the library default β)
ADVERSARIAL = dict(adversarial=True, adv_inner_steps=2, adv_lr=3e-4, adv_optimizer="adam", adv_every=4)
# Two attacks from the same embedded model: the benchmark's harsh lr (30x the paper's) and the paper's lr.
ATTACK = AttackConfig(lr=3e-4, steps=100, batch_size=8, max_length=64, seed=0, device="cpu", progress=False)
ATTACK_PAPER_LR = 1e-5
VARIANTS = ("reg", "noreg", "kl", "adv")
# Order: the target-relevant runs first, so a cut-short run still answers the targets.
RUNS = [  # (strategy, n, variant); variant: "reg" | "noreg" | "kl" | "adv" (adv = reg + adversarial)
    # The library's recipe (kl) and its English-random comparison answer the targets; the rest compare.
    ("perinucleus", 1024, "kl"), ("english_random", 1024, "kl"), ("perinucleus", 1024, "reg"),
    ("english_random", 1024, "reg"), ("perinucleus", 1024, "noreg"), ("perinucleus", 1024, "adv"),
    ("perinucleus", 64, "reg"), ("perinucleus", 256, "reg"), ("perinucleus", 64, "kl"), ("perinucleus", 256, "kl"),
    ("english_random", 64, "reg"), ("english_random", 256, "reg"), ("random_tokens", 64, "reg"),
    ("random_tokens", 256, "reg"), ("random_tokens", 1024, "reg"),
]
STRETCH = [("perinucleus", N_STRETCH, "kl")]  # --stretch (hours on 2 cores)
QUICK = dict(preset="tiny", n_max=64, runs=[("perinucleus", 16, "reg"), ("perinucleus", 16, "kl"),
                                            ("english_random", 16, "reg"), ("perinucleus", 16, "adv")],
             epochs=20, lr=3e-3, attack_steps=10, ppl=20, seeds=1)  # lr and epochs that embed N = 16 in tiny
CACHE = Path.home() / ".cache" / "oml" / "bench-fingerprints"
CACHE_VERSION = 2  # 2: keyed by the base weights hash; perinucleus draws among the first k acceptable tokens
# Sets are also keyed by generate.STRATEGY_VERSION (3: perinucleus skips tokens the base's greedy text starts with);
# the 3-seed results in benchmarks/results/fingerprint.json were measured on version-2 sets (see its notes).
RESULTS = ROOT / "benchmarks" / "results"
# Metrics averaged over seeds (mean in the row, standard deviation in <name>_sd).
METRICS = ("accuracy", "heldout_template_accuracy", "ppl_ratio", "kl_to_base", "persistence",
           "persistence_paper_lr", "persisted_count", "fp_base", "fp_independent", "final_fp_loss",
           "embed_seconds", "attack_seconds", "seconds")
FP_BASE_NOTE = ("perinucleus: the response is drawn outside the base's nucleus, never its greedy token, so the "
                "base audit fires only when the base's greedy text starts with the response text through another "
                "token (the version-2 demo set: key 1011, response ' ha', base greedy ' have not': 1/1024); since "
                "STRATEGY_VERSION 3 the generator skips such tokens, so fp_base = 0 by construction, uninformative; "
                "the independent model's rate carries the claim")


def run_name(strategy: str, n: int, variant: str) -> str:
    return f"{strategy}-{n}-{variant}"


def embed_config(variant: str, epochs: int, seed: int = 0, lr: float | None = None) -> EmbedConfig:
    extra = {**NO_REGULARIZERS} if variant == "noreg" else {**REGULARIZERS}
    if variant == "adv":
        extra.update(ADVERSARIAL)
    if variant == "kl":
        extra.update(KL)
    return replace(EMBED, epochs=epochs, seed=seed, lr=lr or EMBED.lr, **extra)


def generation_settings(strategy: str, size: int) -> dict:
    """What the cached set depends on besides the base weights: strategies with their (default) parameters."""
    keys, responses = STRATEGIES[strategy]
    settings = {"n": size, "seed": GEN_SEED,
                "key_strategy": {"name": keys, "params": strategy_params(make_key_strategy(keys))},
                "response_strategy": {"name": responses, "params": strategy_params(make_response_strategy(responses))}}
    return json.loads(json.dumps(settings))  # as the file header reads back (tuples become lists)


def _cached_set_matches(path: Path, base_hash: str, settings: dict) -> bool:
    if not path.is_file():
        return False
    header, _ = read_fingerprint_file(path)
    return (header.base_weights_hash == base_hash and header.n == settings["n"] and header.seed == settings["seed"]
            and header.key_strategy == settings["key_strategy"]
            and header.response_strategy == settings["response_strategy"])


def fingerprint_file(base: Path, strategy: str, n: int, n_max: int, preset: str) -> Path:
    """The cached set of max(n, n_max) fingerprints of a strategy for this base model, or its first n records.

    The cache file is named by the base's weights hash and checked against it (and the generation
    settings) before reuse, so a rebuilt base or changed strategy defaults never reuse stale responses.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    size = max(n, n_max)
    base_hash = weights_hash(base)
    settings = generation_settings(strategy, size)
    strategies = "" if STRATEGY_VERSION == 2 else f"-s{STRATEGY_VERSION}"  # version-2 sets keep their old names
    full = CACHE / f"v{CACHE_VERSION}{strategies}-{preset}-{base_hash[2:14]}-{strategy}-g{GEN_SEED}-{size}.jsonl"
    if not _cached_set_matches(full, base_hash, settings):
        print(f"[bench-fingerprint] generating {full.name} (no matching cached set)", flush=True)
        keys, responses = STRATEGIES[strategy]
        tmp = full.with_suffix(".tmp")
        generate_fingerprint_file(base, tmp, GenerateConfig(n=size, key_strategy=keys, response_strategy=responses,
                                                            seed=GEN_SEED), device="cpu")
        tmp.rename(full)
        for old in CACHE.glob(full.stem + "-first*.jsonl"):
            old.unlink()  # prefixes of a replaced set
    if n == size:
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
            n_max: int, preset: str, seed: int = 0, lr: float | None = None) -> dict:
    """One seed of one row: embed, check, utility, two attacks, false positives."""
    t0 = time.perf_counter()
    fp_path = fingerprint_file(ctx.base_dir, strategy, n, n_max, preset)
    full = fingerprint_file(ctx.base_dir, strategy, max(n, n_max), n_max, preset)
    _, fps = read_fingerprint_file(fp_path)
    # Which (key, response) pairs this run embedded (salts aside): rows are comparable only on the same set.
    set_hash = hashlib.sha256(json.dumps([[f.key, f.response] for f in fps]).encode()).hexdigest()[:12]
    cfg = embed_config(variant, epochs, seed, lr)
    with tempfile.TemporaryDirectory(prefix="oml-bench-fp-") as tmp:
        res = embed(ctx.base_dir, fp_path, tmp, cfg)
    model = res.model
    check = check_fingerprints(model, ctx.tok, fps, "test")
    ratio = perplexity(model, ctx.tok, ctx.texts, max_length=PPL_MAX_LENGTH) / ctx.base_ppl
    drift = mean_kl(model, ctx.base, ctx.tok, ctx.texts, max_length=PPL_MAX_LENGTH)
    t_attack = time.perf_counter()
    attack_texts = load_corpus("attack")
    paper = copy.deepcopy(model)  # both attacks start from the embedded model
    finetune_lm(model, ctx.tok, attack_texts, replace(attack, seed=seed))
    after = check_fingerprints(model, ctx.tok, fps)
    finetune_lm(paper, ctx.tok, attack_texts, replace(attack, lr=ATTACK_PAPER_LR, seed=seed))
    after_paper = check_fingerprints(paper, ctx.tok, fps)
    attack_seconds = time.perf_counter() - t_attack
    fp_base, fp_indep = ctx.false_positives(full, fps)
    keys, responses = STRATEGIES[strategy]
    return {
        "name": run_name(strategy, n, variant), "seed": seed, "strategy": strategy, "key_strategy": keys,
        "response_strategy": responses, "strategy_version": STRATEGY_VERSION,  # absent in older runs: 2
        "fingerprint_set": set_hash,
        "n": n, "variant": variant, "regularized": variant != "noreg",
        "averaging": cfg.averaging_lambda, "averaging_every_steps": cfg.averaging_every_steps,
        "mixing": cfg.mixing_ratio, "kl_weight": cfg.kl_weight, "benign_max_length": cfg.benign_max_length,
        "prompt_augmentation": cfg.prompt_augmentation,
        "adversarial": cfg.adversarial, "epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
        "optimizer_steps": res.steps, "accuracy": check.accuracy,
        "heldout_template_accuracy": check.test_template_accuracy, "per_template": check.per_template,
        "ppl_ratio": ratio, "kl_to_base": drift,
        "persistence": after.accuracy, "attack_lr": attack.lr, "persisted_count": len(after.held),
        "persistence_paper_lr": after_paper.accuracy, "attack_paper_lr": ATTACK_PAPER_LR,
        "fp_base": fp_base, "fp_base_by_construction": responses == "perinucleus", "fp_independent": fp_indep,
        "final_fp_loss": res.losses[-1] if res.losses else None, "embed_seconds": round(res.seconds, 1),
        "attack_seconds": round(attack_seconds, 1), "seconds": round(time.perf_counter() - t0, 1),
    }


def aggregate(seed_rows: list[dict]) -> dict:
    """One row from its seeds: the first seed's settings, each metric's mean, and <metric>_sd (None for one seed)."""
    rows = sorted(seed_rows, key=lambda r: r["seed"])
    out = {k: v for k, v in rows[0].items() if k not in METRICS and k not in ("seed", "per_template")}
    out["seeds"] = [r["seed"] for r in rows]
    for m in METRICS:
        values = [r[m] for r in rows if r.get(m) is not None]
        out[m] = statistics.fmean(values) if values else None
        out[m + "_sd"] = statistics.stdev(values) if len(values) > 1 else None
    templates = rows[0]["per_template"] or {}
    out["per_template"] = {t: statistics.fmean(r["per_template"][t] for r in rows) for t in templates}
    return out


def aggregate_runs(seed_rows: list[dict], order: list[str]) -> list[dict]:
    names = [n for n in order if any(r["name"] == n for r in seed_rows)]
    return [aggregate([r for r in seed_rows if r["name"] == n]) for n in names]


# ---------------------------------------------------------------- report
def evaluate_targets(runs: list[dict], n: int = 1024) -> dict:
    """The targets on the means, for the plain regularized recipe ("reg") and the KL recipe ("kl")."""
    by = {r["name"]: r for r in runs}
    adv = by.get(f"perinucleus-{n}-adv")
    out: dict = {}
    for variant in ("reg", "kl"):
        peri = by.get(f"perinucleus-{n}-{variant}")
        if not peri:
            continue
        t = out.setdefault(variant, {})
        # Persistence against English-random responses embedded the same way (the regularized row if absent).
        er = by.get(f"english_random-{n}-{variant}") or by.get(f"english_random-{n}-reg")
        if er:
            t["english_random_row"] = er["name"]
        t["heldout_template_accuracy>=0.9"] = [peri["heldout_template_accuracy"],
                                               peri["heldout_template_accuracy"] >= 0.9]
        t["accuracy>=0.95"] = [peri["accuracy"], peri["accuracy"] >= 0.95]
        t["ppl_ratio<=1.05"] = [peri["ppl_ratio"], peri["ppl_ratio"] <= 1.05]
        t["fp_base==0 (by construction, see notes)"] = [peri["fp_base"], peri["fp_base"] == 0]
        t["fp_independent<=0.01"] = [peri["fp_independent"], peri["fp_independent"] <= 0.01]
        if er:
            t["persistence>=2x_english_random"] = [[peri["persistence"], er["persistence"]],
                                                   peri["persistence"] >= 2 * er["persistence"]]
            t["persistence_paper_lr>=2x_english_random"] = [
                [peri["persistence_paper_lr"], er["persistence_paper_lr"]],
                peri["persistence_paper_lr"] >= 2 * er["persistence_paper_lr"]]
    peri = by.get(f"perinucleus-{n}-reg")
    if peri and adv:
        out["adv"] = {"adversarial_raises_persistence": [[adv["persistence"], peri["persistence"]],
                                                         adv["persistence"] > peri["persistence"]],
                      "adversarial_ppl_ratio<=1.05": [adv["ppl_ratio"], adv["ppl_ratio"] <= 1.05]}
    return out


V1_RESULTS = RESULTS / "fingerprint_v1.json"  # the v1 benchmark (one seed, 32-token benign passages): grey context


def plot(runs: list[dict], path: Path, reference: list[dict] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.4))
    colors = {"perinucleus": "tab:blue", "english_random": "tab:orange", "random_tokens": "tab:green"}
    panels = [("accuracy", "accuracy (bare keys)"), ("ppl_ratio", "perplexity ratio vs base (log scale; lower = better)"),
              ("persistence", f"persistence after the attack at lr {ATTACK.lr:g}"),
              ("persistence_paper_lr", f"persistence after the attack at lr {ATTACK_PAPER_LR:g} (paper)")]
    seeds = max((len(r.get("seeds", [0])) for r in runs), default=1)
    for ax, (field, title) in zip(axes, panels):
        for strategy, marker in (("perinucleus", "o"), ("english_random", "s"), ("random_tokens", "^")):
            pts = sorted((r["n"], r[field]) for r in reference or []
                         if r["strategy"] == strategy and r.get(field) is not None and r.get("variant", "reg") == "reg")
            if pts:
                ax.plot(*zip(*pts), ":" + marker, color=colors[strategy], alpha=0.3, ms=4,
                        label=f"{strategy} (v1: one seed, benign 32 tokens, no KL)")
        for strategy, color in colors.items():
            for variant, style, label in (("reg", "-o", "regularized"), ("kl", "--s", "regularized + KL")):
                pts = sorted((r["n"], r[field], r.get(field + "_sd") or 0.0) for r in runs
                             if r["strategy"] == strategy and r["variant"] == variant and r.get(field) is not None)
                if pts:
                    xs, ys, sds = zip(*pts)
                    ax.errorbar(xs, ys, yerr=sds, fmt=style, color=color, capsize=3, label=f"{strategy} ({label})")
        for variant, marker, label, color in (("noreg", "x", "perinucleus, no regularizers", "tab:red"),
                                              ("adv", "*", "perinucleus, adversarial", "tab:purple")):
            pts = [(r["n"], r[field], r.get(field + "_sd") or 0.0) for r in runs
                   if r["variant"] == variant and r.get(field) is not None]
            if pts:
                xs, ys, sds = zip(*pts)
                ax.errorbar(xs, ys, yerr=sds, fmt=marker, color=color, markersize=11, capsize=3, label=label)
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
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Fingerprinting on the {PRESET} model: utility and persistence vs N "
                 f"(mean ± sd over {seeds} seed{'s' if seeds > 1 else ''})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(runs: list[dict]) -> str:
    head = f"{'run':28} {'seeds':>5} {'mix':>4} {'kl':>3} {'adv':>3} {'acc':>6} {'tmpl':>6} {'ppl':>6} {'KL':>6} " \
           f"{'pers':>6} {'±':>5} {'p1e-5':>6} {'fpB':>6} {'fpI':>6} {'sec':>6}"
    lines = [head, "-" * len(head)]
    nan = float("nan")

    def f(v):
        return nan if v is None else v
    for r in runs:
        lines.append(f"{r['name']:28} {len(r.get('seeds', [r.get('seed', 0)])):5d} {r['mixing']:4.2f} "
                     f"{r['kl_weight']:3.1f} {'y' if r['adversarial'] else 'n':>3} {f(r['accuracy']):6.3f} "
                     f"{f(r['heldout_template_accuracy']):6.3f} {f(r['ppl_ratio']):6.3f} {f(r['kl_to_base']):6.3f} "
                     f"{f(r['persistence']):6.3f} {f(r.get('persistence_sd')):5.3f} {f(r['persistence_paper_lr']):6.3f} "
                     f"{f(r['fp_base']):6.3f} {f(r['fp_independent']):6.3f} {f(r['seconds']):6.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small smoke configuration on the tiny model")
    ap.add_argument("--only", nargs="*", help="run names to run (e.g. perinucleus-1024-kl)")
    ap.add_argument("--seeds", type=int, default=None, help=f"seeds per row (default {SEEDS}; --quick 1)")
    ap.add_argument("--stretch", action="store_true", help=f"also the N = {N_STRETCH} row(s): {STRETCH}")
    ap.add_argument("--resume", action="store_true", help="keep finished (row, seed) runs of an existing JSON")
    ap.add_argument("--merge", nargs="+", type=Path, default=[],
                    help="add the (row, seed) runs of these JSONs (runs nothing more unless --only names rows)")
    ap.add_argument("--out", type=Path, help="JSON output (default benchmarks/results/fingerprint[_quick].json)")
    ap.add_argument("--replot", action="store_true", help="only redraw the PNG from the existing JSON")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on shared cores)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    global PRESET
    preset, n_max, runs_cfg, epochs, ppl, seeds = PRESET, N_MAX, list(RUNS), EMBED.epochs, PPL_PASSAGES, SEEDS
    attack, lr = ATTACK, EMBED.lr
    if args.quick:
        preset, n_max, runs_cfg, epochs, ppl, seeds = (QUICK["preset"], QUICK["n_max"], list(QUICK["runs"]),
                                                       QUICK["epochs"], QUICK["ppl"], QUICK["seeds"])
        lr = QUICK["lr"]
        attack = replace(ATTACK, steps=QUICK["attack_steps"])
        PRESET = preset
    if args.stretch:
        runs_cfg += STRETCH
    seeds = args.seeds or seeds
    out = args.out or RESULTS / ("fingerprint_quick.json" if args.quick else "fingerprint.json")
    reference = json.loads(V1_RESULTS.read_text())["runs"] if V1_RESULTS.is_file() and not args.quick else None
    if args.replot:
        plot(json.loads(out.read_text())["runs"], out.with_suffix(".png"), reference)
        return {}
    known = {run_name(*r) for r in runs_cfg}
    for name in args.only or []:
        if name not in known:
            ap.error(f"unknown run {name!r}; known: {', '.join(sorted(known))}")
    todo = [r for r in runs_cfg if (not args.only and not args.merge) or run_name(*r) in (args.only or [])]
    order = [run_name(*r) for r in runs_cfg]
    t_start = time.perf_counter()
    ctx = Context(preset, ppl)
    pilot = RESULTS / "fingerprint_pilot.json"
    doc = {
        "benchmark": "fingerprint", "preset": preset, "base_model": str(ctx.base_dir),
        "base_weights_hash": weights_hash(ctx.base_dir), "independent_model": str(ctx.indep_dir),
        "base_ppl": ctx.base_ppl,
        "config": {"embed": asdict(replace(EMBED, epochs=epochs, lr=lr)), "regularizers": REGULARIZERS, "kl": KL,
                   "adversarial": ADVERSARIAL, "attack": {**asdict(attack), "split": "attack"},
                   "attack_paper_lr": ATTACK_PAPER_LR, "seeds": seeds,
                   "seed_meaning": "embedding seed (batch order, benign draws) and attack seed; the fingerprint "
                                   "set is the same for every seed, so sd covers training randomness only",
                   "strategies": {k: {"keys": a, "responses": b} for k, (a, b) in STRATEGIES.items()},
                   "n_max": n_max, "generation_seed": GEN_SEED, "ppl_passages": ppl, "ppl_max_length": PPL_MAX_LENGTH,
                   "fingerprint_sets": "one set of n_max per strategy (N_STRETCH for the stretch row); smaller N "
                                       "are its prefixes; perinucleus and english_random share the English keys; "
                                       "cached by base weights hash and generation settings",
                   "threads": args.threads},
        "notes": {"fp_base": FP_BASE_NOTE,
                  "persistence": f"'persistence' is after {attack.steps} steps at lr {attack.lr:g} (the "
                                 f"benchmark's harsh attack, 30x the paper's lr); 'persistence_paper_lr' after the "
                                 f"same steps at the paper's lr {ATTACK_PAPER_LR:g}",
                  "kl_to_base": "mean per-token KL(base ‖ model) on the perplexity passages (nats)"},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpu_count": torch.get_num_threads()},
        "pilot": json.loads(pilot.read_text()) if pilot.is_file() and not args.quick else None,
        "seed_runs": [], "runs": [],
    }
    if args.resume and out.is_file():
        doc["seed_runs"] = json.loads(out.read_text()).get("seed_runs", [])
    for path in args.merge:
        have = {(r["name"], r["seed"]) for r in doc["seed_runs"]}
        doc["seed_runs"] += [r for r in json.loads(path.read_text()).get("seed_runs", [])
                             if (r["name"], r["seed"]) not in have]
    done = {(r["name"], r["seed"]) for r in doc["seed_runs"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    for strategy, n, variant in todo:
        for seed in range(seeds):
            name = run_name(strategy, n, variant)
            if (name, seed) in done:
                continue
            print(f"[bench-fingerprint] {name} seed {seed} ...", flush=True)
            doc["seed_runs"].append(one_run(ctx, strategy, n, variant, epochs, attack, n_max, preset, seed, lr))
            doc["runs"] = aggregate_runs(doc["seed_runs"], order)
            doc["targets"] = evaluate_targets(doc["runs"], N_MAX if not args.quick else max(r[1] for r in runs_cfg))
            doc["total_seconds"] = round(time.perf_counter() - t_start, 1)
            out.write_text(json.dumps(doc, indent=2) + "\n")
            plot(doc["runs"], out.with_suffix(".png"), reference)
            print(table([doc["seed_runs"][-1]]).splitlines()[-1], flush=True)
    doc["runs"] = aggregate_runs(doc["seed_runs"], order)
    if args.merge:
        doc["targets"] = evaluate_targets(doc["runs"], N_MAX if not args.quick else max(r[1] for r in runs_cfg))
        doc["merged_from"] = [str(p) for p in args.merge]
        out.write_text(json.dumps(doc, indent=2) + "\n")
        plot(doc["runs"], out.with_suffix(".png"), reference)
    print(table(doc["runs"]))
    print(json.dumps(doc.get("targets", {}), indent=1))
    print(f"total {time.perf_counter() - t_start:.0f} s; wrote {out} and {out.with_suffix('.png')}")
    return doc


if __name__ == "__main__":
    main()
