"""`oml explorer serve|index`: the OML Explorer (oml_chain/explorer/): an indexer that follows OML, the
CommunityFactory and every community's contracts into SQLite, and a web app (pages + JSON API) over it.

`serve` runs both in one process (the indexer as a background task); `index` runs the indexer alone, one
pass or `--follow`. The contracts come from --oml / --factory, else from the deployments file of the chain
behind --rpc-url (its "OML", "CommunityFactory" and "block" entries).
"""

from __future__ import annotations

from pathlib import Path

import click

from .options import DEFAULT_DEPLOYMENTS, Phase, connect, normalize_address, oml_command, rpc_option, setup_logging


def _common(f):
    for o in reversed([
        rpc_option,
        click.option("--deployments", type=click.Path(path_type=Path), default=DEFAULT_DEPLOYMENTS, show_default=True,
                     help="Deployments JSON (for the OML and CommunityFactory addresses and the deployment block)."),
        click.option("--oml", default=None, help="OML address (default: the deployments file's)."),
        click.option("--factory", default=None, help="CommunityFactory address (default: the deployments file's, "
                                                     "if it records one)."),
        click.option("--db", type=click.Path(path_type=Path), default=Path("explorer.db"), show_default=True,
                     help="SQLite database of the index (WAL; created if missing)."),
        click.option("--confirmations", type=click.IntRange(min=0), default=2, show_default=True,
                     help="Blocks to stay behind the head (reorg safety; 0 on a local dev chain)."),
        click.option("--poll-interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
                     help="Seconds between indexing passes."),
    ]):
        f = o(f)
    return f


def resolve(rpc_url: str, deployments: Path, oml: str | None,
            factory: str | None) -> tuple[str, str | None, int | None]:
    """(OML, factory or None, start block or None) from the options, else the deployments file."""
    from ..chain.dao import FACTORY
    from ..chain.deploy import load_deployment, load_deployment_block
    from ..chain.errors import DeploymentNotFound

    oml = normalize_address(oml, "--oml")
    factory = normalize_address(factory, "--factory")
    start = None
    if oml is None or factory is None:
        chain_id = connect(rpc_url).eth.chain_id
        if oml is None:
            oml = load_deployment(chain_id, deployments)
            start = load_deployment_block(chain_id, deployments) or None
        if factory is None:
            try:
                factory = load_deployment(chain_id, deployments, name=FACTORY)
            except DeploymentNotFound:
                factory = None  # an OML deployed before community ownership: OML alone is indexed
    return oml, factory, start


@click.group()
def explorer():
    """The OML Explorer: index the chain into SQLite and browse it (pages and a JSON API)."""


@explorer.command("serve")
@_common
@click.option("--host", "bind", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8710, show_default=True, help="Port to listen on.")
@click.option("--no-index", is_flag=True, help="Only serve the database (another process indexes it).")
@click.option("--log-level", default="info", show_default=True, help="Log level.")
@oml_command
def explorer_serve(rpc_url, deployments, oml, factory, db, confirmations, poll_interval, bind, port, no_index,
                   log_level):
    """Serve the explorer on http://HOST:PORT and keep indexing the chain in the background."""
    from ..explorer.web import ExplorerConfig, run

    oml, factory, start = resolve(rpc_url, deployments, oml, factory)
    setup_logging(log_level)
    click.echo(f"OML Explorer on http://{bind}:{port} (OML {oml}{', factory ' + factory if factory else ''}; "
               f"database {db})", err=True)
    run(ExplorerConfig(db_path=str(db), rpc_url=rpc_url, oml=oml, factory=factory, index=not no_index,
                       confirmations=confirmations, poll_interval=poll_interval, host=bind, port=port,
                       log_level=log_level.lower(), start_block=start))


@explorer.command("index")
@_common
@click.option("--follow", is_flag=True, help="Keep following the chain until Ctrl-C (else one pass).")
@click.option("--log-level", default="info", show_default=True, help="Log level.")
@oml_command
def explorer_index(rpc_url, deployments, oml, factory, db, confirmations, poll_interval, follow, log_level):
    """Index the chain into the database: one pass up to head - confirmations, or --follow."""
    from ..explorer.db import ExplorerDB
    from ..explorer.indexer import Indexer

    oml, factory, start = resolve(rpc_url, deployments, oml, factory)
    setup_logging(log_level)
    phase = Phase()
    store = ExplorerDB.open(db)
    indexer = Indexer(rpc_url, store, oml, factory, confirmations=confirmations, start_block=start)
    try:
        if follow:
            phase(f"following {oml} into {db} every {poll_interval} s (Ctrl-C to stop)")
            try:
                indexer.run(poll_interval)
            except KeyboardInterrupt:
                indexer.stop()
        else:
            added = indexer.sync_once()
            st = indexer.status()
            phase(f"indexed {added} new events: {st['events']} in all, up to block {st['last_block']} "
                  f"(head {st['head']}, lag {st['lag']})")
    finally:
        indexer.close()
        store.close()
