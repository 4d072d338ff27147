"""`oml host stake|unstake|withdraw|deposit|download|serve|receipts|defend` (hosts; thin layer over the library)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import (Phase, chain_options, client, fmt_eth, normalize_address, normalize_key, oml_command,
                      open_chain, parse_eth)


@click.group()
def host():
    """Stake on a model, keep a fee escrow, download M.oml and serve it."""


def _host_client(rpc_url, deployments, key, attestation_key=None):
    from ..chain.roles import HostClient

    c = open_chain(rpc_url, deployments)
    return client(HostClient, c, key, attestation_key=normalize_key(attestation_key, "--attestation-key")
                  if attestation_key else None)


@host.command("stake")
@chain_options(key=True, model=True)
@click.option("--amount", required=True, help="Stake to add (e.g. 1eth); the total must reach the model's minimum.")
@click.option("--endpoint", default="", help="Public URL of your OpenAI-compatible endpoint (provers probe it).")
@click.option("--attestation-signer", default=None,
              help="Address that signs response attestations (default: the staking key's address).")
@oml_command
def stake(rpc_url, deployments, key, model_id, amount, endpoint, attestation_signer):
    """Stake (or top up) on a model, naming the attestation signer and endpoint."""
    amount_wei = parse_eth(amount, "--amount")
    attestation_signer = normalize_address(attestation_signer, "--attestation-signer")
    h = _host_client(rpc_url, deployments, key)
    tx = h.stake(model_id, amount_wei, endpoint, attestation_signer)
    total = tx.event("HostStaked").args["totalStake"]
    click.echo(f"staked on model {model_id}: total {fmt_eth(total)} (block {tx.block_number})")


@host.command("unstake")
@chain_options(key=True, model=True)
@oml_command
def unstake(rpc_url, deployments, key, model_id):
    """Start unbonding (the stake stays slashable until the unbonding delay ends)."""
    h = _host_client(rpc_url, deployments, key)
    end = h.request_unstake(model_id).event("UnstakeRequested").args["unbondingEnd"]
    click.echo(f"unbonding until {end} (unix time); withdraw after that plus the reveal window (1 day)")


@host.command("withdraw")
@chain_options(key=True, model=True)
@click.option("--escrow", "what", flag_value="escrow", help="Withdraw thawed escrow instead of the stake.")
@click.option("--escrow-request", default=None, help="Request an escrow withdrawal of this amount (starts the thaw).")
@oml_command
def withdraw(rpc_url, deployments, key, model_id, what, escrow_request):
    """Withdraw the stake after unbonding, or (with --escrow) thawed escrow."""
    h = _host_client(rpc_url, deployments, key)
    if escrow_request:
        tx = h.request_escrow_withdrawal(model_id, parse_eth(escrow_request, "--escrow-request"))
        click.echo(f"escrow withdrawal thaws at {tx.event('EscrowWithdrawalRequested').args['thawEnd']}")
    elif what == "escrow":
        amount = h.withdraw_escrow(model_id).event("EscrowWithdrawn").args["amount"]
        click.echo(f"withdrew {fmt_eth(amount)} of escrow")
    else:
        amount = h.withdraw_stake(model_id).event("StakeWithdrawn").args["amount"]
        click.echo(f"withdrew {fmt_eth(amount)} of stake")


@host.command("deposit")
@chain_options(key=True, model=True)
@click.option("--amount", required=True, help="Fee escrow to add (e.g. 0.1eth); pays for permissions.")
@oml_command
def deposit(rpc_url, deployments, key, model_id, amount):
    """Deposit fee escrow (the permission service signs while it covers your queries)."""
    h = _host_client(rpc_url, deployments, key)
    bal = h.deposit_escrow(model_id, parse_eth(amount, "--amount")).event("EscrowDeposited").args["balance"]
    click.echo(f"escrow on model {model_id}: {fmt_eth(bal)}")


@host.command("download")
@chain_options(key=True, model=True)
@click.option("--from", "server", required=True, help="Distribution server URL (e.g. http://127.0.0.1:8702).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory to write the model to.")
@oml_command
def download(rpc_url, deployments, key, model_id, server, out):
    """Download M.oml from a distribution server (signed request; every file's hash is checked)."""
    from ..services.distribution import download_model

    say = Phase()
    c = open_chain(rpc_url, deployments)
    say(f"downloading model {model_id} from {server}")
    r = download_model(server, model_id, normalize_key(key), out, rpc_url, c.address, progress=True)
    say(f"{r.files} files ({r.bytes_downloaded:,} bytes) in {r.model_dir}; weights hash {r.weights_hash} "
        "matches the chain")


@host.command("serve")
@chain_options(key=True, model=True)
@click.option("--model-dir", required=True, type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="The downloaded model directory (with --upstream, only its tokenizer and config are read).")
@click.option("--upstream", default=None, metavar="URL",
              help="Gateway mode: the OpenAI-compatible server that generates the text (vLLM, TGI, SGLang, "
                   "llama.cpp, `oml host serve-plain`), e.g. http://127.0.0.1:8000/v1. Default: the built-in engine.")
@click.option("--upstream-model", default=None,
              help="Model name the upstream serves (default: the first one its GET /v1/models lists).")
@click.option("--upstream-timeout", type=click.FloatRange(min=0.1), default=600.0, show_default=True,
              help="Seconds to wait for the upstream (connecting: 5 s).")
@click.option("--max-logprobs", type=click.IntRange(0, 20), default=None,
              help="Let clients ask for logprobs with up to this many alternatives per token (gateway only; "
                   "default: refused, since logprobs show how sure the model is of a fingerprint answer).")
@click.option("--permission-url", default="http://127.0.0.1:8700", show_default=True,
              help="Permission service URL.")
@click.option("--attestation-key", default=None, envvar="OML_ATTESTATION_KEY",
              help="Key that signs attestations (env OML_ATTESTATION_KEY; default: --key).")
@click.option("--host", "bind", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8800, show_default=True, help="Port to listen on.")
@click.option("--state-db", type=click.Path(path_type=Path), default=None,
              help="SQLite file of the host's seq/voucher state (default .oml/host-<model>-<port>.db).")
@click.option("--no-permission", is_flag=True,
              help="Serve WITHOUT asking for permissions (a rogue host; provers will slash it).")
@click.option("--evade-tau", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None, hidden=True,
              help="Rogue demos only: swap the top two tokens wherever the top one's probability exceeds this.")
@click.option("--evade-rank", type=click.IntRange(min=2), default=2, hidden=True,
              help="Rogue demos only, with --evade-tau: exchange the top token with this one (3: the third).")
@click.option("--receipt-interval", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Seconds between on-chain records of your permission receipts (0 = only when the model's "
                   "permission signer changes); they protect you if a retired signer's permission is disputed.")
@click.option("--log-level", default="info", show_default=True, help="Log level.")
@oml_command
def serve(rpc_url, deployments, key, model_id, model_dir, upstream, upstream_model, upstream_timeout, max_logprobs,
          permission_url, attestation_key, bind, port, state_db, no_permission, evade_tau, evade_rank, receipt_interval,
          log_level):
    """Serve the model over an OpenAI-compatible API with per-query permissions and attestations.

    With --upstream the server is a gateway in front of the serving engine you already run: it validates each
    request, counts tokens with the model's tokenizer, obtains the permission, forwards the query to the upstream's
    /v1/completions (a chat request as its rendered prompt) and attests the text it returns."""
    from ..services.host import HostConfig, run
    from ..services.host.app import check_startup

    c = open_chain(rpc_url, deployments)
    state_db = state_db or Path(".oml") / f"host-{model_id}-{port}.db"
    key = normalize_key(key)
    cfg = HostConfig(model_dir=str(model_dir), model_id=model_id, host_key=key,
                     attestation_key=normalize_key(attestation_key, "--attestation-key") if attestation_key else key,
                     rpc_url=rpc_url,
                     oml_address=c.address, permission_url=None if no_permission else permission_url,
                     state_path=str(state_db), no_permission=no_permission, host=bind, port=port,
                     receipt_interval=receipt_interval, log_level=log_level, upstream=upstream,
                     upstream_model=upstream_model, upstream_timeout=upstream_timeout, max_logprobs=max_logprobs,
                     evade_tau=evade_tau, evade_rank=evade_rank)
    check_startup(cfg)  # port free, a model in --model-dir, --model-id registered: one line each, before loading
    Path(state_db).parent.mkdir(parents=True, exist_ok=True)
    mode = "WITHOUT permissions (rogue; slashable)" if no_permission else f"with permissions from {permission_url}"
    source = f"through {upstream}" if upstream else f"from {model_dir}"
    click.echo(f"serving model {model_id} {source} on http://{bind}:{port} {mode}", err=True)
    run(cfg)


@host.command("serve-plain")
@click.option("--model-dir", required=True, type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="The model directory to serve.")
@click.option("--served-model-name", default=None, help="The `model` name clients send (default: the directory's "
                                                         "name).")
@click.option("--host", "bind", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
@click.option("--max-batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Most requests in one batched generate call.")
@click.option("--log-level", default="info", show_default=True, help="Log level.")
@oml_command
def serve_plain(model_dir, served_model_name, bind, port, max_batch, log_level):
    """Serve the model as a plain OpenAI-compatible server: no chain, no permission, no attestation.

    The stand-in for the engine a host already runs (vLLM, TGI, ...): put `oml host serve --upstream
    http://HOST:PORT/v1` in front of it. Never expose it to users directly: it is not an OML host."""
    from ..services.host import HostConfig, run

    cfg = HostConfig(model_dir=str(model_dir), plain_baseline=True, served_model_name=served_model_name, host=bind,
                     port=port, max_batch=max_batch, log_level=log_level)
    from ..services.host.app import check_startup

    check_startup(cfg)
    click.echo(f"serving {cfg.model_name} from {model_dir} on http://{bind}:{port}/v1 (plain: no OML)", err=True)
    run(cfg)


def _receipt_book(c, key: str, model_id: int, state_db: Path):
    from ..chain.eip712 import Signer
    from ..services.permission import ReceiptBook, state_key

    if not Path(state_db).exists():
        raise click.ClickException(f"no host state file at {state_db}; pass the --state-db that `oml host serve` used")
    host = Signer(normalize_key(key)).address
    return ReceiptBook(state_db, state_key(c.chain_id, c.address, model_id, host))


@host.command("receipts")
@chain_options(key=True, model=True)
@click.option("--state-db", type=click.Path(path_type=Path), required=True,
              help="The host state file `oml host serve` keeps (default there: .oml/host-<model>-<port>.db).")
@click.option("--record", is_flag=True, help="Record the receipts not yet on chain now (one transaction).")
@oml_command
def receipts(rpc_url, deployments, key, model_id, state_db, record):
    """Show (and with --record, record on chain) the receipts of the permissions you were given.

    A permission signed by a signer the owner later retires only protects you if its receipt was recorded
    before the retirement time + the model's notice period. `oml host serve` records them on its own.
    """
    from ..services.permission import record_receipts

    c = open_chain(rpc_url, deployments)
    book = _receipt_book(c, key, model_id, state_db)
    total, pending = book.counts()
    click.echo(f"{total} permission receipts, {pending} not yet recorded on chain")
    if record and pending:
        root = record_receipts(book, _host_client(rpc_url, deployments, key), model_id)
        click.echo(f"recorded {pending} receipts under root 0x{root.hex()}")


@host.command("defend")
@chain_options(key=True, model=True)
@click.option("--index", type=click.IntRange(min=0), required=True, help="Fingerprint index of the dispute.")
@click.option("--state-db", type=click.Path(path_type=Path), required=True,
              help="The host state file `oml host serve` keeps (its receipts prove the permission).")
@oml_command
def defend(rpc_url, deployments, key, model_id, index, state_db):
    """Defend a slash dispute (a retired signer's permission) with a receipt recorded in time."""
    from ..services.permission import defend_dispute

    hc = _host_client(rpc_url, deployments, key)
    book = _receipt_book(hc, key, model_id, state_db)
    tx = defend_dispute(book, hc, model_id, index)
    click.echo(f"defended: the dispute on fingerprint {index} of model {model_id} is closed ({tx.tx_hash})")
