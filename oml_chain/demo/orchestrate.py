"""The whole OML system on one machine: the library behind `make demo` and tests/test_e2e.py.

`run_world(cfg)` fingerprints a model (cached), starts anvil, deploys, registers,
starts the permission service and the distribution server (subprocesses via the
`oml` CLI), lets an honest host stake, deposit, download and serve K queries
through the `openai` client — as a gateway (`oml host serve --upstream`) in front of a plain engine process
(`oml host serve-plain`), the way a host fronts vLLM or TGI — plus one streamed chat answer whose attestation
is verified, lets a rogue host serve without permissions directly from its own engine, runs
the prover, tries a second proof with the burned fingerprint, and returns a
`Summary` with every figure and every expectation checked. Logs, databases
and downloads of a run live in `<out_dir>/run/` (replaced by the next run).
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..chain.anvil import DEV_KEYS, free_port, start_anvil
from ..chain.dao import ACC_SCALE, FACTORY, CommunityClient, DaoParams
from ..chain.deploy import deploy_oml, load_deployment
from ..chain.eip712 import Signer
from ..chain.errors import ContractError, OMLError
from .procs import ProcessGroup, ServiceProcess
from ..chain.registration import RegistrationOptions, model_params, write_registration
from ..chain.roles import HostClient, OwnerClient, ProverClient

ETH = 10**18


@dataclass
class WorldConfig:
    preset: str = "demo"  # base model preset
    n_fingerprints: int = 32  # keys ...
    responses_per_key: int = 2  # ... with two responses each (64 records): the defence against the evading host
    queries: int = 20  # K queries to the honest host
    queries_after_price_change: int = 5  # queries once a doubled price is in force (protocol v2: notice period)
    shares: tuple[int, ...] = (50, 30, 20)  # the community's three shareholders (owner first), in whole shares
    quorum_percent: int = 25
    voting_period: int = 600  # seconds; anvil's clock is moved past it
    price: int = 10**12  # wei per query
    min_stake: int = 1 * ETH
    stake: int = 2 * ETH  # what each host stakes
    escrow: int = ETH // 100
    slash_bps: int = 5_000
    prover_share_bps: int = 2_000
    settle_interval: float = 1.0  # permission service settlement period (s)
    max_tokens: int = 16
    out_dir: Path = Path("out/demo")
    progress: bool = True
    timeout: float = 180.0  # per waiting step
    evade_tau: float | None = 0.95  # a third host, rogue and evading (τ-swap); None: no such host


@dataclass
class Phase:
    name: str
    seconds: float


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Summary:
    config: dict
    model_id: int = 0
    hosts: dict = field(default_factory=dict)  # label -> figures
    revenue_fees: int = 0
    revenue_final: int = 0
    prover_reward: int = 0
    community: dict = field(default_factory=dict)  # shares, vault, governor, timelock, holders, proposal, claims
    fingerprints_burned: int = 0
    queries_attested: int = 0
    evasion: dict = field(default_factory=dict)  # the evading rogue host: tau, probes, fired, slashed
    streamed: dict = field(default_factory=dict)  # the streamed chat answer through the gateway: text, verified
    probes: list = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, bool(ok), detail))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return json.loads(json.dumps(d, default=str))


class Timer:
    """Records phases and prints one line per phase with the elapsed time."""

    def __init__(self, summary: Summary, say: Callable[[str], None]):
        self.summary, self.say, self.t0 = summary, say, time.monotonic()

    def phase(self, name: str):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.start = time.monotonic()
                timer.say(f"[{self.start - timer.t0:6.1f}s] {name} …")

            def __exit__(self, exc_type, exc, tb):
                dt = time.monotonic() - self.start
                timer.summary.phases.append(Phase(name, round(dt, 2)))
                if exc_type is None:
                    timer.say(f"[{time.monotonic() - timer.t0:6.1f}s] {name}: done in {dt:.1f} s")

        return _Ctx()


@dataclass
class Actor:
    label: str
    key: str
    attestation_key: str = ""

    @property
    def address(self) -> str:
        return Signer(self.key).address


def _wait(cond: Callable[[], bool], timeout: float, what: str, poll: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise OMLError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def run_world(cfg: WorldConfig, say: Callable[[str], None] = print, procs: ProcessGroup | None = None) -> Summary:
    """Run everything; the caller owns `procs` (stopped by the caller) or one is made and closed here."""
    own = procs is None
    procs = procs or ProcessGroup()
    try:
        return _run(cfg, say, procs)
    finally:
        if own:
            procs.close()


def _run(cfg: WorldConfig, say, procs: ProcessGroup) -> Summary:
    from web3 import Web3

    from .model_prep import PrepConfig, prepare_model
    from ..services.prover import Prover, ProverConfig

    # Every run starts from a fresh chain, so its ledgers, databases, logs and downloads start fresh too.
    out = Path(cfg.out_dir).resolve() / "run"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    summary = Summary(config={k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()})
    t = Timer(summary, say)
    owner, platform = Actor("owner", DEV_KEYS[0]), Actor("permission signer", DEV_KEYS[1])
    honest = Actor("honest host", DEV_KEYS[2], "0x" + secrets.token_hex(32))
    rogue = Actor("rogue host", DEV_KEYS[3], "0x" + secrets.token_hex(32))
    evader = Actor("evading host", DEV_KEYS[7], "0x" + secrets.token_hex(32))
    serving = [honest, rogue] + ([evader] if cfg.evade_tau is not None else [])
    prover_actor = Actor("prover", DEV_KEYS[4])
    holders = [owner, Actor("shareholder B", DEV_KEYS[5]), Actor("shareholder C", DEV_KEYS[6])]

    with t.phase(f"fingerprinted model ({cfg.preset}, {cfg.n_fingerprints} fingerprints × {cfg.responses_per_key} "
                 "responses; built once, then cached)"):
        fm = prepare_model(PrepConfig(preset=cfg.preset, n=cfg.n_fingerprints,
                                      responses_per_key=cfg.responses_per_key), progress=cfg.progress,
                           say=lambda m: say(f"         {m}"))
        say(f"         {fm.model_dir} ({'reused' if fm.reused else 'built'}, accuracy {fm.accuracy:.0%})")

    with t.phase("local chain, deployment and registration"):
        node = start_anvil(log_path=str(out / "anvil.log"))
        procs.others.append(node)
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        deployments = out / "deployments.json"
        if deployments.exists():
            deployments.unlink()
        oml = deploy_oml(w3, owner.key, deployments)
        own = OwnerClient(w3, oml, owner.key)
        opts = RegistrationOptions(
            price_per_query=cfg.price, permission_signer=platform.address, min_host_stake=cfg.min_stake,
            slash_bps=cfg.slash_bps, prover_share_bps=cfg.prover_share_bps, metadata_uri=f"oml://{cfg.preset}")
        dao = DaoParams(name=f"OML {cfg.preset} model shares", symbol="OMLS", holders=[h.address for h in holders],
                        amounts=[n * 10**18 for n in cfg.shares], voting_delay=1, voting_period=cfg.voting_period,
                        quorum_percent=cfg.quorum_percent, timelock_delay=opts.unbonding_delay)
        params = model_params(fm.model_dir, fm.fingerprint_file, owner.address, opts)
        factory = load_deployment(w3.eth.chain_id, deployments, name=FACTORY)
        community = CommunityClient(w3, oml, factory, owner.key).create(params, dao)
        for h in holders[1:]:  # votes need delegation: each holder delegates to itself
            CommunityClient(w3, oml, factory, h.key, community=community).delegate()
        mid = summary.model_id = community.model_id
        reg = write_registration(mid, w3.eth.chain_id, oml, community.timelock, params, fm.model_dir,
                                 fm.fingerprint_file, out=out / "registration.json")
        summary.community = {"shares": community.shares, "vault": community.vault, "governor": community.governor,
                             "timelock": community.timelock,
                             "holders": {h.address: n for h, n in zip(holders, cfg.shares)}}
        say(f"         OML {oml} at {node.url}; model {mid} registered ({reg.fingerprint_count} fingerprints), "
            f"community-owned: shares {'/'.join(map(str, cfg.shares))}, timelock {community.timelock[:10]}…, "
            f"revenue to the vault {community.vault[:10]}…")
    chain = ["--rpc-url", node.url, "--deployments", str(deployments)]

    with t.phase("permission service and distribution server"):
        perm_port, dist_port = free_port(), free_port()
        perm = procs.start(ServiceProcess("permission service", [
            "permission", "serve", *chain, "--db", str(out / "permission.db"), "--port", str(perm_port),
            "--settle-interval", str(cfg.settle_interval), "--log-level", "warning"], out / "permission.log",
            env={"OML_PRIVATE_KEY": platform.key}))
        dist = procs.start(ServiceProcess("distribution server", [
            "distribute", "serve", *chain, "--model", f"{mid}={fm.model_dir}", "--port", str(dist_port),
            "--log-level", "warning"], out / "distribution.log"))
        perm_url, dist_url = f"http://127.0.0.1:{perm_port}", f"http://127.0.0.1:{dist_port}"
        perm.wait_http(perm_url + "/healthz", cfg.timeout)
        dist.wait_http(f"{dist_url}/v1/models/{mid}/manifest", cfg.timeout)

    hosts = {}
    with t.phase("hosts stake, deposit escrow and download M.oml"):
        for actor in serving:
            port = free_port()
            hc = HostClient(w3, oml, actor.key, attestation_key=actor.attestation_key)
            hc.stake(mid, cfg.stake, f"http://127.0.0.1:{port}")
            if actor is honest:
                hc.deposit_escrow(mid, cfg.escrow)
            target = out / f"{actor.label.split()[0]}-model"
            report = download(dist_url, mid, actor.key, node.url, oml, target, cfg.progress)
            say(f"         {actor.label} {actor.address[:10]}… staked {cfg.stake / ETH:g} ETH, downloaded {report}")
            hosts[actor.label] = (actor, hc, port, target)

    with t.phase("honest host through a gateway (upstream: a plain engine process), rogue host (--no-permission) "
                 "directly" + (f", evading rogue host (τ-swap {cfg.evade_tau})" if cfg.evade_tau is not None else "")):
        engine_port = free_port()
        engine = procs.start(ServiceProcess("honest host's engine", [
            "host", "serve-plain", "--model-dir", str(hosts["honest host"][3]), "--port", str(engine_port),
            "--served-model-name", "engine", "--log-level", "warning"], out / "honest-engine.log"))
        engine.wait_http(f"http://127.0.0.1:{engine_port}/v1/models", cfg.timeout)
        for label, (actor, hc, port, target) in hosts.items():
            args = ["host", "serve", *chain, "--model-id", str(mid), "--model-dir", str(target), "--port", str(port),
                    "--state-db", str(out / f"{label.split()[0]}-host.db")]
            if actor is honest:
                args += ["--permission-url", perm_url, "--upstream", f"http://127.0.0.1:{engine_port}/v1"]
            else:
                args += ["--no-permission"] + (["--evade-tau", str(cfg.evade_tau)] if actor is evader else [])
            svc = procs.start(ServiceProcess(label, args, out / f"{label.split()[0]}-host.log",
                                             env={"OML_PRIVATE_KEY": actor.key,
                                                  "OML_ATTESTATION_KEY": actor.attestation_key}))
            hosts[label] = (actor, hc, port, target, svc)
        for label, (actor, hc, port, target, svc) in hosts.items():
            svc.wait_http(f"http://127.0.0.1:{port}/v1/models", cfg.timeout)

    before = {label: hosts[label][1].get_stake(mid, hosts[label][0].address).amount for label in hosts}
    with t.phase(f"{cfg.queries} user queries to the honest host (openai client), fees settled on chain"):
        summary.queries_attested = user_queries(f"http://127.0.0.1:{hosts['honest host'][2]}", own, mid,
                                                honest.address, cfg.queries, cfg.max_tokens, cfg.progress)
        _wait(lambda: own.revenue_of(mid) >= cfg.queries * cfg.price, cfg.timeout, "fee settlement")
        time.sleep(min(2.0, 2 * cfg.settle_interval))  # nothing more may arrive
        summary.revenue_fees = own.revenue_of(mid)

    with t.phase("a user streams a chat answer through the gateway (openai client, stream=True)"):
        summary.streamed = stream_query(f"http://127.0.0.1:{hosts['honest host'][2]}", own, mid, honest.address,
                                        cfg.max_tokens)
        say(f"         {summary.streamed['chunks']} chunks, {summary.streamed['text'][:60]!r}…, attestation "
            f"{'verified' if summary.streamed['verified'] else 'INVALID'}")

    with t.phase("prover probes every host with fresh fingerprint keys"):
        pcfg = ProverConfig(rpc_url=node.url, oml_address=oml, prover_key=prover_actor.key,
                            fingerprint_files=[str(fm.fingerprint_file)], db_path=str(out / "prover.db"),
                            keys_per_round=2, max_tokens=cfg.max_tokens)
        prover = Prover(pcfg, w3)
        try:
            report = prover.run_round()
        finally:
            prover.close()
        summary.probes = [asdict(r) for r in report.results]
        for r in report.results:
            say(f"         {r.host[:10]}… key #{r.fp_index}: {r.outcome} {r.detail[:90]}")
        slashes = report.slashes
        rogue_slashes = [x for x in slashes if x.host == rogue.address]
        if cfg.evade_tau is not None:
            mine = [p for p in summary.probes if p["host"] == evader.address]
            summary.evasion = {"tau": cfg.evade_tau, "probes": len(mine),
                               "fired": sum(p["outcome"] == "slashed" for p in mine),
                               "slashed": any(x.host == evader.address for x in slashes),
                               "outcomes": [p["outcome"] for p in mine]}
            e = summary.evasion
            say(f"         evading rogue host (top two tokens swapped where p > {cfg.evade_tau}): "
                f"{e['fired']}/{e['probes']} fingerprints fired, {'SLASHED' if e['slashed'] else 'NOT slashed'}")

    with t.phase("a second proof with the burned fingerprint"):
        second = (second_proof(w3, oml, prover_actor.key, prover.models[mid], rogue_slashes[0]) if rogue_slashes
                  else "no slash")
        say(f"         {second}")

    # --- figures and checks ---------------------------------------------------------------------
    # The prover's probes of the honest host were paid queries too: wait until they are settled as well,
    # so every figure below is read from one settled state.
    paid = cfg.queries + 1 + sum(1 for p in summary.probes if p["host"] == honest.address
                             and p["outcome"] in ("permitted", "not_fired", "invalid_answer"))
    _wait(lambda: own.settled_count(mid, honest.address) >= paid, cfg.timeout, "settlement of the probes")
    m = own.get_model(mid)
    for label, (actor, hc, port, target, svc) in hosts.items():
        s, e = hc.get_stake(mid, actor.address), hc.get_escrow(mid, actor.address)
        summary.hosts[label] = {"address": actor.address, "stake_before": before[label], "stake_after": s.amount,
                                "escrow": e.balance, "settled_queries": hc.settled_count(mid, actor.address)}
    summary.prover_reward = own.reward_of(prover_actor.address)
    summary.fingerprints_burned = sum(own.is_burned(mid, actor.address, i)  # burns are per (host, index)
                                      for actor, *_ in hosts.values() for i in range(m.fingerprint_count))
    summary.revenue_final = own.revenue_of(mid)
    h, r = summary.hosts["honest host"], summary.hosts["rogue host"]
    slashed = r["stake_before"] * cfg.slash_bps // 10_000
    reward = slashed * cfg.prover_share_bps // 10_000
    # an evading host that was slashed anyway adds its own slash to the totals (reported, not expected)
    extra = [x for x in slashes if x.host != rogue.address]
    extra_slashed, extra_reward = sum(x.slashed for x in extra), sum(x.reward for x in extra)
    summary.check("fees settled = K × price", summary.revenue_fees == cfg.queries * cfg.price,
                  f"revenue {summary.revenue_fees} wei, expected {cfg.queries} × {cfg.price}")
    summary.check("every user query carried a valid attestation", summary.queries_attested == cfg.queries,
                  f"{summary.queries_attested}/{cfg.queries}")
    summary.check("a streamed answer through the gateway carried a valid attestation",
                  summary.streamed.get("verified") is True,
                  f"{summary.streamed.get('chunks')} chunks, attestation over the concatenated deltas")
    summary.check("honest host keeps its whole stake", h["stake_after"] == h["stake_before"] == cfg.stake,
                  f"{h['stake_after']} of {h['stake_before']} wei")
    summary.check("honest host probed and not slashed",
                  any(p["host"] == honest.address and p["outcome"] == "permitted" for p in summary.probes)
                  and not any(s.host == honest.address for s in slashes), "fingerprint fired under a permission")
    summary.check("rogue host slashed by slash_bps", r["stake_after"] == r["stake_before"] - slashed,
                  f"{r['stake_before']} → {r['stake_after']} wei (expected −{slashed})")
    summary.check("prover paid its share", summary.prover_reward == reward + extra_reward,
                  f"reward {summary.prover_reward} wei, expected {reward}"
                  + (f" + {extra_reward} for the evading host" if extra else ""))
    summary.check("one fingerprint burned per slash", summary.fingerprints_burned == len(slashes)
                  and len(rogue_slashes) == 1, f"{summary.fingerprints_burned} burned, {len(slashes)} slash(es), "
                  f"{len(rogue_slashes)} of the rogue host")
    summary.check("second proof with the same fingerprint reverts", second == "SlashFingerprintBurned", second)
    summary.check("every paid query settled, nothing more", h["settled_queries"] == paid,
                  f"{h['settled_queries']} settled, {paid} paid ({cfg.queries} user queries + 1 streamed + prover "
                  "probes)")
    summary.check("treasury got the rest of the slash",
                  summary.revenue_final == paid * cfg.price + slashed - reward + extra_slashed - extra_reward,
                  f"revenue {summary.revenue_final} wei = {paid} × price + {slashed - reward} from the slash"
                  + (f" + {extra_slashed - extra_reward} from the evading host's" if extra else ""))
    if cfg.evade_tau is not None and cfg.responses_per_key > 1:
        e = summary.evasion
        summary.check("the evading host is slashed too (its runner-up is the key's other response)", e["slashed"],
                      f"{e['fired']}/{e['probes']} probes fired under the τ-swap {cfg.evade_tau}; an adaptive host "
                      "that swaps in the third token is not caught (README, Stealth and evasion)")

    voters = [CommunityClient(w3, oml, factory, h.key, community=community) for h in holders]
    with t.phase("the community votes to double the price: propose, vote, queue, timelock delay, execute"):
        community_vote(summary, cfg, w3, voters, mid, say)
    with t.phase(f"the new price is in force after the notice; {cfg.queries_after_price_change} more queries"):
        price_change(summary, cfg, w3, own, mid, honest.address, f"http://127.0.0.1:{hosts['honest host'][2]}", say)
    with t.phase("revenue pulled into the vault; each shareholder claims its part"):
        community_claims(summary, voters, mid, say)
    return summary


def _travel(w3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [int(seconds)])
    w3.provider.make_request("evm_mine", [])


def community_vote(summary: Summary, cfg: WorldConfig, w3, voters: list, mid: int,
                   say: Callable[[str], None]) -> None:
    """Shareholder A proposes doubling the price, A and B vote for it, it is queued, the timelock delay (≥ the
    unbonding delay, so hosts could leave first) passes on anvil's clock, anyone executes it: OML schedules the
    new price with the model's notice period. The old owner can no longer change the price itself."""
    a = voters[0]
    p = a.propose([a.action_set_price(mid, 2 * cfg.price)])
    say(f"         proposal {str(p.proposal_id)[:12]}…: {p.description}")
    _travel(w3, 2)  # past the voting delay
    for v in voters[:2]:
        v.vote(p.proposal_id, "for")
    _travel(w3, cfg.voting_period + 1)
    succeeded = a.state(p.proposal_id)
    queued = a.queue(p.proposal_id)
    early = "executed early (!)"
    try:
        a.execute(p.proposal_id)
    except OMLError as exc:
        early = getattr(exc, "error", exc.__class__.__name__)  # the contract error, e.g. the timelock's
    _travel(w3, queued.eta - w3.eth.get_block("latest")["timestamp"] + 1)
    tx = a.execute(p.proposal_id)
    scheduled = [e.args for e in tx.events if e.name == "PriceChangeScheduled"]
    old_owner_refused = False
    try:
        OwnerClient(w3, a.address, voters[0].signer).set_price(mid, 1)
    except ContractError as exc:
        old_owner_refused = exc.error == "ModelNotOwner"
    summary.community["proposal"] = {"id": str(p.proposal_id), "description": p.description, "state_after_vote":
                                     succeeded, "executed_early": early, "final_state": a.state(p.proposal_id)}
    say(f"         voted {succeeded}; early execute refused ({early}); executed: price change scheduled")
    summary.check("the community's vote changes the price, only after the timelock delay",
                  succeeded == "Succeeded" and early != "executed early (!)" and len(scheduled) == 1
                  and scheduled[0]["newPrice"] == 2 * cfg.price, f"{p.description}: {succeeded} → queued → "
                  f"executed after the delay; the early execute failed ({early})")
    summary.check("the former owner can no longer change the model", old_owner_refused, "set_price → ModelNotOwner")


