"""`oml dao create|convert|propose|vote|queue|execute|status|pull|claim|delegate|deploy-factory`: community
ownership of a model (contracts/README.md, "Community ownership"; library: oml_chain/chain/dao.py).

A community model's owner is a timelock that only its governor may feed; shareholders delegate their votes
(the creator's own shares are self-delegated unless --no-delegate; other holders run `oml dao delegate`),
propose owner calls of OML, vote, queue and execute after the timelock delay. Revenue flows into the vault
(`pull`) and each holder claims its pro-rata part (`claim`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from .chain import model_registration_options, registration_options
from .options import (Phase, chain_options, connect, echo_json, normalize_address, normalize_key, oml_command,
                      parse_eth)
from ..chain.errors import ConfigError


def _client(rpc_url: str, deployments: Path, key: str | None, model_id: int | None = None):
    """A CommunityClient on this chain's OML and CommunityFactory, bound to `model_id`'s community if given."""
    from ..chain.dao import FACTORY, CommunityClient
    from ..chain.deploy import load_deployment, load_deployment_block

    w3 = connect(rpc_url)
    chain_id = w3.eth.chain_id
    oml = load_deployment(chain_id, deployments)
    factory = load_deployment(chain_id, deployments, name=FACTORY)
    c = CommunityClient(w3, oml, factory, normalize_key(key) if key else None,
                        from_block=load_deployment_block(chain_id, deployments))
    if model_id is not None:
        c.open(model_id)
    return c


def dao_options(f):
    """Governance settings of a new community (create, convert)."""
    for o in reversed([
        click.option("--holder", "holders", multiple=True, required=True, metavar="ADDRESS=AMOUNT",
                     help="A shareholder and its shares (whole or decimal shares, 18 decimals); repeatable. "
                          "The supply is fixed at creation."),
        click.option("--name", default=None, help="Name of the share token and governor "
                                                  "(default: '<model> shares')."),
        click.option("--symbol", default=None, help="Symbol of the share token (default: OMLS)."),
        click.option("--voting-delay", default="1h", show_default=True,
                     help="Time from a proposal until voting starts (votes count as delegated then): seconds or "
                          "e.g. 1h, 1d."),
        click.option("--voting-period", default="3d", show_default=True,
                     help="How long voting lasts: seconds or e.g. 1h, 3d."),
        click.option("--quorum-percent", type=int, default=10, show_default=True,
                     help="Share of the supply that must vote for or abstain for a proposal to pass (0..100)."),
        click.option("--timelock-delay", default=None,
                     help="Delay between a passed proposal and its execution: seconds or e.g. 2d; at least the "
                          "model's unbonding delay (the default; for convert, also one announced and not yet in "
                          "force), so hosts can leave before a change."),
        click.option("--proposal-threshold", default="0", show_default=True,
                     help="Shares (votes) an account needs to propose."),
        click.option("--no-delegate", is_flag=True,
                     help="Do not delegate your own shares' votes to yourself (then they do not vote)."),
    ]):
        f = o(f)
    return f


def _dao_params(model_name: str, unbonding_delay: int, holders, name, symbol, voting_delay, voting_period,
                quorum_percent, timelock_delay, proposal_threshold):
    from decimal import Decimal, InvalidOperation

    from ..chain.dao import DaoParams, split_holders
    from ..chain.registration import parse_duration

    addresses, amounts = split_holders(holders)
    try:
        threshold = Decimal(proposal_threshold) * 10**18
    except InvalidOperation:
        raise ConfigError(f"--proposal-threshold must be a number of shares, got {proposal_threshold!r}") from None
    if threshold < 0 or threshold != int(threshold):
        raise ConfigError(f"--proposal-threshold must be ≥ 0 with at most 18 decimals, got {proposal_threshold!r}")
    return DaoParams(name=name or f"{model_name} shares", symbol=symbol or "OMLS", holders=addresses,
                     amounts=amounts, voting_delay=parse_duration(voting_delay, "--voting-delay"),
                     voting_period=parse_duration(voting_period, "--voting-period"),
                     proposal_threshold=int(threshold), quorum_percent=quorum_percent,
                     timelock_delay=(parse_duration(timelock_delay, "--timelock-delay") if timelock_delay is not None
                                     else unbonding_delay))


def _echo_community(c, dao, delegated: bool, account: str) -> None:
    from ..chain.dao import format_shares, percent
    from ..chain.registration import format_duration

    click.echo(f"model {c.model_id} is owned by its community: timelock {c.timelock} (owner), governor "
               f"{c.governor}, shares {c.shares}, vault {c.vault} (revenue recipient)")
    supply = sum(dao.amounts)
    for h, a in zip(dao.holders, dao.amounts):
        click.echo(f"  holder {h}: {format_shares(a)} shares ({percent(a, supply):g}%)")
    click.echo(f"voting delay {format_duration(dao.voting_delay)}, voting period {format_duration(dao.voting_period)}, "
               f"quorum {dao.quorum_percent}%, timelock delay {format_duration(dao.timelock_delay)}")
    if delegated:
        click.echo(f"delegated the votes of {account} to itself")
    others = [h for h in dao.holders if h != account or not delegated]
    if others:
        click.echo(f"note: shares vote only once delegated; {', '.join(others)} must run `oml dao delegate "
                   f"--model-id {c.model_id}` before a proposal to vote on it", err=True)


# --- the group -------------------------------------------------------------------------------------------


@click.group()
def dao():
    """Community ownership: a model owned by its shareholders (propose, vote, queue, execute; revenue claims)."""


@dao.command("create")
@chain_options(key=True)
@model_registration_options(recipient=False)
@dao_options
@oml_command
def dao_create(rpc_url, deployments, key, model_dir, fp_file, price, signer, min_stake, slash_bps, prover_share_bps,
               unbonding_delay, notice_period, metadata_uri, out, holders, name, symbol, voting_delay,
               voting_period, quorum_percent, timelock_delay, proposal_threshold, no_delegate):
    """Register a fingerprinted model owned by a new community (one transaction through the CommunityFactory):
    the timelock owns it, the vault receives its revenue, the holders' shares vote."""
    from fingerprinting.modeldir import check_model_dir

    from ..chain.registration import model_params, write_registration

    check_model_dir(model_dir)
    say = Phase()
    opts = registration_options(price, signer, min_stake, slash_bps, prover_share_bps, unbonding_delay,
                                notice_period, metadata_uri)
    params = _dao_params(model_dir.name, opts.unbonding_delay, holders, name, symbol, voting_delay, voting_period,
                         quorum_percent, timelock_delay, proposal_threshold)
    c = _client(rpc_url, deployments, key)
    say(f"hashing {model_dir} and committing to {fp_file}")
    mp = model_params(model_dir, fp_file, c.account, opts)
    community = c.create(mp, params, delegate=not no_delegate)
    say("community created")
    write_registration(community.model_id, c.chain_id, c.address, community.timelock,
                       replace(mp, revenue_recipient=community.vault), model_dir, fp_file, None, out)
    _echo_community(community, params, not no_delegate and c.account in params.holders, c.account)
    click.echo(community.model_id)


