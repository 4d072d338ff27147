"""`oml chain up|down`, `oml deploy`, `oml model register|show`, `oml status` (thin layer over the library)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click

from .options import (STATE_DIR, Phase, chain_options, client, connect, echo_json, fmt_eth, normalize_address,
                      normalize_key, oml_command, open_chain, parse_eth)
from ..chain.errors import ConfigError

ANVIL_STATE = STATE_DIR / "anvil.json"


# --- oml chain -----------------------------------------------------------------------------------


@click.group()
def chain():
    """Run a local development chain (anvil) in the background."""


@chain.command("up")
@click.option("--port", type=int, default=8545, show_default=True, help="Port to listen on (127.0.0.1).")
@click.option("--chain-id", type=int, default=31337, show_default=True, help="Chain id.")
@click.option("--block-time", type=float, default=None, help="Seconds per block (default: mine on every tx).")
@oml_command
def chain_up(port: int, chain_id: int, block_time: float | None):
    """Start anvil; its pid and URL go to .oml/anvil.json (stop it with `oml chain down`)."""
    from ..chain.anvil import DEV_KEYS, start_anvil
    from ..services.validation import check_port_free

    if ANVIL_STATE.is_file():
        state = json.loads(ANVIL_STATE.read_text())
        if _alive(state.get("pid")):
            raise ConfigError(f"a chain started by `oml chain up` is already running at {state['url']} "
                              f"(pid {state['pid']}); stop it with `oml chain down`")
    check_port_free("oml chain up", "127.0.0.1", port)  # else a node already there would pass for ours
    STATE_DIR.mkdir(exist_ok=True)
    node = start_anvil(port=port, chain_id=chain_id, block_time=block_time, log_path=str(STATE_DIR / "anvil.log"))
    ANVIL_STATE.write_text(json.dumps({"pid": node.process.pid, "url": node.url, "chain_id": chain_id}) + "\n")
    click.echo(f"anvil running at {node.url} (chain {chain_id}, pid {node.process.pid}); log {STATE_DIR / 'anvil.log'}")
    click.echo(f"funded dev key #0 (public test key, local use only): {DEV_KEYS[0]}")


@chain.command("down")
@oml_command
def chain_down():
    """Stop the anvil started by `oml chain up`."""
    from ..chain.anvil import stop_pid, wait_for_rpc

    if not ANVIL_STATE.is_file():
        raise ConfigError(f"no {ANVIL_STATE}: no chain was started with `oml chain up` from this directory")
    state = json.loads(ANVIL_STATE.read_text())
    stop_pid(int(state["pid"]))
    deadline = time.monotonic() + 10
    while wait_for_rpc(state["url"], 0.1, raise_=False) and time.monotonic() < deadline:
        time.sleep(0.1)  # wait until it no longer answers
    ANVIL_STATE.unlink()
    click.echo(f"stopped anvil at {state['url']} (pid {state['pid']})")


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
        return True
    except (ProcessLookupError, PermissionError, ValueError):
        return False


# --- oml deploy ----------------------------------------------------------------------------------


@click.command("deploy")
@chain_options(key=True)
@oml_command
def deploy(rpc_url: str, deployments: Path, key: str):
    """Compile and deploy the OML contract; record it in the deployments JSON."""
    from ..chain.deploy import deploy_oml

    key = normalize_key(key)
    w3 = connect(rpc_url)
    say = Phase()
    say("compiling contracts (cached after the first run)")
    address = deploy_oml(w3, key, deployments)
    say("deployed")
    click.echo(f"OML deployed at {address} on chain {w3.eth.chain_id}; recorded in {deployments}")


# --- oml model -----------------------------------------------------------------------------------


@click.group()
def model():
    """Register and inspect models (owners)."""


@model.command("register")
@chain_options(key=True)
@click.option("--model-dir", required=True, type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Fingerprinted model directory (what hosts will download).")
@click.option("--fingerprints", "fp_file", required=True, type=click.Path(path_type=Path, exists=True,
                                                                        dir_okay=False),
              help="The private fingerprint file the model was fingerprinted with.")
@click.option("--price", default="1000gwei", show_default=True, help="Price per query (wei, or e.g. 1000gwei).")
@click.option("--signer", default=None, help="Permission signer address (default: the owner).")
@click.option("--min-stake", default="1eth", show_default=True, help="Minimum host stake.")
@click.option("--slash-bps", type=click.IntRange(1, 10_000), default=5_000, show_default=True,
              help="Share of the stake a proven misuse costs, in basis points.")
@click.option("--prover-share-bps", type=click.IntRange(0, 10_000), default=2_000, show_default=True,
              help="Share of the slashed amount paid to the prover, in basis points.")
@click.option("--unbonding-delay", type=click.IntRange(min=0), default=3_600, show_default=True,
              help="Seconds a stake (and escrow) stays locked after unstaking.")
@click.option("--recipient", default=None, help="Revenue recipient address (default: the owner).")
@click.option("--metadata-uri", default="", help="Model card URI (default: oml://<model dir name>).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Registration JSON (default: registration-<chain>-<id>.json beside the model directory).")
@oml_command
def model_register(rpc_url, deployments, key, model_dir, fp_file, price, signer, min_stake, slash_bps,
                   prover_share_bps, unbonding_delay, recipient, metadata_uri, out):
    """Register a fingerprinted model: weights hash, fingerprint Merkle root, price and rules."""
    from fingerprinting.modeldir import check_model_dir

    from ..chain.registration import RegistrationOptions, register_model
    from ..chain.roles import OwnerClient

    check_model_dir(model_dir)  # before anything else: a directory with no model must never reach the chain
    say = Phase()
    opts = RegistrationOptions(price_per_query=parse_eth(price, "--price"),
                               permission_signer=normalize_address(signer, "--signer"),
                               min_host_stake=parse_eth(min_stake, "--min-stake"), slash_bps=slash_bps,
                               prover_share_bps=prover_share_bps, unbonding_delay=unbonding_delay,
                               revenue_recipient=normalize_address(recipient, "--recipient"),
                               metadata_uri=metadata_uri)
    c = open_chain(rpc_url, deployments)
    owner = client(OwnerClient, c, key)
    say(f"hashing {model_dir} and committing to {fp_file}")
    reg = register_model(owner, model_dir, fp_file, opts, out)
    say("registered")
    click.echo(f"model id {reg.model_id}: {reg.fingerprint_count} fingerprints, root {reg.fingerprint_root}, "
               f"price {fmt_eth(opts.price_per_query)}/query")
    click.echo(reg.model_id)


@model.command("show")
@chain_options(key=None, model=True)
@oml_command
def model_show(rpc_url, deployments, model_id):
    """Print a registered model as JSON."""
    from dataclasses import asdict

    from ..chain.client import OMLContract

    c = open_chain(rpc_url, deployments)
    m = OMLContract(c.w3, c.address).get_model(model_id)
    echo_json({k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in asdict(m).items()})


# --- oml status ----------------------------------------------------------------------------------


@click.command("status")
@chain_options(key=None)
@click.option("--model-id", "model_ids", type=click.IntRange(min=1), multiple=True,
              help="Only these models (repeatable; default all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@oml_command
def status(rpc_url, deployments, model_ids, as_json):
    """Models, hosts, stakes, escrows, revenue and slashes, read from chain views and events."""
    from ..chain.client import OMLContract
    from ..chain.status import format_snapshot, snapshot

    c = open_chain(rpc_url, deployments)
    snap = snapshot(OMLContract(c.w3, c.address), list(model_ids) or None)
    if as_json:
        echo_json(snap.to_dict())
    else:
        click.echo(format_snapshot(snap))
