"""Community ownership on a real anvil (library: oml_chain/chain/dao.py; contracts/README.md, "Community
ownership"): creation in one transaction, roles, exact pro-rata revenue (fees and slashes) with the spec's
rounding, buyers after a pull, governance lifecycle with time travel, version upgrade by vote, conversion
of a single-owner model, and the contracts' refusals by name."""

from __future__ import annotations

import pytest
from chain_world import DELAY, NOTICE, PRICE
from dao_world import (QUORUM, SHARE, TREASURY, VOTING_DELAY, VOTING_PERIOD, VaultModel, community_client, dao_params,
                       earn_fees, make_dao, slash)

from oml_chain.chain.dao import community_abis
from oml_chain.chain.errors import (ConfigError, ContractLookupError, ContractPermissionError, ContractStateError,
                                   ContractValueError)
from oml_chain.chain.types import ZERO_ADDRESS

pytestmark = pytest.mark.chain


@pytest.fixture()
def dao(world, factory_address, dev_keys, oml_artifacts):
    return make_dao(world, factory_address, dev_keys, oml_artifacts)


def test_create_makes_the_timelock_owner_and_the_vault_recipient(dao):
    w, (a, b, c), cm = dao.world, dao.members, dao.community
    m = a.get_model(cm.model_id)
    assert m.owner == cm.timelock and m.revenue_recipient == cm.vault  # whatever make_params said
    assert m.revenue_recipient != w.recipient.account
    assert a.community_of(cm.model_id) == cm and a.find(cm.model_id) == cm
    assert a.shares.call("clock") == w.now() and a.shares.call("CLOCK_MODE") == "mode=timestamp"
    assert [a.share_balance(x.account) for x in (a, b, c)] == [50 * SHARE, 30 * SHARE, 20 * SHARE]
    assert a.total_supply() == 100 * SHARE
    assert [a.votes(x.account) for x in (a, b, c)] == [50 * SHARE, 30 * SHARE, 20 * SHARE]  # all delegated
    tl = a.timelock
    proposer, canceller, executor, admin = (tl.call(r) for r in ("PROPOSER_ROLE", "CANCELLER_ROLE", "EXECUTOR_ROLE",
                                                                 "DEFAULT_ADMIN_ROLE"))
    assert tl.call("hasRole", proposer, cm.governor) and tl.call("hasRole", canceller, cm.governor)
    assert tl.call("hasRole", executor, ZERO_ADDRESS)  # anyone executes
    for who in (a.factory.address, a.account, cm.governor):
        assert not tl.call("hasRole", admin, who)  # no admin, the factory renounced
    assert tl.call("hasRole", admin, cm.timelock)  # OpenZeppelin: the timelock administers itself (by proposal)
    assert not tl.call("hasRole", proposer, a.account)
    assert a.governance_settings() == {"voting_delay": VOTING_DELAY, "voting_period": VOTING_PERIOD,
                                       "proposal_threshold": 0, "quorum_percent": QUORUM, "timelock_delay": DELAY}
    holders = a.shareholders()
    assert [(h.account, h.balance, h.votes, h.delegate, h.claimable) for h in holders] == [
        (x.account, s * SHARE, s * SHARE, x.account, 0) for x, s in zip((a, b, c), (50, 30, 20))]
    assert a.communities()[-1] == cm


def test_creator_without_delegation_does_not_vote(world, factory_address, dev_keys, oml_artifacts):
    d = make_dao(world, factory_address, dev_keys, oml_artifacts, delegate_all=False)
    a, b, _ = d.members
    assert a.votes(a.account) == 50 * SHARE and b.votes(b.account) == 0
    b.delegate(a.account)  # B lends its votes to A
    assert a.votes(a.account) == 80 * SHARE and a.share_balance(b.account) == 30 * SHARE


