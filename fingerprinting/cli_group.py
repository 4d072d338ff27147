"""The `oml fingerprint` click group and the helpers its commands share.

cli.py (base models, utility) and cli_fingerprints.py (generate, embed, check,
attack, audit) both add commands to this group; cli.py imports both, so the
import graph has no cycle.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from .errors import FingerprintError

DEVICE_HELP = "Device: cpu or cuda (default: cuda when visible, else cpu)."


def _write_json(path: Path | None, result: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        click.echo(f"wrote {path}")


def run_library(fn, *args, **kwargs):
    """Call a library function, turning FingerprintError into a clean CLI error."""
    try:
        return fn(*args, **kwargs)
    except FingerprintError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log each phase.")
def fingerprint(verbose: bool):
    """Fingerprint models: base models, utility, and (below) generate/embed/check/attack/audit."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
