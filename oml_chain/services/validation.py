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
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HTTP = ("http://", "https://")
_WS = ("ws://", "wss://")


def check_private_key(owner: str, name: str, value: Any) -> str:
    """`value` if it is 64 hex digits (0x optional) naming a valid secp256k1 key (1 ≤ key < n)."""
    if not isinstance(value, str) or not _KEY_RE.match(value):
        raise ConfigError(f"{owner}.{name} must be a hex private key (64 hex digits, 0x optional)")
    if not is_valid_key_scalar(value):
        raise ConfigError(f"{owner}.{name} is not a usable private key (it must be between 1 and the secp256k1 "
                          "group order − 1; an all-zero key is not a key)")
    return value


def is_valid_key_scalar(hex_key: str) -> bool:
    """True when the 64-hex-digit key is in [1, n − 1] (secp256k1), the keys that can sign."""
    return 0 < int(hex_key.removeprefix("0x"), 16) < SECP256K1_N


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


def check_port_free(owner: str, host: str, port: int) -> None:
    """ConfigError when `host:port` cannot be bound (in use, or not an interface of this machine), so a server
    refuses to start with one clear line instead of failing inside uvicorn after loading everything."""
    import errno
    import socket

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"{owner}: cannot listen on {host!r} ({exc.strerror}); pass an address of this machine "
                          "such as 127.0.0.1 or 0.0.0.0") from None
    family, socktype, proto, _, addr = infos[0]
    with socket.socket(family, socktype, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"{owner}: port {port} on {host} is in use; stop what listens there or pick "
                                  "another port (--port)") from None
            raise ConfigError(f"{owner}: cannot listen on {host}:{port} ({exc.strerror}); pass an address of this "
                              "machine (--host), such as 127.0.0.1 or 0.0.0.0") from None
