"""Fingerprint stealth and evasion benchmark: how easily a host spots a key, and dodges a response.

Stealth (per base-model preset): for each key strategy / setting, generate
N_KEYS keys (key length 16) with several seeds and measure the base model's
likelihood detectors (fingerprinting.stealth) against N_REAL held-out prompts
of matched token length; the AUROCs are means over the seeds.

Evasion (per preset): generate N_FP fingerprints with the default strategy
(matched English keys, perinucleus responses), embed them with a regularised
recipe (benign mixing; EmbedConfig recorded in the JSON), and measure the
τ-swap host (fingerprinting.evade) on a τ grid: the fraction of fingerprints
still firing (greedy and sampled at T = 1), and the extra perplexity on
held-out text; plus the best evasion within a 5 % budget at its exact
cheapest τ, for a host that swaps every token, one that swaps only a reply's
first token, and one that swaps only word tokens (sparing punctuation and
layout, the model's most confident ordinary tokens here).

Defence (per preset): interpolate the fingerprinted weights toward the base,
θ₀ + α(θ − θ₀), for α on a grid, and re-measure. The owner's rule picks α
without the evaluation text: the largest α at which ≥ 95 % of fingerprints
hold and ≥ 90 % have response probability at or below the cheapest affordable
τ measured on the owner's own text (the "benign" split); the evaluation uses
the "heldout" split.

Defence 2 (per preset): two responses per key (perinucleus
``responses_per_key=2``, the same keys), embedded with the same recipe: the
model splits its mass between them, so a host that swaps the top token for
the runner-up emits the other response, which fires too. Measured against
the same three τ-swap hosts (rank 2: the runner-up), and against the adaptive
host that exchanges the top token with the third one (rank 3), which dodges
both; with the false-positive rate on an independently trained model (keys
that fire on it) and the persistence under the fingerprint benchmark's two
fine-tuning attacks, for one and two responses per key.

Writes benchmarks/results/fingerprint_stealth.json (merged per preset, so
`--preset tiny` and `--preset demo` can run separately) and redraws
fingerprint_stealth.png. Run:
`.venv/bin/python benchmarks/bench_fingerprint_stealth.py --preset tiny` (about
4 min on 2 cores), `--preset demo` (about 15 min); `--skip stealth|evasion|pairs`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fingerprinting.attack import AttackConfig, finetune_lm  # noqa: E402
from fingerprinting.base_models import build_base_model  # noqa: E402
from fingerprinting.check import check_fingerprints  # noqa: E402
from fingerprinting.data import load_corpus  # noqa: E402
from fingerprinting.embed import EmbedConfig, embed  # noqa: E402
from fingerprinting.evade import (COST_BUDGET, cheapest_tau, evasion_curve, fire_rates,  # noqa: E402
                                  interpolate_toward, token_stats)
from fingerprinting.fpfile import read_fingerprint_file  # noqa: E402
from fingerprinting.generate import GenerateConfig, generate_fingerprint_file  # noqa: E402
from fingerprinting.generation import next_token_probs  # noqa: E402
from fingerprinting.models import load_model  # noqa: E402
from fingerprinting.stealth import measure_stealth  # noqa: E402
from fingerprinting.strategies import GenerationContext, make_key_strategy, strategy_params  # noqa: E402
from fingerprinting.utility import perplexity  # noqa: E402

# ---------------------------------------------------------------- configuration
N_KEYS, N_REAL, KEY_LENGTH = 256, 400, 16
SEEDS = {"tiny": [0, 1, 2], "demo": [0]}
KEY_SETTINGS = {  # label -> (strategy, params); "english default" is EnglishKeys() as shipped
    "random_tokens": ("random_tokens", {"key_length": KEY_LENGTH}),
    "random_words": ("random_words", {}),
    "english T=0.5 (paper, old default)": ("english", {"temperature": 0.5, "top_p": 1.0, "match": "none"}),
    "english T=0.7": ("english", {"temperature": 0.7, "top_p": 1.0, "match": "none"}),
    "english T=1": ("english", {"temperature": 1.0, "top_p": 1.0, "match": "none"}),
    "english T=1 top-p 0.9": ("english", {"temperature": 1.0, "top_p": 0.9, "match": "none"}),
    "english T=1 top-p 0.95": ("english", {"temperature": 1.0, "top_p": 0.95, "match": "none"}),
    "english T=1 top-p 0.95 + NLL match": ("english", {"temperature": 1.0, "top_p": 0.95, "match": "nll"}),
    "english T=1 + joint match": ("english", {"temperature": 1.0, "top_p": 1.0, "match": "joint"}),
    "english default (T=1 top-p 0.95 + joint match)": ("english", {}),
}
N_FP = 64
EMBED = {  # regularised recipes that reach (nearly) 100 % on N_FP fingerprints
    "tiny": dict(lr=2e-3, epochs=20, batch_size=16, mixing_ratio=0.5),
    "demo": dict(lr=1e-3, epochs=20, batch_size=16, mixing_ratio=0.5),
}
TAUS = [1.0, 0.99, 0.98, 0.97, 0.96, 0.95, 0.9, 0.8, 0.7, 0.5, 0.3, 0.1]
ALPHAS = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
COST_TEXTS, MAX_LENGTH = 200, 128  # held-out passages for perplexity and evasion cost
SAMPLES, SAMPLE_T = 8, 1.0  # sampling variant
HOLD_MIN, BELOW_MIN = 0.95, 0.90  # the owner's rule for alpha
CACHE = Path.home() / ".cache" / "oml" / "bench-stealth"
RESULTS = ROOT / "benchmarks" / "results"


def say(msg: str) -> None:
    print(f"[bench-stealth] {msg}", flush=True)


def rounded(d):
    if isinstance(d, float):
        return round(d, 4)
    if isinstance(d, dict):
        return {k: rounded(v) for k, v in d.items()}
    if isinstance(d, list):
        return [rounded(v) for v in d]
    return d


# ---------------------------------------------------------------- stealth


def stealth(model, tok, preset: str) -> list[dict]:
    rows = []
    for label, (name, params) in KEY_SETTINGS.items():
        per_seed, seconds, draws = [], 0.0, []
        for seed in SEEDS[preset]:
            strat = make_key_strategy(name, **params)
            t0 = time.time()
            keys = strat.generate(GenerationContext(model=model, tokenizer=tok, seed=seed, batch_size=64), N_KEYS)
            seconds += time.time() - t0
            per_seed.append(measure_stealth(model, tok, keys, n_real=N_REAL).to_dict())
        dets = per_seed[0]["detectors"]
        mean = {d: sum(s["detectors"][d]["two_sided"] for s in per_seed) / len(per_seed) for d in dets}
        row = {"setting": label, "strategy": name, "params": params, "seeds": SEEDS[preset],
               "two_sided_auroc": mean, "worst": sum(s["worst_two_sided_auroc"] for s in per_seed) / len(per_seed),
               "per_seed": per_seed, "null_sd": per_seed[0]["null_sd"],
               "keys_mean_nll": sum(s["detectors"]["mean_nll"]["keys_mean"] for s in per_seed) / len(per_seed),
               "real_mean_nll": sum(s["detectors"]["mean_nll"]["real_mean"] for s in per_seed) / len(per_seed),
               "generation_s_per_seed": seconds / len(per_seed)}
        rows.append(rounded(row))
        say(f"{preset} stealth {label}: worst AUROC {row['worst']:.3f} "
            f"({', '.join(f'{d} {v:.3f}' for d, v in mean.items())})")
    return rows


# ---------------------------------------------------------------- evasion and defence


def fingerprinted(base: Path, preset: str, per_key: int = 1) -> tuple[Path, Path, dict]:
    """Default-strategy fingerprints (``per_key`` responses per key) embedded with the preset's recipe, cached by
    recipe."""
    cfg = EmbedConfig(**EMBED[preset], device="cpu", progress=False)
    keys = strategy_params(make_key_strategy(GenerateConfig().key_strategy))  # the shipped default, whatever it is
    recipe = {"base": str(base), "n": N_FP, "embed": asdict(cfg), "keys": keys, "v": 1}
    if per_key > 1:
        recipe["responses_per_key"] = per_key
    blob = json.dumps(recipe, sort_keys=True, default=str)
    root = CACHE / f"{preset}-n{N_FP}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
    fp_file, model_dir = root / "fingerprints.jsonl", root / "emb" / "model"
    done = root / "done.json"
    if not done.is_file():
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        generate_fingerprint_file(base, fp_file, GenerateConfig(n=N_FP, seed=0, batch_size=64, response_params=(
            {"responses_per_key": per_key} if per_key > 1 else {})), device="cpu")
        gen_s = time.time() - t0
        res = embed(base, fp_file, root / "emb", cfg)
        done.write_text(json.dumps({"train_accuracy": res.train_accuracy, "generate_s": gen_s,
                                    "embed_s": time.time() - t0 - gen_s}))
        say(f"{preset}: embedded {N_FP} fingerprints x {per_key} responses ({res.train_accuracy:.1%}) in "
            f"{time.time() - t0:.0f} s")
    info = json.loads(done.read_text())
    return fp_file, model_dir, {"embed_config": rounded(json.loads(json.dumps(asdict(cfg), default=str))), **info}


def response_probs(model, tok, fps) -> list[float]:
    out = [0.0] * len(fps)
    for positions, probs in next_token_probs(model, tok, [f.key for f in fps], 64):
        for row, i in enumerate(positions):
            out[i] = float(probs[row, tok(fps[i].response, add_special_tokens=False)["input_ids"][0]])
    return out


def quantiles(xs: list[float]) -> dict:
    s = sorted(xs)
    return {f"q{int(q * 100)}": s[min(len(s) - 1, int(q * len(s)))] for q in (0.1, 0.5, 0.9)}


def evasion(base: Path, preset: str) -> dict:
    fp_file, model_dir, info = fingerprinted(base, preset)
    _, fps = read_fingerprint_file(fp_file)
    base_model, tok = load_model(base, device="cpu")
    model, _ = load_model(model_dir, device="cpu")
    held, owner_text = load_corpus("heldout")[:COST_TEXTS], load_corpus("benign")[:COST_TEXTS]
    base_ppl = perplexity(base_model, tok, held, max_length=MAX_LENGTH)
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    rows = []
    for alpha in ALPHAS:
        t0 = time.time()
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(theta[n])
        interpolate_toward(model, base_model, alpha)
        probs = response_probs(model, tok, fps)
        hold = check_fingerprints(model, tok, fps).accuracy
        owner_tau = cheapest_tau(token_stats(model, tok, owner_text, MAX_LENGTH), COST_BUDGET)
        curve = evasion_curve(model, tok, fps, held, TAUS, temperature=SAMPLE_T, samples=SAMPLES,
                              max_length=MAX_LENGTH)
        row = {"alpha": alpha, "hold": hold, "ppl_ratio_vs_base": perplexity(model, tok, held, max_length=MAX_LENGTH) / base_ppl,
               "response_prob": quantiles(probs), "owner_tau": owner_tau,
               "below_owner_tau": sum(p <= owner_tau for p in probs) / len(probs),
               "honest_sampled_fire": sum(fire_rates(model, tok, fps, 1.0, SAMPLE_T, SAMPLES)) / len(fps),
               "curve": curve.to_dict(), "seconds": time.time() - t0}
        rows.append(rounded(row))
        b, bf, bw = curve.best, curve.best_first_token, curve.best_words_only
        say(f"{preset} alpha {alpha}: hold {hold:.1%}, p_resp median {row['response_prob']['q50']:.3f}, "
            f"ppl x{row['ppl_ratio_vs_base']:.3f}; best <=5% evasion tau {b.tau:.3f}: {b.fire_greedy:.1%} fire "
            f"(cost {b.cost:.2%}); first-token tau {bf.tau:.3f}: {bf.fire_greedy:.1%} (cost "
            f"{bf.first_token_cost:.2%}); words-only tau {bw.tau:.3f}: {bw.fire_greedy:.1%} (cost "
            f"{bw.words_only_cost:.2%})")
    ok = [r for r in rows if r["hold"] >= HOLD_MIN and r["below_owner_tau"] >= BELOW_MIN]
    chosen = max(ok, key=lambda r: r["alpha"]) if ok else None
    undefended = rows[0]
    return rounded({
        "n": N_FP, **info, "base_heldout_perplexity": base_ppl, "taus": TAUS, "budget": COST_BUDGET,
        "samples": SAMPLES, "sample_temperature": SAMPLE_T, "alphas": rows,
        "undefended": {"alpha": 1.0, "fire_at_best_evasion": undefended["curve"]["best"]["fire_greedy"],
                       "best_tau": undefended["curve"]["best"]["tau"], "cost": undefended["curve"]["best"]["cost"],
                       "first_token_fire": undefended["curve"]["best_first_token"]["fire_greedy"],
                       "words_only_fire": undefended["curve"]["best_words_only"]["fire_greedy"]},
        "defended": None if chosen is None else {
            "alpha": chosen["alpha"], "fire_at_best_evasion": chosen["curve"]["best"]["fire_greedy"],
            "best_tau": chosen["curve"]["best"]["tau"], "cost": chosen["curve"]["best"]["cost"],
            "hold": chosen["hold"], "ppl_ratio_vs_base": chosen["ppl_ratio_vs_base"],
            "first_token_fire": chosen["curve"]["best_first_token"]["fire_greedy"],
            "words_only_fire": chosen["curve"]["best_words_only"]["fire_greedy"],
            "words_only_tau": chosen["curve"]["best_words_only"]["tau"],
            "words_only_cost": chosen["curve"]["best_words_only"]["words_only_cost"]},
        "rule": f"largest alpha with hold >= {HOLD_MIN} and >= {BELOW_MIN} of response probabilities <= the "
                "cheapest tau within budget on the owner's benign split"})


def summary(curve: dict) -> dict:
    """The three best evasions within budget of a curve: τ, keys firing (greedy, sampled) and what they cost."""
    return {rule: {"tau": curve[key]["tau"], "fire_greedy": curve[key]["fire_greedy"],
                   "fire_sampled": curve[key]["fire_sampled"], "cost": curve[key][cost],
                   **({"first_position_cost": curve[key]["first_position_cost"]} if rule == "first_token" else {})}
            for rule, key, cost in (("every_token", "best", "cost"), ("first_token", "best_first_token",
                                                                      "first_token_cost"),
                                    ("words_only", "best_words_only", "words_only_cost"))}


def persistence(model, tok, fps) -> dict:
    """Keys still firing after the fingerprint benchmark's two fine-tuning attacks (100 steps, lr 3e-4 / 1e-5),
    each from a copy of the model."""
    import copy

    out = {}
    for label, lr in (("lr_3e-4", 3e-4), ("lr_1e-5", 1e-5)):
        attacked = copy.deepcopy(model)
        finetune_lm(attacked, tok, load_corpus("attack"), AttackConfig(lr=lr, steps=100, batch_size=8, max_length=64,
                                                                       device="cpu", progress=False))
        out[label] = check_fingerprints(attacked, tok, fps).accuracy
    return out


def pairs_defence(base: Path, preset: str) -> dict:
    """Two responses per key against the rank-2 hosts and the adaptive rank-3 host; the one-response model
    measured the same way for comparison; false positives on an independent model for both."""
    t0 = time.time()
    base_model, tok = load_model(base, device="cpu")
    indep, _ = load_model(build_base_model(preset, seed=1, progress=False), device="cpu")
    held = load_corpus("heldout")[:COST_TEXTS]
    base_ppl = perplexity(base_model, tok, held, max_length=MAX_LENGTH)
    out: dict = {"n_keys": N_FP, "responses_per_key": {}}
    for per_key in (1, 2):
        fp_file, model_dir, info = fingerprinted(base, preset, per_key)
        _, fps = read_fingerprint_file(fp_file)
        model, _ = load_model(model_dir, device="cpu")
        probs = response_probs(model, tok, fps)
        row = {"records": len(fps), "hold": check_fingerprints(model, tok, fps).accuracy,
               "ppl_ratio_vs_base": perplexity(model, tok, held, max_length=MAX_LENGTH) / base_ppl,
               "response_prob": quantiles(probs),
               "key_mass": quantiles([sum(probs[i : i + per_key]) for i in range(0, len(probs), per_key)]),
               "fp_independent": check_fingerprints(indep, tok, fps).accuracy,
               "persistence": persistence(model, tok, fps),
               "fp_base": check_fingerprints(base_model, tok, fps).accuracy,
               "embed_s": info["embed_s"]}
        for rank in (2, 3):
            curve = evasion_curve(model, tok, fps, held, TAUS, temperature=SAMPLE_T, samples=SAMPLES,
                                  max_length=MAX_LENGTH, rank=rank).to_dict()
            row[f"rank{rank}"] = {"best": summary(curve), "curve": curve}
            b = row[f"rank{rank}"]["best"]
            say(f"{preset} {per_key} response(s)/key (persistence {row['persistence']}), rank {rank}: every-token tau {b['every_token']['tau']:.3f} "
                f"{b['every_token']['fire_greedy']:.0%} fire; first-token tau {b['first_token']['tau']:.3f} "
                f"{b['first_token']['fire_greedy']:.0%} (sampled {b['first_token']['fire_sampled']:.0%}, first "
                f"tokens' ppl +{b['first_token']['first_position_cost']:.0%}); words-only tau "
                f"{b['words_only']['tau']:.3f} {b['words_only']['fire_greedy']:.0%}")
        out["responses_per_key"][str(per_key)] = rounded(row)
    out["seconds"] = round(time.time() - t0, 1)
    return out


# ---------------------------------------------------------------- plot


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    presets = [p for p in ("tiny", "demo") if p in results["presets"]]
    fig, axes = plt.subplots(1, 4, figsize=(25, 5.4))
    ax = axes[0]
    labels = list(KEY_SETTINGS)
    width = 0.8 / max(1, len(presets))
    for j, preset in enumerate(presets):
        rows = {r["setting"]: r for r in results["presets"][preset]["stealth"]}
        ax.barh([i + j * width for i in range(len(labels))], [rows[lab]["worst"] if lab in rows else 0 for lab in labels],
                height=width, label=preset)
    ax.axvline(0.6, color="k", ls="--", lw=1, label="target 0.6")
    ax.set_yticks([i + width * (len(presets) - 1) / 2 for i in range(len(labels))])
    ax.set_yticklabels([lab.replace(" (", "\n(") for lab in labels], fontsize=7)
    ax.set_xlim(0.45, 1.0)
    ax.invert_yaxis()
    ax.set_xlabel("worst detector, two-sided AUROC (0.5 = undetectable)")
    ax.set_title("Stealth: base-model NLL detectors vs keys")
    ax.legend(fontsize=8)

    ax = axes[1]
    for preset in presets:
        ev = results["presets"][preset].get("evasion")
        if not ev:
            continue
        for row, style in ((ev["alphas"][0], "-o"), (next((r for r in ev["alphas"] if ev["defended"] and
                                                            r["alpha"] == ev["defended"]["alpha"]), None), "--s")):
            if row is None:
                continue
            pts = row["curve"]["points"]
            line, = ax.plot([100 * p["cost"] for p in pts], [p["fire_greedy"] for p in pts], style, ms=4,
                            label=f"{preset}, alpha {row['alpha']}")
            best = row["curve"]["best"]
            ax.plot([100 * best["cost"]], [best["fire_greedy"]], "*", ms=12, color=line.get_color())
            ax.annotate(f"τ={best['tau']:.3f}", (100 * best["cost"], best["fire_greedy"]), fontsize=7,
                        xytext=(-42, 4), textcoords="offset points")
    ax.axvline(100 * COST_BUDGET, color="k", ls="--", lw=1, label="5 % budget")
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="target 50 %")
    ax.set_xlabel("evasion cost: extra held-out perplexity, % (points: τ grid; stars: cheapest τ within 5 %)")
    ax.set_ylabel("fingerprints still firing (greedy)")
    ax.set_title("Evasion: τ-swap host")
    ax.legend(fontsize=8)

    ax = axes[2]
    for preset in presets:
        ev = results["presets"][preset].get("evasion")
        if not ev:
            continue
        a = [r["alpha"] for r in ev["alphas"]]
        ax.plot(a, [r["hold"] for r in ev["alphas"]], "-o", ms=4, label=f"{preset}: hold (no evasion)")
        ax.plot(a, [r["curve"]["best"]["fire_greedy"] for r in ev["alphas"]], "-s", ms=4,
                label=f"{preset}: fire under best ≤5 % evasion")
        ax.plot(a, [r["curve"]["best_first_token"]["fire_greedy"] for r in ev["alphas"]], ":x", ms=4,
                label=f"{preset}: ... first-token-only host")
        if all(r["curve"].get("best_words_only") for r in ev["alphas"]):
            ax.plot(a, [r["curve"]["best_words_only"]["fire_greedy"] for r in ev["alphas"]], "-.^", ms=4,
                    label=f"{preset}: ... word-tokens-only host")
    ax.set_xlabel("alpha (weights θ₀ + α(θ − θ₀))")
    ax.set_ylabel("fraction of fingerprints")
    ax.set_title("Defence: interpolate toward the base")
    ax.legend(fontsize=7)

    ax = axes[3]
    bars = [("1", 2, "one response, rank-2 host"), ("2", 2, "two responses, rank-2 host"),
            ("2", 3, "two responses, adaptive rank-3 host")]
    groups = [(preset, rule) for preset in presets if results["presets"][preset].get("pairs")
              for rule in ("every_token", "first_token", "words_only")]
    width = 0.8 / len(bars)
    for j, (per_key, rank, label) in enumerate(bars):
        ys = [results["presets"][preset]["pairs"]["responses_per_key"][per_key][f"rank{rank}"]["best"][rule]
              ["fire_greedy"] for preset, rule in groups]
        ax.bar([i + j * width for i in range(len(groups))], ys, width=width, label=label)
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="target 50 %")
    ax.set_xticks([i + width for i in range(len(groups))])
    ax.set_xticklabels([f"{preset}\n{rule.replace('_', ' ')}" for preset, rule in groups], fontsize=7)
    ax.set_ylim(0, 1.4)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel("keys still firing under the best ≤5 % evasion (greedy)")
    ax.set_title("Defence: two responses per key")
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=["tiny", "demo"], default="tiny")
    ap.add_argument("--skip", choices=["stealth", "evasion", "pairs"], action="append", default=[],
                    help="skip a part (repeatable)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=RESULTS / "fingerprint_stealth.json")
    ap.add_argument("--plot-only", action="store_true", help="only redraw the plot from the JSON")
    args = ap.parse_args()
    if args.plot_only:
        plot(json.loads(args.out.read_text()), args.out.with_suffix(".png"))
        return
    torch.set_num_threads(args.threads)
    t0 = time.time()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"presets": {}}
    base = build_base_model(args.preset, seed=0, progress=False)
    entry = results["presets"].get(args.preset, {})
    if "stealth" not in args.skip:
        model, tok = load_model(base, device="cpu")
        entry["stealth"] = stealth(model, tok, args.preset)
        entry["stealth_config"] = {"n_keys": N_KEYS, "n_real": N_REAL, "key_length": KEY_LENGTH,
                                   "real_split": "heldout", "match_split": "benign", "seeds": SEEDS[args.preset]}
    if "evasion" not in args.skip:
        entry["evasion"] = evasion(base, args.preset)
    if "pairs" not in args.skip:
        entry["pairs"] = pairs_defence(base, args.preset)
    entry["seconds"] = round(time.time() - t0, 1)
    entry["machine"] = {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
                        "cpus": len(__import__("os").sched_getaffinity(0))}
    results["presets"][args.preset] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    plot(results, args.out.with_suffix(".png"))
    say(f"wrote {args.out} and {args.out.with_suffix('.png')} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
