"""`oml fingerprint stealth`: how easily a host spots a key.

Thin commands over fingerprinting.stealth: parse,
call one library function, print a short table, write JSON.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_group import _write_json, fingerprint, run_library

DEVICE_HELP = "Device: cpu or cuda (default: cuda when visible, else cpu)."


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
