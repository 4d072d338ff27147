"""`oml chain up|down`, `oml deploy`, `oml model register|show|set-price|set-terms|set-signer|set-recipient`,
`oml status` (thin layer over the library). `oml dao` (community ownership) is in dao.py."""

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
    """Compile and deploy the OML contract and the CommunityFactory (community ownership); record them in the
    deployments JSON."""
    from ..chain.deploy import deploy_oml, load_deployment

    key = normalize_key(key)
    w3 = connect(rpc_url)
    say = Phase()
    say("compiling contracts (cached after the first run)")
    address = deploy_oml(w3, key, deployments)
    say("deployed")
    factory = load_deployment(w3.eth.chain_id, deployments, name="CommunityFactory")
    click.echo(f"OML deployed at {address} on chain {w3.eth.chain_id}, CommunityFactory at {factory}; recorded in "
               f"{deployments}")


# --- oml model -----------------------------------------------------------------------------------


@click.group()
def model():
    """Register and inspect models (owners)."""


def model_registration_options(recipient: bool = True):
    """The model options of `oml model register` (also used by `oml dao create`): model directory, fingerprint
    file, price, signer, stake terms, notice period, metadata URI, registration JSON; `--recipient` only when
    `recipient` (a community model's revenue goes to its vault)."""
    opts = [
        click.option("--model-dir", required=True, type=click.Path(path_type=Path, exists=True, file_okay=False),
                     help="Fingerprinted model directory (what hosts will download)."),
        click.option("--fingerprints", "fp_file", required=True,
                     type=click.Path(path_type=Path, exists=True, dir_okay=False),
                     help="The private fingerprint file the model was fingerprinted with."),
        click.option("--price", default="1000gwei", show_default=True,
                     help="Price per query (wei, or e.g. 1000gwei)."),
        click.option("--signer", default=None, help="Permission signer address (default: the owner)."),
        click.option("--min-stake", default="1eth", show_default=True, help="Minimum host stake."),
        click.option("--slash-bps", type=click.IntRange(1, 10_000), default=5_000, show_default=True,
                     help="Share of the stake a proven misuse costs, in basis points."),
        click.option("--prover-share-bps", type=int, default=2_000, show_default=True,
                     help="Share of the slashed amount paid to the prover, in basis points (at most 5000)."),
        click.option("--unbonding-delay", default="1d", show_default=True,
                     help="How long a stake (and escrow) stays locked after unstaking: seconds or e.g. 36h, 7d "
                          "(1d..365d)."),
        click.option("--notice-period", default="1h", show_default=True,
                     help="How far ahead price and stake-term changes are announced: seconds or e.g. 1h, 2d "
                          "(1h..30d; fixed for the model's lifetime)."),
        *([click.option("--recipient", default=None, help="Revenue recipient address (default: the owner).")]
          if recipient else []),
        click.option("--metadata-uri", default="", help="Model card URI (default: oml://<model dir name>)."),
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="Registration JSON (default: registration-<chain>-<id>.json beside the model directory)."),
    ]

    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


def registration_options(price, signer, min_stake, slash_bps, prover_share_bps, unbonding_delay, notice_period,
                         metadata_uri, recipient=None):
    """RegistrationOptions from the values of `model_registration_options` (ConfigError naming the option)."""
    from ..chain.registration import RegistrationOptions, parse_duration

    return RegistrationOptions(price_per_query=parse_eth(price, "--price"),
                               permission_signer=normalize_address(signer, "--signer"),
                               min_host_stake=parse_eth(min_stake, "--min-stake"), slash_bps=slash_bps,
                               prover_share_bps=prover_share_bps,
                               unbonding_delay=parse_duration(unbonding_delay, "--unbonding-delay"),
                               revenue_recipient=normalize_address(recipient, "--recipient"),
                               metadata_uri=metadata_uri,
                               notice_period=parse_duration(notice_period, "--notice-period"))


@model.command("register")
@chain_options(key=True)
@model_registration_options()
@oml_command
def model_register(rpc_url, deployments, key, model_dir, fp_file, price, signer, min_stake, slash_bps,
                   prover_share_bps, unbonding_delay, notice_period, recipient, metadata_uri, out):
    """Register a fingerprinted model: weights hash, fingerprint Merkle root, price and rules."""
    from fingerprinting.modeldir import check_model_dir

    from ..chain.registration import register_model
    from ..chain.roles import OwnerClient

    check_model_dir(model_dir)  # before anything else: a directory with no model must never reach the chain
    say = Phase()
    opts = registration_options(price, signer, min_stake, slash_bps, prover_share_bps, unbonding_delay,
                                notice_period, metadata_uri, recipient)
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


# --- oml model set-price|set-terms|set-signer|set-recipient (owner changes) ------------------------------


def _owner(rpc_url, deployments, key):
    from ..chain.roles import OwnerClient

    return client(OwnerClient, open_chain(rpc_url, deployments), key)


