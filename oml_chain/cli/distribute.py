"""`oml distribute serve`: run the distribution server that hands M.oml to staked hosts."""

from __future__ import annotations

from pathlib import Path

import click

from .options import chain_options, oml_command, open_chain


@click.group()
def distribute():
    """The distribution server: hands M.oml to staked hosts only."""


@distribute.command("serve")
@chain_options(key=None)
@click.option("--model", "models", multiple=True, required=True, metavar="MODEL_ID=DIR",
              help="A model to serve: its on-chain id and model directory (repeatable).")
@click.option("--host", "bind", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8702, show_default=True, help="Port to listen on.")
@click.option("--log-level", default="info", show_default=True, help="Log level.")
@oml_command
def distribute_serve(rpc_url, deployments, models, bind, port, log_level):
    """Serve model files to hosts whose signed request matches an active stake."""
    from ..chain.errors import ConfigError
    from ..services.distribution.server import DistributionConfig, run
    from ..services.validation import check_port_free

    mapping = {}
    for m in models:
        mid, sep, path = m.partition("=")
        if not sep or not mid.isdigit() or not Path(path).is_dir():
            raise ConfigError(f"--model must be MODEL_ID=DIR with an existing directory, got {m!r}")
        mapping[int(mid)] = Path(path)
    c = open_chain(rpc_url, deployments)
    cfg = DistributionConfig(models={k: str(v) for k, v in mapping.items()}, rpc_url=rpc_url, oml_address=c.address,
                             host=bind, port=port, log_level=log_level)
    check_port_free("the distribution server", bind, port)
    click.echo(f"distribution server on http://{bind}:{port} for models {sorted(mapping)}", err=True)
    run(cfg)