def test_revenue_from_fees_and_a_slash_is_shared_pro_rata_exactly(dao):
    w, (a, b, c), mid = dao.world, dao.members, dao.model_id
    model = VaultModel({x.account: amt for x, amt in zip(dao.members, dao.amounts)})
    revenue = earn_fees(w, mid, 1_001) + slash(w, mid, 3)
    assert a.revenue_of(mid) == revenue == 1_001 * PRICE + TREASURY
    assert a.vault_state().pending == revenue
    assert a.pull() == revenue  # anyone may pull
    model.pull(revenue)
    assert a.revenue_of(mid) == 0
    for x, share in zip((a, b, c), (50, 30, 20)):
        assert x.claimable() == model.claimable(x.account) == revenue * share // 100
    v = a.vault_state()
    assert (v.total_pulled, v.total_claimed, v.balance, v.acc_reward_per_share) == (revenue, 0, revenue, model.acc)
    with pytest.raises(ContractLookupError, match="VaultNothingToPull"):
        c.pull()
    paid = b.claim()
    assert paid == revenue * 30 // 100 and b.claimable() == 0
    with pytest.raises(ContractLookupError, match="NothingToWithdraw"):
        b.claim()
    assert a.vault_state().total_claimed == paid
    assert a.shareholders()[1].claimable == 0


@pytest.mark.parametrize("shares", [(1, 1, 1), (7, 5, 3)], ids=["thirds", "7-5-3"])
def test_rounding_floors_per_holder_and_dust_stays(world, factory_address, dev_keys, oml_artifacts, shares):
    d = make_dao(world, factory_address, dev_keys, oml_artifacts, shares=shares)
    w, mid = d.world, d.model_id
    model = VaultModel({x.account: amt for x, amt in zip(d.members, d.amounts)})
    for count in (1, 2, 7):  # three pulls; the carry goes from one to the next
        r = earn_fees(w, mid, count)
        d.members[1].pull()
        model.pull(r)
        for x in d.members:
            assert x.claimable() == model.claimable(x.account)
    assert model.carry != 0 or shares == (7, 5, 3)
    total = sum(x.claimable() for x in d.members)
    dust = d.members[0].vault_state().balance - total
    assert dust >= 0 and dust <= len(shares) * 3 + 1  # ≤ one wei per holder per pull, plus the carry
    assert total == sum(model.claimable(x.account) for x in d.members)
    for x in d.members:
        assert x.claim() == model.claim(x.account)
    assert d.members[0].vault_state().balance == dust


