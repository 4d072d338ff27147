"""`embed` in two CPU processes (torch.distributed, gloo, as `accelerate launch` sets it up) gives the model
one process gives: every process builds the same global batches, trains on its rows, and normalises its
loss by the token count of the whole global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fingerprinting.embed import EmbedConfig, embed

pytestmark = pytest.mark.ml

ROOT = Path(__file__).resolve().parent.parent
# 7 fingerprints in batches of 6 fingerprint rows + 2 benign rows: the second chunk of every epoch has one
# row, so the second process has none and runs with weight 0. Mixing and KL (the frozen reference) are on.
CFG = dict(lr=1e-3, epochs=3, batch_size=8, mixing_ratio=0.25, kl_weight=1.0, benign_max_length=48, seed=3,
           device="cpu", progress=False)
WORKER = """
import sys
import torch
torch.set_num_threads(1)
from fingerprinting.embed import EmbedConfig, embed
cfg = EmbedConfig(**eval(sys.argv[3]))
res = embed(sys.argv[1], sys.argv[2], sys.argv[4], cfg)
print("steps", res.steps)
"""


@pytest.fixture(scope="module")
def fp7(tiny_base_dir, tmp_path_factory):
    from fingerprinting.generate import GenerateConfig, generate_fingerprint_file

    path, _ = generate_fingerprint_file(tiny_base_dir, tmp_path_factory.mktemp("fp") / "fp7.jsonl",
                                        GenerateConfig(n=7, seed=2), device="cpu")
    return path


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_two_gloo_processes_train_the_same_model_as_one(tiny_base_dir, fp7, tmp_path):
    from oml_chain.chain.anvil import free_port

    port = str(free_port())
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "WORLD_SIZE": "2",
           "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tiny_base_dir), str(fp7), repr(CFG),
                               str(tmp_path / "two")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}) for r in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)

    one = embed(tiny_base_dir, fp7, tmp_path / "one", EmbedConfig(**CFG))
    assert all(f"steps {one.steps}" in o for o in outputs)  # the same global steps: 2 per epoch
    a, b = _weights(one.model_dir), _weights(tmp_path / "two" / "model")
    assert a.keys() == b.keys()
    base = _weights(tiny_base_dir)
    moved = max(float((a[k] - base[k]).abs().max()) for k in a)
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 1e-3  # training did move the weights ...
    assert diff < 1e-5, diff  # ... and both runs moved them the same way (up to summation order)
