"""Options shared by every chain/service command of the `oml` CLI, and the error boundary.

`--rpc-url` (env OML_RPC_URL), `--deployments`, `--key` (env OML_PRIVATE_KEY;
never echoed), `--model-id`, `--debug`. `oml_command` wraps a command so that
every error ends the process with exit status 1 and one line on stderr (the
traceback only with --debug or OML_DEBUG=1): OMLError / FingerprintError with
their own message, a node's refusal (web3 RPC error) with what to do, anything
else as an unexpected error. Click's own usage errors (a missing or malformed
option) keep click's usage format and exit status 2.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click

from ..chain.errors import ConfigError, OMLError, RPCUnavailable

DEFAULT_RPC = "http://127.0.0.1:8545"
DEFAULT_DEPLOYMENTS = "deployments.json"
STATE_DIR = Path(".oml")


def _fp_error():
    try:
        from fingerprinting.errors import FingerprintError
        return FingerprintError
    except ImportError:  # pragma: no cover - fingerprinting is part of the project
        return OMLError


def rpc_option(f):
    return click.option("--rpc-url", envvar="OML_RPC_URL", default=DEFAULT_RPC, show_default=True,
                        help="JSON-RPC URL of the chain (env OML_RPC_URL).")(f)


def deployments_option(f):
    return click.option("--deployments", type=click.Path(path_type=Path), default=DEFAULT_DEPLOYMENTS,
                        show_default=True, help="Deployments JSON written by `oml deploy` / `ape run deploy`.")(f)


def key_option(required: bool = True, help: str = "Hex private key that signs (env OML_PRIVATE_KEY)."):
    def deco(f):
        return click.option("--key", envvar="OML_PRIVATE_KEY", required=required, show_envvar=False,
                            show_default=False, help=help)(f)
    return deco


def model_option(required: bool = True):
    def deco(f):
        return click.option("--model-id", type=click.IntRange(min=1), required=required,
                            help="On-chain model id (from `oml model register` or `oml status`).")(f)
    return deco


def debug_option(f):
    return click.option("--debug", is_flag=True, envvar="OML_DEBUG", help="Show tracebacks on errors.")(f)


def chain_options(key: bool | None = True, model: bool | None = None):
    """--rpc-url, --deployments and, when asked, --key (required if key is True) and --model-id."""
    def deco(f):
        if model is not None:
            f = model_option(model)(f)
        if key is not None:
            f = key_option(required=key)(f)
        return rpc_option(deployments_option(f))
    return deco


class OneLineError(click.ClickException):
    """A ClickException (exit status 1) whose message is printed on one line, whatever it holds."""

    def format_message(self) -> str:
        return " ".join(str(self.message).split())


def _rpc_message(exc: Exception) -> str:
    """The node's own words from a web3 RPC error."""
    resp = getattr(exc, "rpc_response", None)
    err = resp.get("error") if isinstance(resp, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])
    return str(getattr(exc, "message", None) or exc)


def _signing_address(key: Any) -> str:
    try:
        from eth_account import Account

        return Account.from_key(normalize_key(key)).address
    except Exception:  # noqa: BLE001 - only for the message
        return "the --key account"


def explain_error(exc: BaseException, key: Any = None) -> str:
    """One line saying what failed and what to do, for any exception a command lets out."""
    from web3.exceptions import Web3Exception, Web3RPCError

    if isinstance(exc, (OMLError, _fp_error())):
        return f"{exc.__class__.__name__}: {exc}"
    if isinstance(exc, Web3RPCError):
        msg = _rpc_message(exc)
        if "insufficient funds" in msg.lower():
            who = _signing_address(key) if key else "the sending account"
            return (f"InsufficientFunds: {who} cannot pay for this transaction ({msg}); send it ETH for the "
                    "amount plus gas, lower the amount, or use a funded key (--key / OML_PRIVATE_KEY)")
        return f"NodeRejected: the node refused the request: {msg}; check the arguments and the account's balance"
    if isinstance(exc, Web3Exception):
        return f"Web3Error: {exc}; check the RPC URL (--rpc-url) and the arguments"
    return (f"unexpected error {exc.__class__.__name__}: {exc}; rerun with --debug for the traceback and report "
            "it if the arguments look right")


