"""The `oml` command line: a thin layer over the library.

One module per command group, attached here lazily: `oml fingerprint ...`
(fingerprinting/cli.py, beside the library it drives), `chain`/`deploy`/`model`/
`status` (chain.py), `host` (host.py), `permission`, `distribute`, `prove`, `dao`, `explorer`
(one module each); shared options live in options.py. A group that cannot be imported (a missing optional
dependency) is reported when used, not when `oml --help` runs.

Errors: exit status 1 and one line on stderr (`Error: ...`), never a traceback unless --debug (or OML_DEBUG=1)
is given; click's usage errors (a missing, unknown or malformed option) print click's usage block and exit 2.
The root group is the safety net for commands that do not go through `options.oml_command`.
"""

from __future__ import annotations

import importlib
import os

import click

from .options import OneLineError, explain_error

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
    "dao": ("oml_chain.cli.dao", "dao"),
    "explorer": ("oml_chain.cli.explorer", "explorer"),
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

    def parse_args(self, ctx, args):
        ctx.meta["oml.debug"] = "--debug" in args or os.environ.get("OML_DEBUG", "") not in ("", "0")
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.UsageError, OneLineError, click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            raise OneLineError(exc.format_message()) from exc
        except Exception as exc:
            if ctx.meta.get("oml.debug"):
                raise
            raise OneLineError(explain_error(exc)) from exc


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oml")
def main():
    """OML: Open, Monetizable and Loyal AI.

    Fingerprint an open model, register it on chain, stake and serve it with
    per-query permissions, and prove (and slash) hosts that serve without one.
    """


if __name__ == "__main__":
    main()
