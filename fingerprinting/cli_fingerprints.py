"""`oml fingerprint generate | embed | check | attack | audit` (attached to the group in cli.py).

Each command parses options, calls one library function, prints a short
summary and writes a JSON result; library errors become a clean message and a
non-zero exit status.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_group import DEVICE_HELP, _write_json, fingerprint, run_library
from .templates import BARE

TEMPLATE_CHOICE = click.Choice([BARE, "train", "test", "all"])


def _parse_params(pairs: tuple[str, ...], option: str) -> dict:
    """NAME=VALUE pairs; VALUE is read as JSON when it parses (numbers, true/false), else as a string."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint=option)
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


@fingerprint.command("generate")
@click.option("--model", required=True, help="Base model directory (or hub name) the fingerprints are made for.")
@click.option("-n", "--n", "n", type=int, default=64, show_default=True, help="Number of fingerprints.")
@click.option("--key-strategy", default="english", show_default=True,
              help="random_tokens | random_words | english (text the model writes after a random word).")
@click.option("--key-param", multiple=True, metavar="NAME=VALUE",
              help="Key strategy parameter, repeatable (e.g. key_length=16, top_p=0.9; english keys default to temperature 1, top-p 0.95, filtered to match real text).")
@click.option("--response-strategy", default="perinucleus", show_default=True,
              help="perinucleus | english_random | english.")
@click.option("--response-param", multiple=True, metavar="NAME=VALUE",
              help="Response strategy parameter, repeatable (e.g. threshold=0.8, width=3, response_length=1; "
                   "perinucleus responses_per_key=2 writes each key with two responses, the defence against hosts "
                   "that swap the top token for the runner-up).")
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed (keys and responses).")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Prompts per model call.")
@click.option("--device", default=None, help=DEVICE_HELP)
@click.option("--out", type=click.Path(path_type=Path), default=Path("out/fingerprints.jsonl"), show_default=True,
              help="Fingerprint file to write (a secret: keep it away from hosts).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Also write a summary here.")
def generate_cmd(model, n, key_strategy, key_param, response_strategy, response_param, seed, batch_size, device,
                 out, json_out):
    """Generate N secret (key, response) pairs and write the fingerprint file."""
    from .generate import GenerateConfig, generate_fingerprint_file

    cfg = run_library(GenerateConfig, n=n, key_strategy=key_strategy, key_params=_parse_params(key_param, "--key-param"),
                      response_strategy=response_strategy,
                      response_params=_parse_params(response_param, "--response-param"), seed=seed,
                      batch_size=batch_size)
    path, fps = run_library(generate_fingerprint_file, model, out, cfg, device=device)
    keys = len({fp.key for fp in fps})
    several = f" ({keys} keys, {len(fps) // keys} responses each)" if keys != len(fps) else ""
    click.echo(f"wrote {len(fps)} fingerprints{several} ({key_strategy} keys, {response_strategy} responses) to {path}")
    click.echo(f"  e.g. {fps[0].key[:60]!r} -> {fps[0].response!r}")
    _write_json(json_out, {"fingerprint_file": str(path), "n": len(fps), "key_strategy": key_strategy,
                           "response_strategy": response_strategy, "seed": seed})


