"""Field checks shared by the service configs (permission, prover, host, distribution).

Each check takes the config's class name (`owner`) and the field name, so the `ConfigError` names the field
that is wrong, e.g. "ProverConfig.prover_key must be a hex private key (64 hex digits, 0x optional)".
"""

from __future__ import annotations

import re
from typing import Any

from eth_utils import is_address, to_checksum_address

from ..chain.errors import ConfigError

_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_HTTP = ("http://", "https://")
_WS = ("ws://", "wss://")


def check_private_key(owner: str, name: str, value: Any) -> str:
    """`value` if it is 64 hex digits (0x optional)."""
    if not isinstance(value, str) or not _KEY_RE.match(value):
        raise ConfigError(f"{owner}.{name} must be a hex private key (64 hex digits, 0x optional)")
    return value


def check_rpc_url(owner: str, value: Any, *, websocket: bool = False) -> str:
    """`value` if it is an http(s):// URL (or ws(s):// too when `websocket`)."""
    schemes, kinds = (_HTTP + _WS, "http(s):// or ws(s)://") if websocket else (_HTTP, "http(s)://")
    if not isinstance(value, str) or not value.startswith(schemes):
        raise ConfigError(f"{owner}.rpc_url must be an {kinds} URL, got {value!r}")
    return value


def check_address(owner: str, name: str, value: Any) -> str:
    """`value` as a checksummed 0x-address."""
    if not isinstance(value, str) or not is_address(value):
        raise ConfigError(f"{owner}.{name} must be a 0x-address, got {value!r}")
    return to_checksum_address(value)


def check_port(owner: str, value: Any) -> int:
    """`value` if it is a TCP port number (0 lets the OS choose)."""
    if not isinstance(value, int) or not 0 <= value < 65536:
        raise ConfigError(f"{owner}.port must be in 0..65535, got {value!r}")
    return value


def check_seconds(owner: str, name: str, value: Any, *, allow_zero: bool = True) -> float:
    """`value` if it is a number of seconds ≥ 0 (> 0 when not `allow_zero`)."""
    if allow_zero:
        if not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{owner}.{name} must be a number of seconds ≥ 0, got {value!r}")
    elif not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{owner}.{name} must be a positive number of seconds, got {value!r}")
    return value


def check_positive_int(owner: str, name: str, value: Any) -> int:
    """`value` if it is an integer ≥ 1."""
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{owner}.{name} must be a positive integer, got {value!r}")
    return value
