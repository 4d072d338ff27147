"""Shared pytest fixtures. Chain fixtures start a real anvil once per session (only when a test asks)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--device", default=None,
                     help="device for the ml tests' models: cpu, cuda (default: the library default, "
                          "cuda when visible, else cpu)")


# --- chain -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def anvil_node():
    """A real anvil on a free port, stopped at the end of the session."""
    from oml_chain.chain.anvil import start_anvil

    node = start_anvil()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def w3(anvil_node):
    from web3 import Web3

    return Web3(Web3.HTTPProvider(anvil_node.url, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="session")
def dev_keys():
    """anvil's ten funded dev keys (default mnemonic)."""
    from oml_chain.chain.anvil import DEV_KEYS

    return list(DEV_KEYS)


@pytest.fixture(scope="session")
def oml_artifacts():
    from oml_chain.chain.artifacts import compile_contracts

    return compile_contracts()


@pytest.fixture(scope="session")
def oml_address(w3, dev_keys, oml_artifacts):
    """OML deployed once per session by dev key 9; tests isolate themselves with `chain_snapshot`."""
    from oml_chain.chain.deploy import deploy_contract

    address, _ = deploy_contract(w3, dev_keys[9], oml_artifacts["OML"])
    return address


@pytest.fixture()
def chain_snapshot(w3):
    """Revert the chain (state and time) to where it was before the test."""
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    yield
    w3.provider.make_request("evm_revert", [snap])


@pytest.fixture()
def world(w3, oml_address, oml_artifacts, dev_keys, chain_snapshot):
    """Actors and one registered model on the session's OML, reverted after the test."""
    from chain_world import make_world

    return make_world(w3, oml_address, oml_artifacts["OML"].abi, dev_keys)


@pytest.fixture()
def staked(world):
    """`world` with host staked at the minimum and 1 ETH of fee escrow."""
    from chain_world import ETH, MIN_STAKE

    world.host.stake(world.model_id, MIN_STAKE, "https://host.example")
    world.host.deposit_escrow(world.model_id, ETH)
    return world


# --- fingerprinting: the project's own tiny base models ----------------------------------------------


@pytest.fixture(scope="session")
def device(request) -> str:
    """Where ml tests put models and batches: --device, else fingerprinting.models.device_default()."""
    chosen = request.config.getoption("--device")
    if chosen:
        return chosen
    from fingerprinting.models import device_default

    return device_default()


@pytest.fixture(scope="session")
def tiny_base_dir():
    """The `tiny` base model, seed 0 (built once, then reused from $OML_CACHE or ~/.cache/oml)."""
    from fingerprinting.base_models import build_base_model

    return build_base_model("tiny", seed=0, progress=False, device="cpu")  # CPU builds are bitwise reproducible


@pytest.fixture(scope="session")
def tiny_other_seed_dir():
    """An independently trained `tiny` model (seed 1, same tokenizer) for false-positive audits."""
    from fingerprinting.base_models import build_base_model

    return build_base_model("tiny", seed=1, progress=False, device="cpu")


@pytest.fixture(scope="session")
def fingerprinted_tiny(tiny_base_dir):
    """The `tiny` model with 16 perinucleus fingerprints embedded to 100 % (cached by config hash)."""
    from oml_chain.demo.model_prep import PrepConfig, prepare_model

    return prepare_model(PrepConfig(preset="tiny", n=16), progress=False, say=lambda msg: None)


@pytest.fixture(scope="session")
def fp16(tiny_base_dir, tmp_path_factory, device):
    """16 fingerprints of the default strategies for `tiny` (seed 0), generated once per session."""
    from fingerprinting.generate import GenerateConfig, generate_fingerprint_file

    path, _ = generate_fingerprint_file(tiny_base_dir, tmp_path_factory.mktemp("fp") / "fp16.jsonl",
                                        GenerateConfig(n=16, seed=0), device=device)
    return path


@pytest.fixture()
def free_url():
    """An http URL on loopback where nothing listens."""
    from oml_chain.chain.anvil import free_port

    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op torch thread for in-process models: on 2 cores shared with anvil, servers and
    subprocesses, two threads that fight other processes ran up to 50x slower (measured)."""
    try:
        import torch
    except ImportError:  # chain-only environments
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- community ownership (contracts/community/) -------------------------------------------------------------


@pytest.fixture(scope="session")
def factory_address(w3, dev_keys, oml_address):
    """The CommunityFactory (and its four deployers) for the session's OML, deployed once by dev key 9."""
    from oml_chain.chain.dao import deploy_community_factory

    return deploy_community_factory(w3, dev_keys[9], oml_address)
