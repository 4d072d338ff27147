"""Two responses per key against evading hosts, end to end: real anvil, real host servers, the prover.

A rogue host that swaps the top token for the runner-up (the τ-swap host of fingerprinting/evade.py) answers a
key with its other response; the prover recognises it, proves that record's leaf on chain and the host is
slashed. The adaptive host that swaps in the third token dodges both responses: probed, not slashed.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.services

ETH = 10**18
STAKE = 2 * ETH


@pytest.fixture(scope="module")
def pairs_world(tmp_path_factory, w3, anvil_node, dev_keys, oml_artifacts, tiny_base_dir):
    from oml_chain.chain.anvil import free_port
    from oml_chain.chain.deploy import deploy_contract, write_deployment
    from oml_chain.chain.eip712 import Signer
    from oml_chain.chain.registration import RegistrationOptions, register_model
    from oml_chain.chain.roles import HostClient, OwnerClient
    from oml_chain.demo.model_prep import PrepConfig, prepare_model
    from oml_chain.demo.procs import ProcessGroup, ServiceProcess

    fm = prepare_model(PrepConfig(preset="tiny", n=6, responses_per_key=2), progress=False, say=lambda msg: None)
    out = tmp_path_factory.mktemp("prover-pairs")
    oml, block = deploy_contract(w3, dev_keys[8], oml_artifacts["OML"])
    deps = out / "deployments.json"
    write_deployment(deps, w3.eth.chain_id, oml, block)
    owner = OwnerClient(w3, oml, dev_keys[0])
    reg = register_model(owner, fm.model_dir, fm.fingerprint_file,
                         RegistrationOptions(price_per_query=10**12, permission_signer=Signer(dev_keys[1]).address,
                                             min_host_stake=ETH, slash_bps=5_000, prover_share_bps=2_000),
                         out=out / "reg.json")
    chain = ["--rpc-url", anvil_node.url, "--deployments", str(deps)]
    procs = ProcessGroup()
    try:
        hosts = {}
        for label, key, rank in (("evading", dev_keys[2], 2), ("adaptive", dev_keys[3], 3)):
            port = free_port()
            hc = HostClient(w3, oml, key, attestation_key="0x" + bytes([21 + rank] * 32).hex())
            hc.stake(reg.model_id, STAKE, f"http://127.0.0.1:{port}")
            args = ["host", "serve", *chain, "--model-id", str(reg.model_id), "--model-dir", str(fm.model_dir),
                    "--port", str(port), "--state-db", str(out / f"{label}.db"), "--no-permission",
                    "--evade-tau", "0.05", "--evade-rank", str(rank)]
            env = {"OML_PRIVATE_KEY": key, "OML_ATTESTATION_KEY": "0x" + hc.attestation_signer.private_key.hex()}
            hosts[label] = (hc, procs.start(ServiceProcess(label, args, out / f"{label}.log", env=env)), port)
        for hc, svc, port in hosts.values():
            svc.wait_http(f"http://127.0.0.1:{port}/v1/models", 180)
        yield dict(w3=w3, oml=oml, model_id=reg.model_id, hosts=hosts, fm=fm, out=out, url=anvil_node.url,
                   keys=dev_keys)
    finally:
        procs.close()


def _runner_up_answers(fm) -> list[int]:
    """For each key (in file order): the position in its group of the record the runner-up swap emits."""
    from fingerprinting.evade import evading_generate
    from fingerprinting.fpfile import key_groups, matching_record, read_fingerprint_file
    from fingerprinting.generation import decode, encode_prompts
    from fingerprinting.models import load_model

    model, tok = load_model(fm.model_dir, device="cpu")
    _, fps = read_fingerprint_file(fm.fingerprint_file)
    groups = key_groups(fps)
    new = evading_generate(model, tok, encode_prompts(tok, [fps[g[0]].key for g in groups]), 2, tau=0.05)
    return [g.index(matching_record(decode(tok, ids), fps, g)) for g, ids in zip(groups, new)]


def test_runner_up_swapping_host_is_slashed_with_the_other_response_and_rank_3_is_not(pairs_world):
    from oml_chain.services.prover import Prover, ProverConfig
    from oml_chain.services.prover.store import ProverStore

    pw = pairs_world
    mid = pw["model_id"]
    evading, adaptive = pw["hosts"]["evading"][0], pw["hosts"]["adaptive"][0]
    # A key whose runner-up is its *second* record: the prover sends the key as its first record, and a
    # one-response prover would see no fingerprint in the answer. Every other key is spent for the evading host.
    emitted = _runner_up_answers(pw["fm"])
    assert 1 in emitted, emitted
    chosen = emitted.index(1)
    store = ProverStore(pw["out"] / "p.db")
    for k in range(len(emitted)):
        if k != chosen:
            for idx in (2 * k, 2 * k + 1):
                store.mark_used(mid, idx, evading.account)
    store.close()
    prover = Prover(ProverConfig(rpc_url=pw["url"], oml_address=pw["oml"], prover_key=pw["keys"][4],
                                 fingerprint_files=[str(pw["fm"].fingerprint_file)], db_path=str(pw["out"] / "p.db"),
                                 model_ids=[mid], keys_per_round=3))
    try:
        fps = prover.refresh_models()[mid]
        assert fps.count == 12 and len(fps.key_groups) == 6 and all(len(g) == 2 for g in fps.key_groups)
        # Probes go out one per key (its first record), never twice the same key.
        assert sorted(fp.index for fp in prover.fresh_keys(mid, adaptive.account, 6)) == [0, 2, 4, 6, 8, 10]
        assert [fp.index for fp in prover.fresh_keys(mid, evading.account, 6)] == [2 * chosen]
        report = prover.run_round()
    finally:
        prover.close()
    by_host: dict[str, list] = {}
    for r in report.results:
        by_host.setdefault(r.host, []).append(r)
    (slash,) = report.slashes
    assert slash.host == evading.account and [r.outcome for r in by_host[evading.account]] == ["slashed"]
    assert slash.fp_index == by_host[evading.account][0].fp_index == 2 * chosen + 1  # the second record's leaf
    assert evading.get_stake(mid, evading.account).amount == STAKE // 2
    assert prover.client.is_burned(mid, evading.account, 2 * chosen + 1)
    assert not prover.client.is_burned(mid, evading.account, 2 * chosen)
    # The adaptive host dodged every key it was sent: not fired, its stake whole.
    assert by_host[adaptive.account] and {r.outcome for r in by_host[adaptive.account]} == {"not_fired"}
    assert " or " in by_host[adaptive.account][0].detail  # both responses named
    assert adaptive.get_stake(mid, adaptive.account).amount == STAKE
    store = ProverStore(pw["out"] / "p.db")
    try:  # both records of every key sent are spent for that host
        for r in by_host[adaptive.account]:
            assert {r.fp_index, r.fp_index + 1} <= store.used_indices(mid, adaptive.account)
    finally:
        store.close()