def test_a_buyer_after_a_pull_gets_none_of_it(dao):
    w, (a, b, c), mid = dao.world, dao.members, dao.model_id
    buyer = dao.client(w.other.signer.private_key)
    model = VaultModel({x.account: amt for x, amt in zip(dao.members, dao.amounts)})
    r1 = earn_fees(w, mid, 500)
    c.pull()
    model.pull(r1)
    a.transfer_shares(buyer.account, 10 * SHARE)  # A sells 10 shares after the pull
    model.transfer(a.account, buyer.account, 10 * SHARE)
    assert buyer.claimable() == 0 and a.claimable() == r1 * 50 // 100  # A keeps what it earned
    r2 = earn_fees(w, mid, 800) + slash(w, mid, 5)
    c.pull()
    model.pull(r2)
    assert buyer.claimable() == model.claimable(buyer.account) == r2 * 10 // 100
    assert a.claimable() == model.claimable(a.account) == r1 * 50 // 100 + r2 * 40 // 100
    assert b.claimable() == r1 * 30 // 100 + r2 * 30 // 100
    assert buyer.claim() == r2 * 10 // 100
    holders = {h.account: h for h in a.shareholders()}
    assert holders[buyer.account].balance == 10 * SHARE and holders[buyer.account].votes == 0  # not delegated
    assert holders[a.account].votes == 40 * SHARE  # voting power follows the shares
    c.transfer_shares(buyer.account, 20 * SHARE)  # C sells out: still listed while it has revenue to claim
    holders = {h.account: h for h in a.shareholders()}
    assert (holders[c.account].balance, holders[c.account].claimable) == (0, r1 * 20 // 100 + r2 * 20 // 100)
    assert c.claim() == r1 * 20 // 100 + r2 * 20 // 100 and c.account not in {h.account for h in a.shareholders()}


def _pass(dao, proposal, voters=None):
    """Vote for with `voters` (default A and B), let voting end, queue, wait out the timelock delay."""
    w = dao.world
    w.mine(VOTING_DELAY + 1)
    for x in voters or dao.members[:2]:
        x.vote(proposal.proposal_id, "for", "looks right")
    w.mine(VOTING_PERIOD + 1)
    return dao.members[2].queue(proposal.proposal_id)


def test_governance_lifecycle_sets_the_price_with_notice(dao):
    w, (a, b, c), mid = dao.world, dao.members, dao.model_id
    action = a.action_set_price(mid, 2_000 * 10**9)
    assert action.description == f"set price of model {mid} to 2000 gwei" and action.target == a.address
    p = c.propose([action])  # a 20 % holder may propose (threshold 0)
    assert p.description == action.description and p.state == "Pending" and p.proposer == c.account
    assert p.vote_start == w.now() + VOTING_DELAY and p.vote_end == p.vote_start + VOTING_PERIOD
    targets, values, calldatas = [action.target], [0], [action.calldata]
    assert a.governor.call("hashProposal", targets, values, calldatas, p.description_hash) == p.proposal_id
    with pytest.raises(ContractStateError) as exc:  # too early to vote
        a.vote(p.proposal_id, "for")
    assert exc.value.error == "GovernorUnexpectedProposalState" and "Pending" in str(exc.value)
    w.mine(VOTING_DELAY + 1)
    assert a.state(p.proposal_id) == "Active"
    a.vote(p.proposal_id, "for")
    b.vote(p.proposal_id, "against", "too expensive")
    c.vote(p.proposal_id, "abstain")
    with pytest.raises(ContractStateError, match="GovernorAlreadyCastVote"):
        a.vote(p.proposal_id, "for")
    p = a.proposal(p.proposal_id)
    assert (p.for_votes, p.against_votes, p.abstain_votes) == (50 * SHARE, 30 * SHARE, 20 * SHARE)
    with pytest.raises(ContractStateError, match="GovernorUnexpectedProposalState"):  # still voting
        a.queue(p.proposal_id)
    w.mine(VOTING_PERIOD + 1)
    assert a.state(p.proposal_id) == "Succeeded"
    q = b.queue(p.proposal_id)  # anyone may queue
    assert q.state == "Queued" and q.eta == w.now() + DELAY
    with pytest.raises(ContractStateError, match="TimelockUnexpectedOperationState"):
        a.execute(p.proposal_id)
    w.mine(DELAY)
    tx = a.execute(p.proposal_id)
    ev = tx.event("PriceChangeScheduled").args
    assert ev == {"modelId": mid, "oldPrice": PRICE, "newPrice": 2_000 * 10**9, "effectiveAt": w.now() + NOTICE}
    assert a.state(p.proposal_id) == "Executed"
    assert a.get_model(mid).price_per_query == PRICE and a.pending_price(mid).value == 2_000 * 10**9
    w.mine(NOTICE)
    assert a.get_model(mid).price_per_query == 2_000 * 10**9
    assert [x.state for x in a.proposals()] == ["Executed"]
    with pytest.raises(ContractPermissionError) as exc:  # nobody owns the model directly
        w.owner.set_price(mid, 1)
    assert exc.value.error == "ModelNotOwner" and exc.value.values["owner"] == dao.community.timelock


def test_defeated_without_quorum_and_by_majority(dao):
    w, (a, b, c), mid = dao.world, dao.members, dao.model_id
    few = c.propose([c.action_set_active(mid, False)], "deactivate, small turnout")
    many = c.propose([c.action_set_active(mid, False)], "deactivate, voted down")
    w.mine(VOTING_DELAY + 1)
    # quorum 10 % of 100 shares: nobody votes on `few`; A (50) against B and C (50) on `many` — a tie fails
    a.vote(many.proposal_id, "against")
    b.vote(many.proposal_id, "for")
    c.vote(many.proposal_id, "for")
    w.mine(VOTING_PERIOD + 1)
    assert a.state(few.proposal_id) == "Defeated" and a.state(many.proposal_id) == "Defeated"
    with pytest.raises(ContractStateError) as exc:
        a.queue(many.proposal_id)
    assert "Defeated" in str(exc.value) and "Succeeded" in str(exc.value)
    assert a.get_model(mid).active


def test_proposal_threshold_counts_votes_not_shares(world, factory_address, dev_keys, oml_artifacts):
    d = make_dao(world, factory_address, dev_keys, oml_artifacts, delegate_all=False, proposal_threshold=30 * SHARE)
    a, b, c = d.members
    world.mine(1)  # the threshold is read at now − 1
    with pytest.raises(ContractPermissionError) as exc:
        b.propose([b.action_set_active(d.model_id, False)])  # 30 shares, but not delegated: 0 votes
    assert exc.value.error == "GovernorInsufficientProposerVotes"
    assert exc.value.values == {"proposer": b.account, "votes": 0, "threshold": 30 * SHARE}
    b.delegate()
    world.mine(1)
    assert b.propose([b.action_set_active(d.model_id, False)]).state == "Pending"


def test_several_actions_in_one_proposal(dao, world):
    w, (a, b, c), mid = dao.world, dao.members, dao.model_id
    new_signer = w.host2.account
    actions = [a.action_set_stake_terms(mid, slash_bps=2_500), a.action_set_permission_signer(mid, new_signer),
               a.action_set_metadata_uri(mid, "ipfs://card-v2"), a.action_set_active(mid, False)]
    assert actions[0].description == (f"set stake terms of model {mid} to min stake 1 ETH, slash 25%, prover share "
                                      "20%, unbonding 1d")
    p = a.propose(actions)
    assert p.description.splitlines() == [x.description for x in actions]
    _pass(dao, p)
    w.mine(DELAY)
    tx = c.execute(p.proposal_id)
    assert {e.name for e in tx.events} >= {"StakeTermsChangeScheduled", "PermissionSignerUpdated",
                                            "MetadataURIUpdated", "ModelActiveSet", "ProposalExecuted"}
    m = a.get_model(mid)
    assert (m.permission_signer, m.metadata_uri, m.active) == (new_signer, "ipfs://card-v2", False)
    assert a.pending_stake_terms(mid).value.slash_bps == 2_500
    with pytest.raises(ConfigError, match="at least one stake term"):
        a.action_set_stake_terms(mid)
    with pytest.raises(ConfigError, match="at least one action"):
        a.propose([])


def test_version_upgrade_by_vote_is_owned_by_the_timelock_and_pays_the_vault(dao):
    w, (a, b, c), mid = dao.world, dao.members, dao.model_id
    act = a.action_register_version(mid, b"\x22" * 32, w.tree.root, len(w.fingerprints), "ipfs://v2")
    assert act.description.startswith(f"register a new version of model {mid}: weights 0x" + "22" * 32)
    assert dao.community.vault in act.description
    p = a.propose([act])
    _pass(dao, p)
    w.mine(DELAY)
    new_id = int(a.execute(p.proposal_id).event("ModelRegistered").args["modelId"])
    m, old = a.get_model(new_id), a.get_model(mid)
    assert (m.owner, m.revenue_recipient, m.weights_hash, m.metadata_uri) == (
        dao.community.timelock, dao.community.vault, b"\x22" * 32, "ipfs://v2")
    assert (m.price_per_query, m.notice_period, m.permission_signer) == (old.price_per_query, old.notice_period,
                                                                         old.permission_signer)
    assert a.community_of(new_id).exists is False and a.find(new_id) == dao.community  # found by its owner
    r = earn_fees(w, new_id, 10)
    assert a.pull(new_id) == r  # the vault serves the new version too
    assert b.claimable() == r * 30 // 100


def test_convert_a_single_owner_model(world, factory_address, dev_keys, oml_artifacts):
    w, mid = world, world.model_id  # owned by dev key 0, revenue to world.recipient
    abis = community_abis(oml_artifacts)
    owner = community_client(w, factory_address, dev_keys[0], abis)
    stranger = community_client(w, factory_address, dev_keys[7], abis)
    earned = earn_fees(w, mid, 40)  # revenue already in OML goes to the vault at the next pull
    params = dao_params([owner.account, stranger.account], [60 * SHARE, 40 * SHARE])
    with pytest.raises(ContractPermissionError) as exc:
        stranger.factory.transact("reserveConversion", mid)
    assert exc.value.error == "FactoryNotModelOwner" and exc.value.values["owner"] == owner.account
    with pytest.raises(ContractStateError, match="FactoryNotReserved"):
        owner.factory.transact("convertModel", mid, params.to_abi())
    owner.factory.transact("reserveConversion", mid)
    with pytest.raises(ContractStateError, match="FactoryNotOwnerYet"):
        owner.factory.transact("convertModel", mid, params.to_abi())
    with pytest.raises(ContractStateError, match="FactoryNotReserved"):  # the reservation is the owner's alone
        stranger.factory.transact("convertModel", mid, params.to_abi())
    c = owner.convert(mid, params)  # reserve (again), transfer, convert
    m = owner.get_model(mid)
    assert c.model_id == mid and (m.owner, m.revenue_recipient) == (c.timelock, c.vault)
    assert owner.community_of(mid) == c and owner.votes(owner.account) == 60 * SHARE
    with pytest.raises(ContractPermissionError, match="ModelNotOwner"):
        w.owner.set_price(mid, 1)  # the old owner keeps no power
    with pytest.raises(ContractPermissionError, match="ModelNotOwner"):
        w.owner.transfer_model_ownership(mid, w.owner.account)
    with pytest.raises(ContractPermissionError, match="RevenueNotRecipient"):
        w.recipient.withdraw_revenue(mid)
    assert stranger.bind(c).pull() == earned
    assert stranger.claimable() == earned * 40 // 100


def test_convert_counts_an_announced_longer_unbonding_delay(world, factory_address, dev_keys, oml_artifacts):
    """The landed factory checks the timelock delay against the larger of the unbonding delay in force and one
    announced (pendingStakeTerms), which the spec does not say: it would be in force while the community governs."""
    from oml_chain.chain.types import StakeTerms

    w, mid = world, world.model_id
    w.owner.set_stake_terms(mid, StakeTerms(w.params.min_host_stake, w.params.slash_bps, w.params.prover_share_bps,
                                            2 * DELAY))
    owner = community_client(w, factory_address, dev_keys[0], community_abis(oml_artifacts))
    with pytest.raises(ContractValueError) as exc:
        owner.convert(mid, dao_params([owner.account], [SHARE]))  # timelock delay 1 day
    assert exc.value.error == "FactoryDelayBelowUnbonding"
    assert exc.value.values == {"delay": DELAY, "unbondingDelay": 2 * DELAY}
    c = owner.convert(mid, dao_params([owner.account], [SHARE], timelock_delay=2 * DELAY))  # resumes at step 3
    assert owner.timelock.call("getMinDelay") == 2 * DELAY and owner.get_model(mid).owner == c.timelock


def test_convert_from_scratch_in_three_transactions(world, factory_address, dev_keys, oml_artifacts):
    owner = community_client(world, factory_address, dev_keys[0], community_abis(oml_artifacts))
    c = owner.convert(world.model_id, dao_params([owner.account], [SHARE]))
    assert owner.get_model(world.model_id).owner == c.timelock
    assert owner.factory.call("communityOf", world.model_id)[0] == world.model_id


@pytest.mark.parametrize("over, error, cls", [
    (dict(holders=("A", "A"), amounts=(SHARE, SHARE)), "SharesDuplicateContributor", ContractValueError),
    (dict(amounts=(SHARE, 0)), "SharesZeroAmount", ContractValueError),
    (dict(quorum_percent=101), "GovernorInvalidQuorumFraction", ContractValueError),
    (dict(timelock_delay=DELAY - 1), "FactoryDelayBelowUnbonding", ContractValueError),
    (dict(holders=(), amounts=()), "SharesNoContributors", ContractValueError),
    (dict(amounts=(SHARE,)), "SharesLengthMismatch", ContractValueError),
], ids=["duplicate", "zero-amount", "quorum-101", "delay-below-unbonding", "no-holders", "length"])
def test_bad_community_params_revert_by_name(world, factory_address, dev_keys, oml_artifacts, over, error, cls):
    abis = community_abis(oml_artifacts)
    a = community_client(world, factory_address, dev_keys[0], abis)
    holders = [a.account, world.host.account]
    if over.get("holders") == ("A", "A"):
        over = {**over, "holders": (a.account, a.account)}
    params = dao_params(**{"holders": holders, "amounts": (SHARE, SHARE), **over})
    before = a.model_count()
    with pytest.raises(cls) as exc:
        a.create(world.make_params(), params)
    assert exc.value.error == error, exc.value
    if error == "FactoryDelayBelowUnbonding":
        assert exc.value.values == {"delay": DELAY - 1, "unbondingDelay": DELAY}
    assert a.model_count() == before and "\n" not in str(exc.value)


def test_vault_and_shares_guard_themselves(dao):
    w, (a, b, c), mid = dao.world, dao.members, dao.model_id
    with pytest.raises(ContractPermissionError, match="VaultNotShares"):
        a.vault.transact("checkpoint", a.account, b.account)
    with pytest.raises(ContractPermissionError, match="VaultNotBinder"):
        a.vault.transact("bindShares", a.account)
    with pytest.raises(ContractStateError, match="VaultNotRecipient"):
        a.pull(w.model_id)  # the world's single-owner model pays someone else
    with pytest.raises(ContractValueError, match="ERC20InsufficientBalance"):
        c.transfer_shares(a.account, 21 * SHARE)
    with pytest.raises(ConfigError, match="not community-owned"):
        a.open(w.model_id)
    with pytest.raises(ConfigError, match="no community governor knows proposal 12345"):
        a.open_for_proposal(12345)


def test_deploy_records_the_factory_beside_oml(w3, dev_keys, oml_artifacts, tmp_path, chain_snapshot):
    import json

    from oml_chain.chain.client import OMLContract
    from oml_chain.chain.dao import DEPLOYERS, FACTORY
    from oml_chain.chain.deploy import deploy_oml, load_deployment, record_contract, write_deployment
    from oml_chain.chain.errors import DeploymentNotFound

    path = tmp_path / "deployments.json"
    oml = deploy_oml(w3, dev_keys[9], deployments=path)
    entry = json.loads(path.read_text())[str(w3.eth.chain_id)]
    assert set(entry) == {"OML", "block", FACTORY} and entry["OML"] == oml  # old readers keep working
    factory = load_deployment(w3.eth.chain_id, path, name=FACTORY)
    f = OMLContract(w3, factory, dev_keys[9], abi=oml_artifacts[FACTORY].abi)
    assert f.call("oml") == oml
    # the four deployers serve this factory alone, named once by their creator
    from eth_utils import event_abi_to_log_topic

    abi = oml_artifacts["SharesDeployer"].abi
    topic = event_abi_to_log_topic(next(e for e in abi
                                        if e.get("type") == "event" and e["name"] == "DeployerFactorySet"))
    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest",
                            "topics": [topic, "0x" + "00" * 12 + factory[2:].lower()]})
    assert len(logs) == len(DEPLOYERS)
    for log in logs:
        d = OMLContract(w3, log["address"], dev_keys[9], abi=abi)
        assert d.call("factory") == factory
        with pytest.raises(ContractStateError, match="DeployerFactoryAlreadySet"):
            d.transact("setFactory", d.account)
        with pytest.raises(ContractPermissionError, match="DeployerNotCreator"):
            OMLContract(w3, log["address"], dev_keys[0], abi=abi).transact("setFactory", d.account)
    with pytest.raises(ContractPermissionError, match="DeployerNotFactory"):
        OMLContract(w3, logs[0]["address"], dev_keys[9], abi=abi).transact(
            "deploy", "x", "X", oml, [d.account], [1])
    # a deployment made before community ownership: a clear hint, then `oml dao deploy-factory` fills it in
    write_deployment(path, w3.eth.chain_id, oml, entry["block"])
    with pytest.raises(DeploymentNotFound, match="oml dao deploy-factory"):
        load_deployment(w3.eth.chain_id, path, name=FACTORY)
    record_contract(path, w3.eth.chain_id, FACTORY, factory)
    assert load_deployment(w3.eth.chain_id, path, name=FACTORY) == factory