@dao.command("convert")
@chain_options(key=True, model=True)
@dao_options
@oml_command
def dao_convert(rpc_url, deployments, key, model_id, holders, name, symbol, voting_delay, voting_period,
                quorum_percent, timelock_delay, proposal_threshold, no_delegate):
    """Hand a model you own to a new community (reserve, transfer ownership to the factory, convert): the
    timelock becomes its owner and the vault its revenue recipient; you keep no owner power."""
    c = _client(rpc_url, deployments, key)
    m = c.get_model(model_id)
    pending = c.pending_stake_terms(model_id)  # a longer unbonding delay already announced counts too
    unbonding = max(m.unbonding_delay, pending.value.unbonding_delay if pending else 0)
    params = _dao_params(f"model {model_id}", unbonding, holders, name, symbol, voting_delay,
                         voting_period, quorum_percent, timelock_delay, proposal_threshold)
    if m.owner not in (c.account, c.factory.address):
        raise ConfigError(f"model {model_id} is owned by {m.owner}, not by {c.account}; only its owner may convert it")
    community = c.convert(model_id, params, delegate=not no_delegate)
    _echo_community(community, params, not no_delegate and c.account in params.holders, c.account)
    click.echo(community.model_id)


@dao.command("delegate")
@chain_options(key=True, model=True)
@click.option("--to", default=None, help="Account to delegate your votes to (default: yourself).")
@oml_command
def dao_delegate(rpc_url, deployments, key, model_id, to):
    """Delegate your shares' votes (to yourself by default); only delegated shares vote."""
    c = _client(rpc_url, deployments, key, model_id)
    to = normalize_address(to, "--to") or c.account
    c.delegate(to)
    click.echo(f"votes of {c.account} on model {model_id}'s community delegated to {to}; voting power of {to} now "
               f"{_shares(c.votes(to))} shares")


