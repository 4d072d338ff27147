"""`python -m oml_chain.services.permission`: run the permission service (keys come from the environment).

The signer key is read from the variable named by --signer-key-env (default OML_PERMISSION_SIGNER_KEY) so it
never shows in the process list; --tx-key-env names the key that pays settlement gas (default: the signer).
"""

from __future__ import annotations

import argparse
import os
import sys

from ...chain.errors import ConfigError
from .app import run
from .config import PermissionConfig


def config_from_args(argv: list[str] | None = None) -> PermissionConfig:
    p = argparse.ArgumentParser(prog="python -m oml_chain.services.permission", description=__doc__)
    p.add_argument("--rpc-url", required=True, help="chain JSON-RPC URL")
    p.add_argument("--oml", required=True, help="OML contract address")
    p.add_argument("--db", required=True, help="SQLite ledger path")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--settle-interval", type=float, default=60.0, help="seconds; 0 = settle only on shutdown")
    p.add_argument("--escrow-ttl", type=float, default=2.0)
    p.add_argument("--signer-key-env", default="OML_PERMISSION_SIGNER_KEY")
    p.add_argument("--tx-key-env", default="OML_SETTLE_TX_KEY")
    p.add_argument("--log-level", default="info")
    p.add_argument("--durability", choices=["crash", "power"], default="crash",
                   help="'crash': a killed service loses nothing (default); 'power': fsync before every answer")
    a = p.parse_args(argv)
    key = os.environ.get(a.signer_key_env)
    if not key:
        raise ConfigError(f"set the permission signer's private key in ${a.signer_key_env}")
    return PermissionConfig(rpc_url=a.rpc_url, oml_address=a.oml, signer_key=key, db_path=a.db,
                            settle_interval=a.settle_interval, escrow_ttl=a.escrow_ttl,
                            tx_key=os.environ.get(a.tx_key_env) or None, host=a.host, port=a.port,
                            log_level=a.log_level, durability=a.durability)


def main(argv: list[str] | None = None) -> int:
    try:
        config = config_from_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
