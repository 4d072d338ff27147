"""`oml fingerprint stealth | evade`: how easily a host spots a key, and dodges a response.

Thin commands over fingerprinting.stealth and fingerprinting.evade: parse,
call one library function, print a short table, write JSON.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_group import DEVICE_HELP, _write_json, fingerprint, run_library


def _taus(value: str) -> list[float]:
    try:
        taus = [float(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"expected comma-separated numbers, got {value!r}") from exc
    if not taus or any(not 0 <= t <= 1 for t in taus):
        raise click.BadParameter(f"every tau must lie in [0, 1], got {value!r}")
    return taus


@fingerprint.command("stealth")
@click.option("--model", required=True, help="Base model directory (or hub name): the host's detector model.")
@click.option("--fingerprints", "fp_file", required=True, type=click.Path(path_type=Path, exists=True),
              help="Fingerprint file whose keys are tested.")
@click.option("--held-out", "n_real", type=int, default=400, show_default=True,
              help="Real prompts (held-out passages cut to the keys' token lengths) to compare against.")
@click.option("--split", default="heldout", show_default=True, help="Corpus split the real prompts come from.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Prompts per forward pass.")
@click.option("--device", default=None, help=DEVICE_HELP)
@click.option("--out", "json_out", type=click.Path(path_type=Path), default=Path("out/stealth.json"),
              show_default=True, help="JSON result.")
def stealth_cmd(model, fp_file, n_real, split, batch_size, device, json_out):
    """Likelihood detectors of the base model on the keys vs real prompts: two-sided AUROC per detector."""
    from .stealth import stealth_of_file

    res = run_library(stealth_of_file, model, fp_file, n_real, split, batch_size, device)
    click.echo(f"{res['n_keys']} keys vs {res['n_real']} real prompts ({split}); AUROC 0.5 = indistinguishable "
               f"(chance spread ±{res['null_sd']:.3f})")
    for name, d in res["detectors"].items():
        click.echo(f"  {name:16s} AUROC {d['two_sided']:.3f}  ({d['direction']}: keys {d['keys_mean']:.3f}, "
                   f"real {d['real_mean']:.3f})")
    click.echo(f"  worst case       AUROC {res['worst_two_sided_auroc']:.3f}")
    _write_json(json_out, res)


@fingerprint.command("evade")
@click.option("--model", required=True, help="Fingerprinted model directory (the evading host's model).")
@click.option("--fingerprints", "fp_file", required=True, type=click.Path(path_type=Path, exists=True),
              help="Fingerprint file.")
@click.option("--tau", "taus", default="0.5,0.7,0.9,0.99", show_default=True, callback=lambda c, p, v: _taus(v),
              help="Comma-separated thresholds: swap the top two tokens where p_top > tau.")
@click.option("--temperature", type=float, default=0.0, show_default=True,
              help="Also run the sampling variant at this temperature (0 = greedy only).")
@click.option("--samples", type=int, default=8, show_default=True, help="Sampled replies per key (sampling variant).")
@click.option("--texts", type=int, default=200, show_default=True, help="Held-out passages the cost is measured on.")
@click.option("--split", default="heldout", show_default=True, help="Corpus split of those passages.")
@click.option("--budget", type=float, default=0.05, show_default=True,
              help="Cheap evasion: at most this much extra perplexity (the best one is reported).")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--rank", type=click.IntRange(min=2), default=2, show_default=True,
              help="Exchange the top token with this one (2: the runner-up; 3: the adaptive host that also dodges "
                   "a key's second response).")
@click.option("--device", default=None, help=DEVICE_HELP)
@click.option("--out", "json_out", type=click.Path(path_type=Path), default=Path("out/evade.json"),
              show_default=True, help="JSON result.")
def evade_cmd(model, fp_file, taus, temperature, samples, texts, split, budget, seed, rank, device, json_out):
    """A host swapping over-confident tokens: fingerprints still firing vs the perplexity it costs."""
    from .evade import evasion_of_file

    res = run_library(evasion_of_file, model, fp_file, taus, temperature, samples, split, texts, seed, budget, device,
                      rank)
    click.echo(f"{res['n']} fingerprints (keys), top token exchanged with rank {rank}; cost on {res['tokens']} tokens of {res['texts']} {split} passages")
    click.echo("     tau  firing  sampled   cost  first-token cost  swapped")
    for p in res["points"]:
        sampled = f"{p['fire_sampled']:7.1%}" if p["fire_sampled"] is not None else "      -"
        click.echo(f"  {p['tau']:6.3f}  {p['fire_greedy']:6.1%}  {sampled}  {p['cost']:6.2%}  {p['first_token_cost']:16.2%}"
                   f"  {p['swapped_fraction']:6.1%}")
    for label, key, cost in (("every token", "best", "cost"), ("first token only", "best_first_token",
                             "first_token_cost"), ("word tokens only", "best_words_only", "words_only_cost")):
        b = res[key]
        click.echo(f"best evasion within {budget:.0%} ({label}): tau {b['tau']:.3f}, {b['fire_greedy']:.1%} still fire "
                   f"(cost {b[cost]:.2%})")
    _write_json(json_out, res)