def _shares(units: int) -> str:
    from ..chain.dao import format_shares

    return format_shares(units)


@dao.command("propose")
@chain_options(key=True)
@click.option("--community", "model_id", type=click.IntRange(min=1), required=True,
              help="Model id whose community proposes; the actions apply to this model.")
@click.option("--set-price", default=None, help="New price per query (wei, or e.g. 2000gwei).")
@click.option("--min-stake", default=None, help="New minimum host stake (e.g. 2eth).")
@click.option("--slash-bps", type=int, default=None, help="New slash share of the stake (1..10000).")
@click.option("--prover-share-bps", type=int, default=None, help="New prover share of a slash (0..5000).")
@click.option("--unbonding-delay", default=None, help="New unbonding delay: seconds or e.g. 36h, 7d.")
@click.option("--set-signer", default=None, help="New permission signer address (a fresh EOA).")
@click.option("--set-recipient", default=None, help="New revenue recipient address ('vault': the community vault).")
@click.option("--set-metadata", default=None, help="New metadata URI.")
@click.option("--activate/--deactivate", "active", default=None, help="Accept new stake again / no more.")
@click.option("--new-version", is_flag=True,
              help="Register a new version (needs --model-dir and --fingerprints); same terms, owned by the "
                   "timelock, revenue to the vault.")
