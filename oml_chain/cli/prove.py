"""`oml prove once|daemon`: probe hosts with fingerprint keys and slash those serving without permission
(a permission of a retired signer opens a dispute, finalized by a later round unless the host defends)."""

from __future__ import annotations

from pathlib import Path

import click

from .options import (STATE_DIR, chain_options, echo_json, fmt_eth, normalize_address, normalize_key, oml_command,
                      open_chain, setup_logging)


@click.group()
def prove():
    """The prover: send fingerprint keys to hosts and slash those serving without permission."""


def _prover_options(f):
    f = click.option("--fingerprints", "fp_files", multiple=True, required=True,
                     type=click.Path(path_type=Path, exists=True, dir_okay=False),
                     help="Fingerprint file(s); each is matched to the model whose root it produces (repeatable).")(f)
    f = click.option("--db", type=click.Path(path_type=Path), default=STATE_DIR / "prover.db", show_default=True,
                     help="SQLite record of used keys, probes, pending commitments and slashes.")(f)
    f = click.option("--keys", "keys_per_round", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Fresh keys sent to each host per round.")(f)
    f = click.option("--stream", is_flag=True,
                     help="Probe with streamed requests (stream: true) instead of ordinary ones: a rogue host may "
                          "treat the two differently.")(f)
    f = click.option("--log-level", default="info", show_default=True, help="Log level.")(f)
    return f


def _config(rpc_url, deployments, key, fp_files, db, keys_per_round, model_id=None, stream=False, **kw):
    from ..services.prover import ProverConfig

    c = open_chain(rpc_url, deployments)
    return ProverConfig(rpc_url=rpc_url, oml_address=c.address, prover_key=normalize_key(key),
                        fingerprint_files=[str(p) for p in fp_files], db_path=str(db),
                        model_ids=[model_id] if model_id else [], keys_per_round=keys_per_round, stream=stream,
                        **kw)


@prove.command("once")
@chain_options(key=True, model=False)
@_prover_options
@click.option("--host", "host_addr", default=None, help="Only this host address (default: every staked host).")
@click.option("--endpoint", default=None, help="Probe this URL instead of the host's on-chain endpoint.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Write the results here.")
@oml_command
def prove_once(rpc_url, deployments, key, model_id, fp_files, db, keys_per_round, stream, log_level, host_addr,
               endpoint, json_out):
    """One round: finish pending reveals, finalize due disputes, probe each staked host with fresh keys, slash
    on misuse (a permission of a retired signer opens a dispute instead)."""
    from ..chain.errors import ConfigError
    from ..services.prover import Prover, RoundReport, Target

    host_addr = normalize_address(host_addr, "--host")
    setup_logging(log_level)
    prover = Prover(_config(rpc_url, deployments, key, fp_files, db, keys_per_round, model_id, stream))
    try:
        report = RoundReport(resumed=prover.resume_pending())
        report.closed = prover.finalize_due_disputes()
        targets = prover.targets()
        if host_addr:
            targets = [t for t in targets if t.host.lower() == host_addr.lower()]
            if not targets and model_id:
                stake = prover.client.get_stake(model_id, host_addr)
                targets = [Target(model_id, host_addr, stake.endpoint, stake.amount)]
        if not targets and not (report.resumed or report.closed):
            raise ConfigError("no staked host on a model these fingerprint files match; check --fingerprints, "
                              "--model-id and --host")
        for t in targets:
            report.results += prover.probe(t, endpoint=endpoint)
        _echo_round(report)
        if json_out:
            echo_json(round_json(report), json_out)
    finally:
        prover.close()


def round_json(report) -> dict:
    """`oml prove once --json`: probe results, resumed reveals, slashes and disputes opened/finalized/closed."""
    from dataclasses import asdict

    return {"results": [asdict(r) for r in report.results], "resumed": [asdict(r) for r in report.resumed],
            "slashes": [asdict(s) for s in report.slashes],
            "disputes_opened": [asdict(d) for d in report.disputes_opened],
            "disputes_finalized": [asdict(c) for c in report.disputes_finalized],
            "disputes_closed": [asdict(c) for c in report.closed if c.dispute.state != "finalized"]}


def _echo_round(report) -> None:
    from ..services.prover import SlashRecord

    for r in report.results:
        click.echo(f"model {r.model_id} host {r.host} key #{r.fp_index}: {r.outcome}  {r.detail}")
    for s in report.resumed:
        if isinstance(s, SlashRecord):
            click.echo(f"resumed reveal: slashed {s.host} by {fmt_eth(s.slashed)}")
        else:
            click.echo(f"resumed reveal: dispute opened against {s.host} (model {s.model_id}, key #{s.fp_index}), "
                       f"finalizable after {s.deadline}")
    for c in report.closed:
        d = c.dispute
        if c.slash is not None:
            click.echo(f"dispute finalized: model {d.model_id} host {d.host} key #{d.fp_index}: slashed "
                       f"{fmt_eth(c.slash.slashed)}, reward {fmt_eth(c.slash.reward)}")
        else:
            click.echo(f"dispute {d.state}: model {d.model_id} host {d.host} key #{d.fp_index}: {d.detail}")


@prove.command("daemon")
@chain_options(key=True, model=False)
@_prover_options
@click.option("--interval", type=float, default=30.0, show_default=True, help="Seconds between rounds.")
@click.option("--max-rounds", type=click.IntRange(min=1), default=None, help="Stop after this many rounds.")
@oml_command
def prove_daemon(rpc_url, deployments, key, model_id, fp_files, db, keys_per_round, stream, log_level, interval,
                 max_rounds):
    """Watch the chain for staked hosts and probe them on a schedule until SIGINT/SIGTERM."""
    from ..services.prover import run

    setup_logging(log_level)
    stats = run(_config(rpc_url, deployments, key, fp_files, db, keys_per_round, model_id, stream,
                        interval=interval),
                max_rounds=max_rounds)
    click.echo(f"{stats.rounds} round(s), {stats.slashes} slash(es), {stats.disputes_opened} dispute(s) opened, "
               f"{stats.disputes_finalized} finalized, {stats.rpc_failures} chain failure(s), "
               f"{stats.host_failures} unreachable host(s)")
