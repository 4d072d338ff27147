"""Compile contracts/ with py-solc-x (standard JSON), cached on disk by a hash of every source.

Settings match foundry.toml and ape-config.yaml: solc 0.8.37, optimizer 200
runs, EVM prague, `@openzeppelin/contracts/` remapped to node_modules. Imports
are resolved here (not by the compiler) so the cache key covers every file
the build reads, OpenZeppelin included.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import CompileError

REPO_ROOT = Path(__file__).resolve().parents[2]
SOLC_VERSION = "0.8.37"
EVM_VERSION = "prague"
OPTIMIZER_RUNS = 200
REMAPPINGS = ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"]
DEFAULT_CACHE = Path(".build") / "oml-solc-cache.json"
# Library contracts whose artifacts are needed by name besides contracts/ (the community's timelock is
# OpenZeppelin's own TimelockController); selected when some contract imports them.
EXTRA_OUTPUTS = ("node_modules/@openzeppelin/contracts/governance/TimelockController.sol",)

_IMPORT_RE = re.compile(r'^\s*import\s+(?:[^"\']*?\s+from\s+)?["\']([^"\']+)["\']\s*;', re.MULTILINE)


@dataclass(frozen=True)
class Artifact:
    """ABI and bytecode of one compiled contract."""

    name: str
    source: str
    abi: list
    bytecode: str  # 0x-prefixed creation code
    deployed_bytecode: str


def _unit_name(import_path: str, importer: str | None) -> str:
    if import_path.startswith("."):
        base = Path(importer).parent if importer else Path(".")
        return os.path.normpath(base / import_path).replace(os.sep, "/")
    for rm in REMAPPINGS:
        prefix, target = rm.split("=", 1)
        if import_path.startswith(prefix):
            return target + import_path[len(prefix):]
    return import_path


def collect_sources(root: Path = REPO_ROOT, contracts_dir: str = "contracts") -> dict[str, str]:
    """Every .sol under contracts/ plus everything they import, keyed by source unit name."""
    todo = sorted(p.relative_to(root).as_posix() for p in (root / contracts_dir).rglob("*.sol")
                  if ".cache" not in p.parts)
    if not todo:
        raise CompileError(f"no Solidity sources under {root / contracts_dir}")
    sources: dict[str, str] = {}
    while todo:
        unit = todo.pop()
        if unit in sources:
            continue
        path = root / unit
        if not path.is_file():
            raise CompileError(f"import {unit!r} not found under {root}; run `make setup` (npm ci) to install "
                               "OpenZeppelin into node_modules")
        text = path.read_text()
        sources[unit] = text
        for imp in _IMPORT_RE.findall(text):
            todo.append(_unit_name(imp, unit))
    return dict(sorted(sources.items()))


def _standard_input(sources: dict[str, str], contracts_dir: str) -> dict:
    return {
        "language": "Solidity",
        "sources": {k: {"content": v} for k, v in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "remappings": REMAPPINGS,
            "outputSelection": {k: {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
                                for k in sources if k.startswith(contracts_dir + "/") or k in EXTRA_OUTPUTS},
        },
    }


def compile_contracts(root: Path = REPO_ROOT, cache_path: Path | None = None, force: bool = False,
                      contracts_dir: str = "contracts") -> dict[str, Artifact]:
    """All contracts under contracts/ (community/ included) by name (e.g. "OML", "NaivePermissions",
    "CommunityFactory"), plus OpenZeppelin's TimelockController when imported; cached by source hash."""
    sources = collect_sources(root, contracts_dir)
    std_input = _standard_input(sources, contracts_dir)
    key = hashlib.sha256(json.dumps([SOLC_VERSION, std_input], sort_keys=True).encode()).hexdigest()
    cache = root / (cache_path or DEFAULT_CACHE)
    if not force and cache.is_file():
        try:
            cached = json.loads(cache.read_text())
            if cached.get("key") == key:
                return {n: Artifact(**a) for n, a in cached["artifacts"].items()}
        except (ValueError, KeyError, TypeError):
            pass  # a corrupt cache is rebuilt below
    output = _run_solc(std_input, root)
    artifacts: dict[str, Artifact] = {}
    for source, contracts in output.get("contracts", {}).items():
        for name, c in contracts.items():
            artifacts[name] = Artifact(name=name, source=source, abi=c["abi"],
                                       bytecode="0x" + c["evm"]["bytecode"]["object"],
                                       deployed_bytecode="0x" + c["evm"]["deployedBytecode"]["object"])
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "solc": SOLC_VERSION,
                               "artifacts": {n: a.__dict__ for n, a in artifacts.items()}}))
    tmp.replace(cache)
    return artifacts


def _run_solc(std_input: dict, root: Path) -> dict:
    import solcx  # imported lazily: slow, and only needed on a cache miss

    try:
        output = solcx.compile_standard(std_input, solc_version=SOLC_VERSION, base_path=str(root),
                                        allow_paths=[str(root)])
    except solcx.exceptions.SolcNotInstalled as exc:
        raise CompileError(f"solc {SOLC_VERSION} is not registered with py-solc-x; run `make setup` "
                           "(toolchain/install_solc.py)") from exc
    except solcx.exceptions.SolcError as exc:
        raise CompileError(f"solc failed: {exc}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("solc reported errors:\n" + "\n".join(e.get("formattedMessage", e["message"])
                                                                  for e in errors))
    return output


def load_artifact(name: str, root: Path = REPO_ROOT) -> Artifact:
    arts = compile_contracts(root)
    if name not in arts:
        raise CompileError(f"no contract named {name!r} in contracts/ (have: {', '.join(sorted(arts))})")
    return arts[name]