@click.option("--model-dir", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="The new version's fingerprinted model directory (with --new-version).")
@click.option("--fingerprints", "fp_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="The new version's fingerprint file (with --new-version).")
@click.option("--description", default=None, help="Proposal description (default: the actions, one per line).")
@oml_command
def dao_propose(rpc_url, deployments, key, model_id, set_price, min_stake, slash_bps, prover_share_bps,
                unbonding_delay, set_signer, set_recipient, set_metadata, active, new_version, model_dir, fp_file,
                description):
    """Propose owner calls of OML for the community's model; prints the proposal id and what it does."""
    from ..chain.registration import format_time, parse_duration

    c = _client(rpc_url, deployments, key, model_id)
    actions = []
    if set_price is not None:
        actions.append(c.action_set_price(model_id, parse_eth(set_price, "--set-price")))
    if any(v is not None for v in (min_stake, slash_bps, prover_share_bps, unbonding_delay)):
        actions.append(c.action_set_stake_terms(
            model_id, min_host_stake=parse_eth(min_stake, "--min-stake") if min_stake is not None else None,
            slash_bps=slash_bps, prover_share_bps=prover_share_bps,
            unbonding_delay=(parse_duration(unbonding_delay, "--unbonding-delay") if unbonding_delay is not None
                             else None)))
    if set_signer is not None:
        actions.append(c.action_set_permission_signer(model_id, normalize_address(set_signer, "--set-signer")))
    if set_recipient is not None:
        recipient = (c.community.vault if set_recipient.strip().lower() == "vault"
                     else normalize_address(set_recipient, "--set-recipient"))
        actions.append(c.action_set_revenue_recipient(model_id, recipient))
    if set_metadata is not None:
        actions.append(c.action_set_metadata_uri(model_id, set_metadata))
    if active is not None:
        actions.append(c.action_set_active(model_id, active))
    if new_version:
        if model_dir is None or fp_file is None:
            raise ConfigError("--new-version needs --model-dir and --fingerprints of the new version")
        from fingerprinting.models import check_model_dir, weights_hash

        from ..chain.commitment import commit_fingerprints

        check_model_dir(model_dir)
        fps = commit_fingerprints(fp_file)
        actions.append(c.action_register_version(model_id, bytes.fromhex(weights_hash(model_dir)[2:]), fps.root,
                                                 fps.count, f"oml://{model_dir.name}"))
    elif model_dir is not None or fp_file is not None:
        raise ConfigError("--model-dir and --fingerprints go with --new-version")
    if not actions:
        raise ConfigError("give at least one action: --set-price, --min-stake/--slash-bps/--prover-share-bps/"
                          "--unbonding-delay, --set-signer, --set-recipient, --set-metadata, --activate/--deactivate "
                          "or --new-version")
    p = c.propose(actions, description)
    click.echo(f"proposal id: {p.proposal_id}")
    for line in p.description.splitlines():
        click.echo(f"  {line}")
    now = c.chain_time()
    click.echo(f"voting from {format_time(p.vote_start, now)} until {format_time(p.vote_end, now)}; then "
               f"`oml dao queue --proposal {p.proposal_id}` and, after the timelock delay, `oml dao execute`")


def _for_proposal(rpc_url, deployments, key, proposal_id, model_id):
    c = _client(rpc_url, deployments, key, model_id)
    if model_id is None:
        c.open_for_proposal(proposal_id)
    return c


def proposal_options(f):
    f = click.option("--community", "model_id", type=click.IntRange(min=1), default=None,
                     help="Model id of the proposal's community (default: found from the proposal id).")(f)
    return click.option("--proposal", "proposal_id", type=int, required=True, help="Proposal id (`oml dao status`).")(f)


@dao.command("vote")
@chain_options(key=True)
@proposal_options
@click.option("--support", type=click.Choice(["for", "against", "abstain"]), required=True, help="Your vote.")
@click.option("--reason", default="", help="A reason recorded with the vote.")
@oml_command
def dao_vote(rpc_url, deployments, key, proposal_id, model_id, support, reason):
    """Vote on an active proposal with your delegated voting power (at the proposal's snapshot)."""
    c = _for_proposal(rpc_url, deployments, key, proposal_id, model_id)
    ev = c.vote(proposal_id, support, reason).event("VoteCast").args
    p = c.proposal(proposal_id)
    click.echo(f"{c.account} voted {support} on proposal {proposal_id} with {_shares(ev['weight'])} votes; now for "
               f"{_shares(p.for_votes)}, against {_shares(p.against_votes)}, abstain {_shares(p.abstain_votes)} "
               f"({p.state})")


@dao.command("queue")
@chain_options(key=True)
@proposal_options
@oml_command
def dao_queue(rpc_url, deployments, key, proposal_id, model_id):
    """Queue a succeeded proposal in the timelock (anyone may)."""
    from ..chain.registration import format_time

    c = _for_proposal(rpc_url, deployments, key, proposal_id, model_id)
    p = c.queue(proposal_id)
    click.echo(f"proposal {proposal_id} queued; executable from {format_time(p.eta, c.chain_time())} "
               f"(`oml dao execute --proposal {proposal_id}`)")


@dao.command("execute")
@chain_options(key=True)
@proposal_options
@oml_command
def dao_execute(rpc_url, deployments, key, proposal_id, model_id):
    """Execute a queued proposal after the timelock delay (anyone may); prints what OML did."""
    from ..chain.dao import format_wei
    from ..chain.registration import format_time

    c = _for_proposal(rpc_url, deployments, key, proposal_id, model_id)
    tx = c.execute(proposal_id)
    click.echo(f"proposal {proposal_id} executed (block {tx.block_number})")
    for e in tx.events:
        a = e.args
        if e.name == "PriceChangeScheduled":
            click.echo(f"  model {a['modelId']}: price {format_wei(a['oldPrice'])} -> {format_wei(a['newPrice'])} "
                       f"per query from {format_time(a['effectiveAt'])}")
        elif e.name == "ModelRegistered":
            click.echo(f"  registered model {a['modelId']} (owner {a['owner']})")
        elif e.name not in ("ProposalExecuted",):
            click.echo(f"  {e.name}(" + ", ".join(f"{k}={_show(v)}" for k, v in a.items()) + ")")


def _show(v) -> str:
    return "0x" + bytes(v).hex() if isinstance(v, (bytes, bytearray)) else str(v)


@dao.command("pull")
@chain_options(key=True, model=True)
@oml_command
def dao_pull(rpc_url, deployments, key, model_id):
    """Move the model's revenue from OML into its community vault, shared pro rata among current holders."""
    from ..chain.dao import format_wei

    c = _client(rpc_url, deployments, key, model_id)
    amount = c.pull(model_id)
    click.echo(f"pulled {format_wei(amount)} of model {model_id}'s revenue into the vault {c.community.vault}; "
               f"your claimable: {format_wei(c.claimable())}")


@dao.command("claim")
@chain_options(key=True, model=True)
@oml_command
def dao_claim(rpc_url, deployments, key, model_id):
    """Pay your claimable share of the community's revenue to your account."""
    from ..chain.dao import format_wei

    c = _client(rpc_url, deployments, key, model_id)
    amount = c.claim()
    click.echo(f"claimed {format_wei(amount)} ({amount} wei) from the vault of model {model_id}'s community")


@dao.command("status")
@chain_options(key=None, model=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@oml_command
def dao_status(rpc_url, deployments, model_id, as_json):
    """Shareholders (balance, %, votes, claimable), the vault and the proposals of a model's community."""
    c = _client(rpc_url, deployments, None, model_id)
    info = community_status(c)
    if as_json:
        echo_json(info)
    else:
        click.echo(format_community_status(info, c.chain_time()))


def community_status(c) -> dict:
    from ..chain.dao import percent

    holders = c.shareholders()
    supply = c.total_supply()
    v = c.vault_state()
    settings = c.governance_settings()
    settings["proposal_threshold"] = str(settings["proposal_threshold"])  # share base units: above 2**53
    return {"community": c.community.to_json(), "model_id": c.community.model_id, "supply": str(supply),
            "settings": settings,
            "shareholders": [h.to_json(supply) for h in holders], "vault": v.to_json(),
            "proposals": [p.to_json() for p in c.proposals()],
            "delegated_percent": percent(sum(h.votes for h in holders), supply)}


def format_community_status(info: dict, now: int) -> str:
    from ..chain.dao import format_shares, format_wei
    from ..chain.registration import format_duration, format_time
    from ..chain.status import format_table

    cm, s, v = info["community"], info["settings"], info["vault"]
    out = [f"Community of model {cm['model_id']}: shares {cm['shares']}, governor {cm['governor']}, timelock "
           f"{cm['timelock']} (model owner), vault {cm['vault']}",
           f"voting delay {format_duration(s['voting_delay'])}, voting period {format_duration(s['voting_period'])}, "
           f"quorum {s['quorum_percent']}%, proposal threshold {format_shares(int(s['proposal_threshold']))} shares, "
           f"timelock delay {format_duration(s['timelock_delay'])}", "", "Shareholders"]
    out.append(format_table([[h["account"], format_shares(int(h["balance"])), f"{h['percent']:g}%",
                              format_shares(int(h["votes"])), format_wei(int(h["claimable"]))]
                             for h in info["shareholders"]] or [["-"] * 5],
                            ["account", "shares", "%", "votes", "claimable"]))
    out += ["", f"Vault: pulled {format_wei(int(v['total_pulled']))}, claimed {format_wei(int(v['total_claimed']))}, "
                f"held {format_wei(int(v['balance']))}; revenue waiting in OML {format_wei(int(v['pending']))}"
                " (`oml dao pull`)", "", "Proposals"]
    for p in info["proposals"]:  # ids are 78-digit hashes: one block per proposal rather than a table
        when = (f"executable from {format_time(p['eta'], now)}" if p["eta"] and p["state"] == "Queued"
                else f"voting {format_time(p['vote_start'], now)} .. {format_time(p['vote_end'], now)}")
        out.append(f"{p['proposal_id']}")
        out.append(f"  {p['state']}: for {format_shares(int(p['for']))}, against {format_shares(int(p['against']))}, "
                   f"abstain {format_shares(int(p['abstain']))}; {when}")
        out += [f"  {line}" for line in p["description"].splitlines()]
    if not info["proposals"]:
        out.append("-")
    return "\n".join(out)


@dao.command("deploy-factory")
@chain_options(key=True)
@oml_command
def dao_deploy_factory(rpc_url, deployments, key):
    """Deploy a CommunityFactory for an OML deployed before community ownership; record it beside OML."""
    from ..chain.dao import FACTORY, deploy_community_factory
    from ..chain.deploy import load_deployment, record_contract

    w3 = connect(rpc_url)
    oml = load_deployment(w3.eth.chain_id, deployments)
    factory = deploy_community_factory(w3, normalize_key(key), oml)
    record_contract(deployments, w3.eth.chain_id, FACTORY, factory)
    click.echo(f"CommunityFactory deployed at {factory} for OML {oml}; recorded in {deployments}")
