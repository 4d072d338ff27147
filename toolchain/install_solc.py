"""Register the project's pinned Solidity compiler with py-solc-x (and so with
ape-solidity) and write ``toolchain/bin/solc`` for forge.

Order of preference:
1. a native solc of the pinned version already known to py-solc-x;
2. the native binary downloaded by py-solc-x (where the machine can reach its
   download site);
3. an executable adapter over the npm ``solc`` package (the official compiler
   built to WebAssembly: same bytecode for the same version and settings).

Idempotent: running it again checks the registered compiler and rewrites the
adapter only when it points somewhere else.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import solcx

ROOT = Path(__file__).resolve().parent.parent
ADAPTER_JS = ROOT / "toolchain" / "solc-npm.js"
FORGE_SOLC = ROOT / "toolchain" / "bin" / "solc"


def pinned_version() -> str:
    pkg = json.loads((ROOT / "package.json").read_text())
    return pkg["devDependencies"]["solc"]


def _answers_version(path: Path, version: str) -> bool:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return f"Version: {version}+" in out


def _adapter_script() -> str:
    return f'#!/bin/sh\n# OML: solc {pinned_version()} via the npm package (see toolchain/install_solc.py)\nexec node "{ADAPTER_JS}" "$@"\n'


def _write_exe(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(errors="replace") != text:
        path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def main() -> int:
    version = pinned_version()
    folder = solcx.get_solcx_install_folder()
    target = folder / f"solc-v{version}"
    # A native binary is megabytes; our adapter is a short shell script.
    is_adapter = target.exists() and target.stat().st_size < 4096 and "npm package" in target.read_text(errors="replace")

    if target.exists() and not is_adapter and _answers_version(target, version):
        how = "native (already installed)"
    elif is_adapter and _answers_version(target, version):
        # Another checkout registered its adapter and it still works: the same compiler version from
        # the same npm package, so keep it rather than re-pointing every checkout at this one.
        how = "npm adapter (already registered)"
    else:
        how = ""
        if os.environ.get("OML_SOLC_NO_DOWNLOAD") != "1" and not is_adapter:
            try:
                solcx.install_solc(version, show_progress=False)
                if _answers_version(target, version):
                    how = "native (downloaded by py-solc-x)"
            except Exception as exc:  # no download site reachable: fall back to npm
                print(f"solc: native download unavailable ({type(exc).__name__}); using the npm compiler")
        if not how:
            _write_exe(target, _adapter_script())
            if not _answers_version(target, version):
                print(f"solc: the adapter at {target} does not answer --version; run `npm ci` first", file=sys.stderr)
                return 1
            how = "npm adapter"
    # forge reads toolchain/bin/solc (foundry.toml); point it at the same compiler.
    _write_exe(FORGE_SOLC, f'#!/bin/sh\nexec "{target}" "$@"\n')
    print(f"solc {version}: {how} at {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