def _effective(change) -> str:
    from ..chain.registration import format_duration, format_time

    return (f"takes effect at {format_time(change.effective_at)} (after the {format_duration(change.notice_period)} "
            f"notice period; block {change.block})")


@model.command("set-price")
@chain_options(key=True, model=True)
@click.option("--price", required=True, help="New price per query (wei, or e.g. 2000gwei).")
@oml_command
def model_set_price(rpc_url, deployments, key, model_id, price):
    """Announce a new price per query; it takes effect after the model's notice period."""
    from ..chain.dao import format_wei
    from ..chain.registration import schedule_price

    ch = schedule_price(_owner(rpc_url, deployments, key), model_id, parse_eth(price, "--price"))
    click.echo(f"model {model_id}: price {format_wei(ch.old)} -> {format_wei(ch.new)} per query {_effective(ch)}")


@model.command("set-terms")
@chain_options(key=True, model=True)
@click.option("--min-stake", default=None, help="New minimum host stake (e.g. 2eth).")
@click.option("--slash-bps", type=int, default=None, help="New share of the stake a proven misuse costs (1..10000).")
@click.option("--prover-share-bps", type=int, default=None, help="New share of a slash paid to the prover (0..5000).")
@click.option("--unbonding-delay", default=None, help="New unbonding delay: seconds or e.g. 36h, 7d (1d..365d).")
@oml_command
def model_set_terms(rpc_url, deployments, key, model_id, min_stake, slash_bps, prover_share_bps, unbonding_delay):
    """Announce new stake terms after the notice period; values not given keep the latest announced ones."""
    from ..chain.registration import format_duration, parse_duration, schedule_stake_terms

    ch = schedule_stake_terms(
        _owner(rpc_url, deployments, key), model_id,
        min_host_stake=parse_eth(min_stake, "--min-stake") if min_stake is not None else None, slash_bps=slash_bps,
        prover_share_bps=prover_share_bps,
        unbonding_delay=parse_duration(unbonding_delay, "--unbonding-delay") if unbonding_delay is not None else None)
    t = ch.new
    click.echo(f"model {model_id}: stake terms -> min stake {fmt_eth(t.min_host_stake)}, slash {t.slash_bps} bps, "
               f"prover share {t.prover_share_bps} bps, unbonding delay {format_duration(t.unbonding_delay)} "
               f"{_effective(ch)}")


@model.command("set-signer")
@chain_options(key=True, model=True)
@click.option("--signer", required=True, help="Address of the new permission signer (a fresh key, an EOA).")
@oml_command
def model_set_signer(rpc_url, deployments, key, model_id, signer):
    """Rotate the permission signer now; the old one is retired for good."""
    from ..chain.registration import format_duration, format_time, rotate_permission_signer

    r = rotate_permission_signer(_owner(rpc_url, deployments, key), model_id, signer)
    click.echo(f"model {model_id}: permission signer {r.old} -> {r.new} (now)")
    click.echo(f"warning: {r.old} is retired; hosts have the {format_duration(r.notice_period)} notice period, until "
               f"{format_time(r.grace_ends)}, to record receipts of the permissions it issued — after that its "
               "permissions no longer shield them from slashing", err=True)


@model.command("set-recipient")
@chain_options(key=True, model=True)
@click.option("--recipient", required=True, help="Address that may withdraw the model's revenue from now on.")
@oml_command
def model_set_recipient(rpc_url, deployments, key, model_id, recipient):
    """Change the revenue recipient now (only the recipient can withdraw revenue)."""
    from ..chain.registration import set_revenue_recipient

    old, new = set_revenue_recipient(_owner(rpc_url, deployments, key), model_id, recipient)
    click.echo(f"model {model_id}: revenue recipient {old} -> {new}")


# --- oml status ----------------------------------------------------------------------------------


@click.command("status")
@chain_options(key=None)
@click.option("--model-id", "model_ids", type=click.IntRange(min=1), multiple=True,
              help="Only these models (repeatable; default all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@oml_command
def status(rpc_url, deployments, model_ids, as_json):
    """Models, hosts, stakes, escrows, revenue and slashes, read from chain views and events; community-owned
    models with their shares, holders and open proposals."""
    from ..chain.client import OMLContract
    from ..chain.status import format_snapshot, snapshot

    from ..chain.deploy import load_deployment, load_deployment_block
    from ..chain.errors import DeploymentNotFound

    c = open_chain(rpc_url, deployments)
    try:
        factory = load_deployment(c.chain_id, deployments, name="CommunityFactory")
    except DeploymentNotFound:  # deployed before community ownership: no community section
        factory = None
    snap = snapshot(OMLContract(c.w3, c.address), list(model_ids) or None,
                    from_block=load_deployment_block(c.chain_id, deployments), factory=factory)
    if as_json:
        echo_json(snap.to_dict())
    else:
        click.echo(format_snapshot(snap))
