"""`oml fingerprint ...`: a thin command layer over the fingerprinting library.

Attached to the `oml` root lazily (oml_chain/cli/main.py); the group itself lives in
cli_group.py. Commands only parse
options, call library functions, print a short summary and write a JSON
result; the work lives in the library modules.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import cli_fingerprints  # noqa: F401  (registers generate/embed/check/attack/audit on the group)
from . import cli_stealth  # noqa: F401  (registers stealth/evade on the group)
from .cli_group import DEVICE_HELP, _write_json, fingerprint, run_library

__all__ = ["fingerprint"]


# --- base models and utility (fingerprinting.base_models, fingerprinting.utility) -----------------


@fingerprint.command("build-base")
@click.option("--preset", type=click.Choice(["tiny", "demo"]), default="tiny", show_default=True,
              help="Model size and training recipe.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of initialisation and data order.")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Directory to write (default: the cache, $OML_CACHE or ~/.cache/oml/base-models).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the build summary here (default: none; oml_config.json is always in the model directory).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--device", default=None, help=DEVICE_HELP)
def build_base(preset: str, seed: int, out: Path | None, json_out: Path | None, quiet: bool, device: str | None):
    """Build (or reuse) the project's own base model from offline English text."""
    from .base_models import build_base_model
    from .models import read_config, weights_hash

    path = run_library(build_base_model, preset, seed=seed, out_dir=out, progress=not quiet, device=device)
    cfg = read_config(path)
    result = {"model_dir": str(path), "weights_hash": weights_hash(path),
              **{k: cfg.get(k) for k in ("preset", "seed", "params", "heldout_perplexity", "train_loss",
                                          "tokens_per_s", "seconds")}}
    click.echo(f"{path}\n  params {result['params']:,}, held-out perplexity {result['heldout_perplexity']}, "
               f"built in {result['seconds']} s\n  weights {result['weights_hash']}")
    _write_json(json_out, result)


@fingerprint.command("utility")
@click.option("--model", "model_dir", required=True, type=click.Path(path_type=Path, exists=True),
              help="Model to evaluate (e.g. a fingerprinted model directory).")
@click.option("--base", "base_dir", type=click.Path(path_type=Path, exists=True), default=None,
              help="Reference model; the ratio of perplexities is reported.")
@click.option("--split", default="heldout", show_default=True, help="Corpus split to evaluate on.")
@click.option("--limit", type=int, default=500, show_default=True, help="At most this many passages.")
@click.option("--max-length", type=int, default=256, show_default=True, help="Tokens per passage.")
@click.option("--out", "json_out", type=click.Path(path_type=Path), default=Path("out/utility.json"),
              show_default=True, help="JSON result.")
def utility_cmd(model_dir: Path, base_dir: Path | None, split: str, limit: int, max_length: int, json_out: Path):
    """Held-out perplexity of a model (and its ratio to a base model)."""
    from .data import load_corpus
    from .models import load_model
    from .utility import perplexity

    texts = run_library(load_corpus, split)[:limit]
    model, tok = run_library(load_model, str(model_dir))
    result = {"model": str(model_dir), "split": split, "passages": len(texts),
              "perplexity": run_library(perplexity, model, tok, texts, max_length=max_length)}
    msg = f"perplexity {result['perplexity']:.2f} on {len(texts)} {split} passages"
    if base_dir is not None:
        base, _ = run_library(load_model, str(base_dir))
        # The model's own tokenizer for both: a fingerprinted model keeps its base's tokenizer.
        result["base"] = str(base_dir)
        result["base_perplexity"] = run_library(perplexity, base, tok, texts, max_length=max_length)
        result["ppl_ratio"] = result["perplexity"] / result["base_perplexity"]
        msg += f"; base {result['base_perplexity']:.2f}, ratio {result['ppl_ratio']:.4f}"
    click.echo(msg)
    _write_json(json_out, result)
