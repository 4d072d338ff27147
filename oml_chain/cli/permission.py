"""`oml permission serve`: run the permission service (the platform's signer)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import STATE_DIR, chain_options, normalize_key, oml_command, open_chain


@click.group()
def permission():
    """The permission service (the platform's signer)."""


@permission.command("serve")
@chain_options(key=True)
@click.option("--db", type=click.Path(path_type=Path), default=STATE_DIR / "permission.db", show_default=True,
              help="SQLite ledger of issued permissions and vouchers (WAL).")
@click.option("--host", "bind", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8700, show_default=True, help="Port to listen on.")
@click.option("--settle-interval", type=float, default=60.0, show_default=True,
              help="Seconds between on-chain settlements (0 = only on shutdown).")
@click.option("--log-level", default="info", show_default=True, help="Log level.")
@oml_command
def permission_serve(rpc_url, deployments, key, db, bind, port, settle_interval, log_level):
    """Sign per-query permissions while a host's escrow covers them; settle vouchers on chain.

    --key is the models' permission signer (it also pays settlement gas).
    """
    from ..services.permission import PermissionConfig, run

    from ..services.validation import check_port_free

    c = open_chain(rpc_url, deployments)
    check_port_free("the permission service", bind, port)
    cfg = PermissionConfig(rpc_url=rpc_url, oml_address=c.address, signer_key=normalize_key(key), db_path=str(db),
                           settle_interval=settle_interval, host=bind, port=port, log_level=log_level)
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    click.echo(f"permission service on http://{bind}:{port} (OML {c.address}, chain {c.chain_id})", err=True)
    run(cfg)
