"""Bad input to every `oml` command, each run as a real process (`python -m oml_chain.cli ...`) against a real
anvil: a failure is exactly one `Error: ...` line on stderr and exit status 1 (progress lines `[  0.1s] ...`
may come before it); a command line click cannot parse gets click's usage block and exit status 2; never a
traceback. (README "The CLI in short" documents the same rule.)"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from oml_chain.chain.anvil import free_port
from oml_chain.chain.deploy import write_deployment

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parent.parent
UNFUNDED = "0x" + "11" * 32  # a valid key whose account holds no ETH
ZERO = "0x" + "00" * 32
PROGRESS = re.compile(r"^\[\s*\d+\.\d+s\] ")


@dataclass
class Ctx:
    rpc: str
    deps: str
    dir: Path
    model_id: int
    owner_key: str
    host_key: str  # staked on model_id, 1 ETH of escrow
    idle_key: str  # funded, no stake anywhere
    model_dir: str  # a real model (the fingerprinted tiny model)
    fp_file: str
    empty_dir: str
    busy_port: str  # anvil listens there
    free_url: str

    def chain(self, key: str | None = None) -> list[str]:
        return ["--rpc-url", self.rpc, "--deployments", self.deps] + (["--key", key] if key else [])


# (id, args(ctx), exit status, text the error line must hold)
CASES = [
    # oml chain / deploy
    ("chain up: port in use", lambda c: ["chain", "up", "--port", c.busy_port], 1, "in use"),
    ("chain up: port not a number", lambda c: ["chain", "up", "--port", "x"], 2, "Invalid value for '--port'"),
    ("chain down: nothing running", lambda c: ["chain", "down"], 1, "oml chain up"),
    ("deploy: unfunded key", lambda c: ["deploy", *c.chain(UNFUNDED)], 1, "InsufficientFunds"),
    ("deploy: all-zero key", lambda c: ["deploy", *c.chain(ZERO)], 1, "not a usable private key"),
    ("deploy: key not hex", lambda c: ["deploy", *c.chain("0xnothex")], 1, "64 hex digits"),
    ("deploy: no key", lambda c: ["deploy", *c.chain()], 2, "Missing option '--key'"),
    ("deploy: chain unreachable", lambda c: ["deploy", "--rpc-url", c.free_url, "--key", c.owner_key], 1,
     "oml chain up"),
    # oml model
    ("model register: signer not an address",
     lambda c: ["model", "register", *c.chain(c.owner_key), "--model-dir", c.model_dir, "--fingerprints", c.fp_file,
                "--signer", "nope"], 1, "--signer must be a 0x-address"),
    ("model register: recipient not an address",
     lambda c: ["model", "register", *c.chain(c.owner_key), "--model-dir", c.model_dir, "--fingerprints", c.fp_file,
                "--recipient", "0x1234"], 1, "--recipient must be a 0x-address"),
    ("model register: directory without a model",
     lambda c: ["model", "register", *c.chain(c.owner_key), "--model-dir", c.empty_dir, "--fingerprints",
                c.fp_file], 1, "is not a model directory"),
    ("model register: the directory above the model",
     lambda c: ["model", "register", *c.chain(c.owner_key), "--model-dir", str(Path(c.model_dir).parent),
                "--fingerprints", c.fp_file], 1, "did you mean"),
    ("model register: missing directory",
     lambda c: ["model", "register", *c.chain(c.owner_key), "--model-dir", c.empty_dir + "/nope", "--fingerprints",
                c.fp_file], 2, "does not exist"),
    ("model register: not a fingerprint file",
     lambda c: ["model", "register", *c.chain(c.owner_key), "--model-dir", c.model_dir, "--fingerprints",
                str(Path(c.model_dir) / "config.json")], 1, "FingerprintFileError"),
    ("model register: bad price",
     lambda c: ["model", "register", *c.chain(c.owner_key), "--model-dir", c.model_dir, "--fingerprints", c.fp_file,
                "--price", "lots"], 1, "--price must be an amount"),
    ("model show: unknown id", lambda c: ["model", "show", *c.chain(), "--model-id", "999"], 1, "ModelNotFound"),
    ("model show: id 0", lambda c: ["model", "show", *c.chain(), "--model-id", "0"], 2, "Invalid value"),
    # oml host
    ("host stake: beyond the balance",
     lambda c: ["host", "stake", *c.chain(c.idle_key), "--model-id", str(c.model_id), "--amount", "100000000eth"],
     1, "InsufficientFunds"),
    ("host stake: amount not a number",
     lambda c: ["host", "stake", *c.chain(c.idle_key), "--model-id", str(c.model_id), "--amount", "lots"], 1,
     "--amount must be an amount"),
    ("host stake: attestation signer not an address",
     lambda c: ["host", "stake", *c.chain(c.idle_key), "--model-id", str(c.model_id), "--amount", "1eth",
                "--attestation-signer", "xyz"], 1, "--attestation-signer must be a 0x-address"),
    ("host stake: below the minimum",
     lambda c: ["host", "stake", *c.chain(c.idle_key), "--model-id", str(c.model_id), "--amount", "0.1eth"], 1,
     "StakeBelowMinimum"),
    ("host unstake: no stake", lambda c: ["host", "unstake", *c.chain(c.idle_key), "--model-id", str(c.model_id)], 1,
     "StakeNotFound"),
    ("host withdraw: not unbonding",
     lambda c: ["host", "withdraw", *c.chain(c.host_key), "--model-id", str(c.model_id)], 1, "StakeNotUnbonding"),
    ("host withdraw: escrow never requested",
     lambda c: ["host", "withdraw", *c.chain(c.host_key), "--model-id", str(c.model_id), "--escrow"], 1,
     "NothingToWithdraw"),
    ("host withdraw: escrow request beyond the escrow",
     lambda c: ["host", "withdraw", *c.chain(c.host_key), "--model-id", str(c.model_id), "--escrow-request",
                "50eth"], 1, "EscrowInsufficient"),
    ("host deposit: zero", lambda c: ["host", "deposit", *c.chain(c.host_key), "--model-id", str(c.model_id),
                                      "--amount", "0"], 1, "EscrowZeroDeposit"),
    ("host download: server unreachable",
     lambda c: ["host", "download", *c.chain(c.host_key), "--model-id", str(c.model_id), "--from", c.free_url,
                "--out", str(c.dir / "dl")], 1, "cannot reach the distribution server"),
    ("host serve: unknown model id",
     lambda c: ["host", "serve", *c.chain(c.host_key), "--model-id", "999", "--model-dir", c.model_dir,
                "--no-permission", "--port", str(free_port())], 1, "ModelNotFound"),
    ("host serve: directory without a model",
     lambda c: ["host", "serve", *c.chain(c.host_key), "--model-id", str(c.model_id), "--model-dir", c.empty_dir,
                "--no-permission", "--port", str(free_port())], 1, "is not a model directory"),
    ("host serve: port in use",
     lambda c: ["host", "serve", *c.chain(c.host_key), "--model-id", str(c.model_id), "--model-dir", c.model_dir,
                "--no-permission", "--port", c.busy_port], 1, "in use"),
    ("host serve: all-zero attestation key",
     lambda c: ["host", "serve", *c.chain(c.host_key), "--model-id", str(c.model_id), "--model-dir", c.model_dir,
                "--attestation-key", ZERO, "--port", str(free_port())], 1, "--attestation-key is not a usable"),
    # oml permission / distribute
    ("permission serve: port in use",
     lambda c: ["permission", "serve", *c.chain(c.owner_key), "--db", str(c.dir / "p.db"), "--port", c.busy_port],
     1, "in use"),
    ("permission serve: all-zero key",
     lambda c: ["permission", "serve", *c.chain(ZERO), "--db", str(c.dir / "p.db"), "--port", str(free_port())], 1,
     "not a usable private key"),
    ("distribute serve: not MODEL_ID=DIR", lambda c: ["distribute", "serve", *c.chain(), "--model", "abc"], 1,
     "MODEL_ID=DIR"),
    ("distribute serve: directory without a model",
     lambda c: ["distribute", "serve", *c.chain(), "--model", f"1={c.empty_dir}"], 1, "not a model directory"),
    ("distribute serve: port in use",
     lambda c: ["distribute", "serve", *c.chain(), "--model", f"1={c.model_dir}", "--port", c.busy_port], 1,
     "in use"),
    # oml prove
    ("prove once: not a fingerprint file",
     lambda c: ["prove", "once", *c.chain(c.idle_key), "--db", str(c.dir / "pr.db"), "--fingerprints",
                str(Path(c.model_dir) / "config.json")], 1, "FingerprintFileError"),
    ("prove once: host not an address",
     lambda c: ["prove", "once", *c.chain(c.idle_key), "--db", str(c.dir / "pr.db"), "--fingerprints", c.fp_file,
                "--host", "nope"], 1, "--host must be a 0x-address"),
    ("prove once: missing fingerprint file",
     lambda c: ["prove", "once", *c.chain(c.idle_key), "--fingerprints", c.empty_dir + "/fp.jsonl"], 2,
     "does not exist"),
    ("prove daemon: negative interval",
     lambda c: ["prove", "daemon", *c.chain(c.idle_key), "--db", str(c.dir / "pd.db"), "--fingerprints", c.fp_file,
                "--interval", "-1"], 1, "interval"),
    # oml status
    ("status: no deployments file", lambda c: ["status", "--rpc-url", c.rpc, "--deployments",
                                               str(c.dir / "missing.json")], 1, "deploy first (`oml deploy`"),
    ("status: chain unreachable", lambda c: ["status", "--rpc-url", c.free_url], 1, "oml chain up"),
    # oml fingerprint
    ("fingerprint generate: not a model", lambda c: ["fingerprint", "generate", "--model", c.empty_dir, "-n", "2",
                                                     "--out", str(c.dir / "fp.jsonl")], 1, "not a model directory"),
    ("fingerprint check: not a model",
     lambda c: ["fingerprint", "check", "--model", c.empty_dir, "--fingerprints", c.fp_file], 1,
     "not a model directory"),
    ("fingerprint build-base: unknown preset", lambda c: ["fingerprint", "build-base", "--preset", "huge"], 2,
     "'huge' is not one of"),
    ("fingerprint embed: missing fingerprint file",
     lambda c: ["fingerprint", "embed", "--model", c.model_dir, "--fingerprints", c.empty_dir + "/x.jsonl", "--out",
                str(c.dir / "emb")], 2, "does not exist"),
    ("unknown command", lambda c: ["frobnicate"], 2, "No such command"),
]


@pytest.fixture(scope="module")
def results(w3, anvil_node, oml_address, oml_artifacts, dev_keys, fingerprinted_tiny, tmp_path_factory):
    """Every case run once, a few at a time, on the session chain (state reverted afterwards)."""
    from chain_world import ETH, MIN_STAKE, make_world

    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        world = make_world(w3, oml_address, oml_artifacts["OML"].abi, dev_keys)
        world.host.stake(world.model_id, MIN_STAKE, "http://host")
        world.host.deposit_escrow(world.model_id, ETH)
        d = tmp_path_factory.mktemp("cli-errors")
        (d / "empty").mkdir()
        write_deployment(d / "deployments.json", w3.eth.chain_id, oml_address, 0)
        ctx = Ctx(rpc=anvil_node.url, deps=str(d / "deployments.json"), dir=d, model_id=world.model_id,
                  owner_key=dev_keys[0], host_key=dev_keys[1], idle_key=dev_keys[7],
                  model_dir=str(fingerprinted_tiny.model_dir), fp_file=str(fingerprinted_tiny.fingerprint_file),
                  empty_dir=str(d / "empty"), busy_port=str(anvil_node.port),
                  free_url=f"http://127.0.0.1:{free_port()}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OML_")}
        env["PYTHONPATH"] = str(REPO)  # this checkout's oml_chain, whatever is installed

        def run(case):
            name, args, _, _ = case
            return name, subprocess.run([sys.executable, "-m", "oml_chain.cli", *args(ctx)], cwd=d, env=env,
                                        capture_output=True, text=True, timeout=300)

        with ThreadPoolExecutor(3) as pool:
            out = dict(pool.map(run, CASES))
        yield out
    finally:
        w3.provider.make_request("evm_revert", [snap])


@pytest.mark.parametrize("name,args,status,text", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_a_clear_exit_status(results, name, args, status, text):
    proc = results[name]
    shown = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, shown
    assert proc.returncode == status, shown
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and text in errors[0], shown
    if status == 1:  # one line for the error; only progress lines before it
        assert lines[-1] == errors[0] and all(PROGRESS.match(line) for line in lines[:-1]), shown
    else:  # click's usage error: its usage block, then the error
        assert lines[0].startswith("Usage: ") or "No such command" in errors[0], shown
    assert len(errors[0]) < 600, shown


def test_port_in_use_case_really_is_in_use(anvil_node):
    """The table's "port in use" cases rely on anvil holding its port."""
    with pytest.raises(OSError), socket.socket() as s:
        s.bind(("127.0.0.1", anvil_node.port))
