"""Error mapping: every custom error of the compiled ABI has a Python exception; RPC outages are explained."""

from __future__ import annotations

import re

import pytest
from eth_abi import encode
from eth_utils import keccak
from web3 import Web3

from oml_chain.chain.anvil import free_port
from oml_chain.chain.client import OMLContract
from oml_chain.chain.errors import (ERROR_TABLE, ContractError, ContractValueError, OMLError, RevertDecoder,
                              RPCUnavailable, UnknownContractError)

pytestmark = pytest.mark.chain


def test_every_abi_error_is_mapped(oml_artifacts):
    decoder = RevertDecoder(oml_artifacts["OML"].abi, ERROR_TABLE)
    missing = decoder.names() - set(ERROR_TABLE)
    assert not missing, f"add these Solidity errors to ERROR_TABLE: {sorted(missing)}"
    for name, (cls, hint) in ERROR_TABLE.items():
        assert issubclass(cls, ContractError) and issubclass(cls, OMLError) and hint
        assert any(issubclass(cls, b) for b in (ValueError, PermissionError, LookupError, RuntimeError,
                                                ConnectionError))


COMMUNITY = ["ModelShares", "RevenueVault", "ModelGovernor", "TimelockController", "CommunityFactory", "SharesDeployer",
             "VaultDeployer", "TimelockDeployer", "GovernorDeployer"]


@pytest.mark.parametrize("name", COMMUNITY)
def test_every_community_abi_error_is_mapped(oml_artifacts, name):
    """contracts/community/ and the OpenZeppelin contracts it deploys (the timelock) surface named errors too."""
    decoder = RevertDecoder(oml_artifacts[name].abi, ERROR_TABLE)
    missing = decoder.names() - set(ERROR_TABLE)
    assert not missing, f"add these Solidity errors of {name} to ERROR_TABLE: {sorted(missing)}"
    for error in decoder.names():  # every `{field}` of the hint is a field of the error
        fields = next([i["name"] for i in item["inputs"]] for item in oml_artifacts[name].abi
                      if item.get("type") == "error" and item["name"] == error)
        assert set(re.findall(r"{(\w+)}", ERROR_TABLE[error][1])) <= set(fields), (error, fields)


def test_decoder_decodes_values_and_unknowns(oml_artifacts):
    d = RevertDecoder(oml_artifacts["OML"].abi, ERROR_TABLE)
    data = keccak(text="StakeBelowMinimum(uint256,uint256)")[:4] + encode(["uint256", "uint256"], [5, 10])
    err = d.decode("0x" + data.hex())
    assert isinstance(err, ContractValueError) and isinstance(err, ValueError)
    assert err.values == {"amount": 5, "minimum": 10}
    assert "5 wei" in str(err) and "10 wei" in str(err) and "send more" in str(err)
    assert isinstance(d.decode(b"\xde\xad\xbe\xef"), UnknownContractError)
    panic = d.decode(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11]))
    assert panic.error == "Panic" and panic.values == {"code": 0x11}
    assert d.decode(b"") is None


def test_rpc_down_raises_rpc_unavailable(oml_address):
    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}", request_kwargs={"timeout": 2}))
    c = OMLContract(w3, oml_address, abi=[])
    with pytest.raises(RPCUnavailable, match="oml chain up") as exc:
        c.balance(oml_address)
    assert isinstance(exc.value, ConnectionError) and isinstance(exc.value, OMLError)