@fingerprint.command("embed")
@click.option("--model", required=True, help="Base model directory (or hub name) to fingerprint.")
@click.option("--fingerprints", "fp_file", required=True, type=click.Path(path_type=Path, exists=True),
              help="Fingerprint file from `generate`.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output directory: model/ (for hosts), fingerprints.jsonl (private copy), embed_config.json.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="AdamW learning rate.")
@click.option("--epochs", type=int, default=20, show_default=True, help="Passes over the fingerprints.")
@click.option("--batch-size", type=int, default=16, show_default=True,
              help="Sequences per step (benign included; all processes together).")
@click.option("--averaging-lambda", type=float, default=0.0, show_default=True,
              help="Model averaging after each epoch, θ ← (1−λ)θ + λθ₀ (0 = off; paper 0.75).")
@click.option("--averaging-every", type=int, default=1, show_default=True,
              help="Epochs between model averagings (raise it when N is small: few steps per epoch).")
@click.option("--mixing-ratio", type=float, default=0.0, show_default=True,
              help="Fraction of each batch that is benign text with the LM loss (paper 0.25).")
@click.option("--kl-weight", type=float, default=None,
              help="β of the self-distillation term β·KL(base ‖ model) on benign text (0 = off; default: the "
                   "library's, 1.0). Full fine-tuning keeps a frozen copy of the weights for it; LoRA needs none.")
@click.option("--benign-max-length", type=int, default=None,
              help="Tokens per benign passage for mixing and the KL term (default: the library's, 128).")
@click.option("--prompt-augmentation", type=int, default=0, show_default=True,
              help="Copies of each key per epoch wrapped in a random training system prompt (0 = off).")
@click.option("--lora-r", type=int, default=0, show_default=True, help="LoRA rank (0 = full fine-tuning).")
@click.option("--adversarial/--no-adversarial", default=False, show_default=True,
              help="First-order bilevel training against a simulated fine-tuning attacker.")
@click.option("--adv-inner-steps", type=int, default=2, show_default=True, help="Simulated attacker steps.")
@click.option("--adv-lr", type=float, default=1e-4, show_default=True, help="Simulated attacker learning rate.")
@click.option("--adv-optimizer", type=click.Choice(["sgd", "adam"]), default="sgd", show_default=True,
              help="Simulated attacker optimizer.")
@click.option("--adv-every", type=int, default=1, show_default=True, help="Adversarial step every this many steps.")
@click.option("--adv-weight", type=float, default=1.0, show_default=True,
              help="Weight of the fingerprint gradient at the attacked weights.")
@click.option("--max-length", type=int, default=128, show_default=True, help="Tokens per training sequence.")
@click.option("--mixed-precision", type=click.Choice(["no", "fp16", "bf16"]), default="no", show_default=True,
              help="Autocast precision (parameters stay fp32).")
@click.option("--seed", type=int, default=0, show_default=True, help="Training seed.")
@click.option("--device", default=None, help=DEVICE_HELP)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def embed_cmd(model, fp_file, out, lr, epochs, batch_size, averaging_lambda, averaging_every, mixing_ratio, kl_weight,
              benign_max_length, prompt_augmentation, lora_r, adversarial, adv_inner_steps, adv_lr, adv_optimizer,
              adv_every, adv_weight, max_length, mixed_precision, seed, device, quiet):
    """Fine-tune a model so that each key's greedy continuation starts with its response."""
    from .embed import EmbedConfig, embed
    from .models import LoraSettings

    lora = run_library(LoraSettings, r=lora_r) if lora_r > 0 else None
    defaults = {k: v for k, v in (("kl_weight", kl_weight), ("benign_max_length", benign_max_length)) if v is not None}
    cfg = run_library(EmbedConfig, **defaults, lr=lr, epochs=epochs, batch_size=batch_size, averaging_lambda=averaging_lambda,
                      averaging_every=averaging_every,
                      mixing_ratio=mixing_ratio, prompt_augmentation=prompt_augmentation, lora=lora,
                      adversarial=adversarial, adv_inner_steps=adv_inner_steps, adv_lr=adv_lr,
                      adv_optimizer=adv_optimizer, adv_every=adv_every, adv_weight=adv_weight, max_length=max_length,
                      mixed_precision=mixed_precision, seed=seed, device=device, progress=not quiet)
    res = run_library(embed, model, fp_file, out, cfg)
    click.echo(f"embedded into {res.model_dir}: train accuracy {res.train_accuracy:.1%}, "
               f"{res.steps} steps in {res.seconds:.1f} s (KL weight {cfg.kl_weight:g}); config and timings in "
               f"{res.config_file}")


@fingerprint.command("check")
@click.option("--model", required=True, help="Model directory (or hub name) to check.")
@click.option("--fingerprints", "fp_file", required=True, type=click.Path(path_type=Path, exists=True),
              help="Fingerprint file.")
@click.option("--templates", type=TEMPLATE_CHOICE, default=BARE, show_default=True,
              help="Bare keys only, or also inside the train / held-out test / all system-prompt templates.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Prompts per generate call.")
@click.option("--device", default=None, help=DEVICE_HELP)
@click.option("--out", "json_out", type=click.Path(path_type=Path), default=Path("out/check.json"),
              show_default=True, help="JSON result.")
def check_cmd(model, fp_file, templates, batch_size, device, json_out):
    """Greedy-decode every key and report the fraction of fingerprints that hold."""
    from .check import check_model

    res = run_library(check_model, model, fp_file, templates, batch_size, device)
    several = f" (keys of {res.n} records: a key holds on any of its responses)" if res.keys != res.n else ""
    click.echo(f"{len(res.held)}/{res.keys} fingerprints hold ({res.accuracy:.1%}){several}")
    if res.train_template_accuracy is not None:
        click.echo(f"  train templates {res.train_template_accuracy:.1%}")
    if res.test_template_accuracy is not None:
        click.echo(f"  held-out templates {res.test_template_accuracy:.1%}")
    _write_json(json_out, {"model": str(model), "fingerprint_file": str(fp_file), **res.to_dict()})


@fingerprint.command("attack")
@click.option("--model", required=True, help="Fingerprinted model directory.")
@click.option("--fingerprints", "fp_file", required=True, type=click.Path(path_type=Path, exists=True),
              help="Fingerprint file.")
@click.option("--lr", type=float, default=1e-5, show_default=True, help="Attacker learning rate.")
@click.option("--epochs", type=float, default=2.0, show_default=True, help="Passes over the attack text.")
@click.option("--steps", type=int, default=None, help="Optimizer steps (overrides --epochs).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Passages per step.")
@click.option("--max-length", type=int, default=128, show_default=True, help="Tokens per passage.")
@click.option("--max-texts", type=int, default=None, help="Use at most this many attack passages.")
@click.option("--templates", type=TEMPLATE_CHOICE, default=BARE, show_default=True, help="Templates to check.")
@click.option("--seed", type=int, default=0, show_default=True, help="Attack seed.")
@click.option("--device", default=None, help=DEVICE_HELP)
@click.option("--save", "save_dir", type=click.Path(path_type=Path), default=None,
              help="Also save the attacked model here.")
@click.option("--out", "json_out", type=click.Path(path_type=Path), default=Path("out/attack.json"),
              show_default=True, help="JSON result.")
def attack_cmd(model, fp_file, lr, epochs, steps, batch_size, max_length, max_texts, templates, seed, device,
               save_dir, json_out):
    """Fine-tune the model on unrelated text (the attack split) and re-check the fingerprints."""
    from .attack import AttackConfig, persistence_attack

    cfg = run_library(AttackConfig, lr=lr, epochs=epochs, steps=steps, batch_size=batch_size, max_length=max_length,
                      max_texts=max_texts, templates=templates, seed=seed, device=device)
    res = run_library(persistence_attack, model, fp_file, cfg, save_dir)
    click.echo(f"accuracy {res.before.accuracy:.1%} before, {res.after.accuracy:.1%} after {res.steps} attack steps "
               f"(lr {lr:g}, {res.seconds:.1f} s)")
    _write_json(json_out, {"model": str(model), **res.to_dict()})


@fingerprint.command("audit")
@click.option("--fingerprints", "fp_file", required=True, type=click.Path(path_type=Path, exists=True),
              help="Fingerprint file.")
@click.option("--base", default=None, help="Base model (default: the one named in the fingerprint file).")
@click.option("--independent", default=None,
              help="An independently trained model (default: the project's base model of another seed).")
@click.option("--independent-preset", type=click.Choice(["tiny", "demo"]), default="tiny", show_default=True,
              help="Preset of the default independent model.")
@click.option("--independent-seed", type=int, default=1, show_default=True,
              help="Seed of the default independent model.")
@click.option("--templates", type=TEMPLATE_CHOICE, default=BARE, show_default=True, help="Templates to check.")
@click.option("--device", default=None, help=DEVICE_HELP)
@click.option("--out", "json_out", type=click.Path(path_type=Path), default=Path("out/audit.json"),
              show_default=True, help="JSON result.")
def audit_cmd(fp_file, base, independent, independent_preset, independent_seed, templates, device, json_out):
    """False positives: how many responses models that were never fingerprinted produce."""
    from .audit import audit_false_positives, default_audit_models

    if independent is None:
        models = run_library(default_audit_models, fp_file, independent_preset, independent_seed, base)
    else:
        from .fpfile import read_fingerprint_file

        header, _ = run_library(read_fingerprint_file, fp_file)
        if not (base or header.base_model):
            raise click.ClickException("the fingerprint file names no base model; pass --base")
        models = {"base": base or header.base_model, "independent": independent}
    res = run_library(audit_false_positives, fp_file, models, templates, device=device)
    for role, rate in res.false_positive_rates.items():
        click.echo(f"{role}: {rate:.1%} of {res.n} fingerprints hold (false positives)  [{res.models[role]}]")
    _write_json(json_out, res.to_dict())
