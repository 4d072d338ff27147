"""The `oml` command line: a thin layer over the library.

One module per command group, attached here lazily: `oml fingerprint ...`
(fingerprinting/cli.py, beside the library it drives), `chain`/`deploy`/`model`/
`status` (chain.py), `host` (host.py), `permission`, `distribute`, `prove`
(one module each); shared options live in options.py. A group that cannot be imported (a missing optional
dependency) is reported when used, not when `oml --help` runs.
"""

from __future__ import annotations

import importlib

import click

# (module, attribute) of each sub-group, in --help order.
GROUPS = {
    "fingerprint": ("fingerprinting.cli", "fingerprint"),
    "chain": ("oml_chain.cli.chain", "chain"),
    "deploy": ("oml_chain.cli.chain", "deploy"),
    "model": ("oml_chain.cli.chain", "model"),
    "host": ("oml_chain.cli.host", "host"),
    "permission": ("oml_chain.cli.permission", "permission"),
    "distribute": ("oml_chain.cli.distribute", "distribute"),
    "prove": ("oml_chain.cli.prove", "prove"),
    "status": ("oml_chain.cli.chain", "status"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(GROUPS) + sorted(super().list_commands(ctx))

    def get_command(self, ctx, name):
        if name in GROUPS:
            module, attr = GROUPS[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oml")
def main():
    """OML: Open, Monetizable and Loyal AI.

    Fingerprint an open model, register it on chain, stake and serve it with
    per-query permissions, and prove (and slash) hosts that serve without one.
    """


if __name__ == "__main__":
    main()