def oml_command(f: Callable) -> Callable:
    """Add --debug and turn every error into one clean line and exit status 1 (see the module docstring)."""
    @debug_option
    @functools.wraps(f)
    def wrapper(*args, debug: bool = False, **kwargs):
        try:
            return f(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if debug:
                raise
            raise OneLineError(explain_error(exc, kwargs.get("key"))) from exc
    return wrapper


@dataclass
class Chain:
    """A connected web3 and the OML address of this chain."""

    rpc_url: str
    w3: Any
    address: str
    chain_id: int


def connect(rpc_url: str, timeout: float = 10.0):
    """A Web3 that answers (RPCUnavailable naming the URL otherwise)."""
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id
    except Exception as exc:  # connection refused, DNS, timeout, not JSON-RPC
        raise RPCUnavailable(rpc_url, exc) from exc
    return w3


def open_chain(rpc_url: str, deployments: Path) -> Chain:
    from ..chain.deploy import load_deployment

    w3 = connect(rpc_url)
    chain_id = w3.eth.chain_id
    return Chain(rpc_url, w3, load_deployment(chain_id, deployments), chain_id)


def client(cls, chain: Chain, key: str | None, **kw):
    """A role client (OwnerClient, HostClient, …) for this chain and key."""
    if key is not None:
        key = normalize_key(key)
    return cls(chain.w3, chain.address, key, **kw)


def normalize_key(key: str, option: str = "--key") -> str:
    """`0x` + 64 hex digits of a usable secp256k1 private key, or ConfigError naming `option`."""
    from ..services.validation import is_valid_key_scalar

    k = key.strip()
    body = k[2:] if k.startswith("0x") else k
    if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise ConfigError(f"{option} must be a hex private key (64 hex digits, 0x optional); "
                          "set it with --key or OML_PRIVATE_KEY")
    if not is_valid_key_scalar(body):
        raise ConfigError(f"{option} is not a usable private key (zero, or not below the secp256k1 group order); "
                          "pass the 32-byte key of a real account")
    return "0x" + body


def normalize_address(value: str | None, option: str) -> str | None:
    """A checksummed address (None stays None), or ConfigError naming `option`."""
    if value is None:
        return None
    from eth_utils import is_address, to_checksum_address

    v = value.strip()
    if not is_address(v):
        raise ConfigError(f"{option} must be a 0x-address (40 hex digits), got {value!r}")
    return to_checksum_address(v)


def parse_eth(value: str, name: str) -> int:
    """'1.5eth', '2000gwei', '12345' (wei) → wei."""
    v = value.strip().lower().replace("_", "")
    try:
        from decimal import Decimal
        for unit, scale in (("ether", 10**18), ("eth", 10**18), ("gwei", 10**9), ("wei", 1)):
            if v.endswith(unit):
                amount = Decimal(v[: -len(unit)]) * scale
                break
        else:
            amount = Decimal(v)
    except Exception:
        raise ConfigError(f"{name} must be an amount such as 1eth, 0.5eth, 1000gwei or 12345 (wei), got {value!r}")
    if amount < 0 or amount != int(amount):
        raise ConfigError(f"{name} must be a whole, non-negative number of wei, got {value!r}")
    return int(amount)


def fmt_eth(wei: int) -> str:
    return f"{wei / 10**18:.6g} ETH"


def echo_json(obj: Any, path: Path | None = None) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, default=str)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    else:
        click.echo(text)


class Phase:
    """One progress line per step on stderr: `[  1.2s] message ... done`."""

    def __init__(self, quiet: bool = False):
        self.t0 = time.monotonic()
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            click.echo(f"[{time.monotonic() - self.t0:6.1f}s] {msg}", err=True)


def setup_logging(level: str) -> None:
    """Log lines with time, level and logger name at `level` (a service command's --log-level)."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