def community_claims(summary: Summary, voters: list, mid: int, say: Callable[[str], None]) -> None:
    """Pull the model's revenue (fees and the treasury part of the slash) into the vault; each holder's claim
    must be exactly floor(balance × revenue / supply), the accumulator's rounding."""
    a = voters[0]
    pulled = a.pull(mid)
    supply = a.total_supply()
    acc = pulled * ACC_SCALE // supply
    claims = {}
    for v in voters:
        balance = a.share_balance(v.account)
        got = v.claim()
        claims[v.account] = {"shares": balance, "claimed": got, "expected": balance * acc // ACC_SCALE}
        say(f"         {v.account[:10]}… holds {balance * 100 // supply}% of the shares, claimed {got} wei")
    dust = pulled - sum(c["claimed"] for c in claims.values())
    summary.community.update({"pulled": pulled, "claims": claims, "dust": dust})
    summary.check("shareholders claim exactly their pro-rata part",
                  all(c["claimed"] == c["expected"] for c in claims.values()) and 0 <= dust <= len(claims),
                  f"{pulled} wei pulled; claims " + " / ".join(str(c["claimed"]) for c in claims.values())
                  + f"; {dust} wei of rounding dust stays in the vault")


def price_change(summary: Summary, cfg: WorldConfig, w3, own: OwnerClient, mid: int, host: str, url: str,
                 say: Callable[[str], None]) -> None:
    """Protocol v2 in the demo: the price change the community executed waits for the model's notice period
    (anvil time travel here), is charged only for permissions issued after it, and reprices nothing."""
    new_price = 2 * cfg.price
    settled_before = own.settled_amount(mid, host)
    revenue_before = own.revenue_of(mid)
    pending = own.pending_price(mid)
    announced_only = own.get_model(mid).price_per_query == cfg.price and pending is not None \
        and pending.value == new_price
    say(f"         price {cfg.price} → {new_price} wei announced, in force at {pending.effective_at if pending else '?'}"
        f" (notice {own.get_model(mid).notice_period} s); anvil moves its clock past it")
    _travel(w3, own.get_model(mid).notice_period)
    in_force = own.get_model(mid).price_per_query == new_price
    time.sleep(5.5)  # the host (5 s) and the permission service (2 s) re-read the price from the chain
    k = cfg.queries_after_price_change
    attested = user_queries(url, own, mid, host, k, cfg.max_tokens, cfg.progress)
    _wait(lambda: own.settled_amount(mid, host) >= settled_before + k * new_price, cfg.timeout,
          "settlement at the new price")
    time.sleep(min(2.0, 2 * cfg.settle_interval))
    moved = own.settled_amount(mid, host) - settled_before
    summary.check("price change waits for the notice period", announced_only and in_force,
                  f"announced at {cfg.price} wei, {new_price} wei in force after {own.get_model(mid).notice_period} s")
    summary.check("new queries at the new price, nothing repriced",
                  attested == k and moved == k * new_price and own.revenue_of(mid) - revenue_before == moved,
                  f"{k} queries settled {moved} wei = {k} × {new_price}; earlier queries stayed at {cfg.price}")


def download(server: str, model_id: int, host_key: str, rpc_url: str, oml: str, out: Path, progress: bool) -> str:
    """Download M.oml through the distribution server (signed request; weights hash checked against the chain)."""
    from ..services.distribution import download_model

    r = download_model(server, model_id, host_key, out, rpc_url, oml, progress=progress)
    return f"{r.files} files, {r.bytes_downloaded / 1e6:.1f} MB, weights hash verified"


def user_queries(base_url: str, oml: OwnerClient, model_id: int, host: str, k: int, max_tokens: int,
                 progress: bool) -> int:
    """K ordinary completions through the official openai client; returns how many attestations verified."""
    from openai import OpenAI
    from tqdm import tqdm

    from ..services.prover.probe import HostAnswerInvalid, verify_answer

    client = OpenAI(base_url=base_url + "/v1", api_key="not-needed", max_retries=0, timeout=120)
    name = client.models.list().data[0].id
    signer = oml.get_stake(model_id, host).attestation_signer
    prompts = ["The history of the city", "In the morning the farmer", "A letter to my friend",
               "The king said unto", "Science is the study of"]
    ok = 0
    for i in tqdm(range(k), desc="queries", disable=not progress, leave=False):
        prompt = f"{prompts[i % len(prompts)]} ({i})"
        resp = client.completions.create(model=name, prompt=prompt, max_tokens=max_tokens, temperature=0)
        try:
            verify_answer(resp.to_dict(), oml.domain, model_id, host, prompt, [signer])
            ok += 1
        except HostAnswerInvalid:
            pass
    return ok


def stream_query(base_url: str, oml: OwnerClient, model_id: int, host: str, max_tokens: int) -> dict:
    """One chat answer streamed through the official openai client; the attestation in the last chunk is checked
    against the concatenated deltas, the query (the rendered prompt) and the on-chain attestation signer."""
    from openai import OpenAI

    from ..services.host.streaming import collect, verify_streamed

    client = OpenAI(base_url=base_url + "/v1", api_key="not-needed", max_retries=0, timeout=120)
    name = client.models.list().data[0].id
    question = "Tell me about the history of the city"
    chunks = list(client.chat.completions.create(model=name, messages=[{"role": "user", "content": question}],
                                                 max_tokens=max_tokens, stream=True))
    text, att = collect(chunks)
    signer = oml.get_stake(model_id, host).attestation_signer
    ok = att is not None and verify_streamed(text, att, oml.domain, question, signer)
    return {"text": text, "chunks": len(chunks), "verified": bool(ok)}


def second_proof(w3, oml: str, prover_key: str, fps, slash) -> str:
    """Re-submit the revealed evidence (commit, reveal): the contract must refuse the burned fingerprint."""
    pc = ProverClient(w3, oml, prover_key)
    tx = w3.eth.get_transaction(slash.tx_hash)
    fn, args = pc.contract.decode_function_input(tx["input"])
    ev = args["evidence"]
    from ..chain.types import SlashEvidence

    evidence = SlashEvidence.from_abi(ev) if isinstance(ev, dict) else SlashEvidence(*ev)
    try:
        pc.prove(evidence, timeout=30)
    except ContractError as exc:
        return exc.error
    return "accepted (!)"
