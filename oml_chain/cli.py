"""The `oml` command line: a thin layer over the library.

Each command group lives beside the library it drives and is attached here:
`oml fingerprint ...` (fingerprinting/cli.py), the chain and service groups
(oml_chain/cli_*.py). A group that cannot be imported (a missing optional
dependency) is reported when used, not when `oml --help` runs.
"""

from __future__ import annotations

import importlib

import click

# (module, attribute) of each sub-group, in --help order.
GROUPS = {
    "fingerprint": ("fingerprinting.cli", "fingerprint"),
    "chain": ("oml_chain.cli_chain", "chain"),
    "deploy": ("oml_chain.cli_chain", "deploy"),
    "model": ("oml_chain.cli_chain", "model"),
    "host": ("oml_chain.cli_host", "host"),
    "permission": ("oml_chain.cli_services", "permission"),
    "distribute": ("oml_chain.cli_services", "distribute"),
    "prove": ("oml_chain.cli_services", "prove"),
    "status": ("oml_chain.cli_chain", "status"),
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
