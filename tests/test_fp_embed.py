"""Embedding, checking, the persistence attack and the false-positive audit on the tiny model."""

from __future__ import annotations

import json
import math

import pytest
import torch

from fingerprinting.embed import EmbedConfig, average_toward_base_, embed
from fingerprinting.training import IGNORE, build_example, collate, token_loss

pytestmark = pytest.mark.ml



# Hyper-parameters that embed 16 perinucleus fingerprints into `tiny` completely (see the report).
# KL self-distillation off: these tests pin the plain loop (test_fp_kl.py covers the regularizer).
TINY_EMBED = dict(lr=3e-3, epochs=20, batch_size=8, kl_weight=0.0, progress=False)


@pytest.fixture(scope="module")
def tiny(tiny_base_dir, device):
    from fingerprinting.models import load_model

    return load_model(tiny_base_dir, device=device)


@pytest.fixture(scope="module")
def embedded(tiny_base_dir, fp16, tmp_path_factory, device):
    return embed(tiny_base_dir, fp16, tmp_path_factory.mktemp("embedded"), EmbedConfig(**TINY_EMBED, device=device))


def test_only_response_tokens_carry_labels(tiny):
    _, tok = tiny
    ex = build_example(tok, "The river ran", " water flows", max_length=64)
    prompt = tok("The river ran")["input_ids"]
    response = tok(" water flows", add_special_tokens=False)["input_ids"]
    assert ex.input_ids == prompt + response
    assert ex.labels == [IGNORE] * len(prompt) + response
    short = build_example(tok, "Hi", " there", max_length=64)
    batch = collate([ex, short], pad_id=tok.pad_token_id)
    n = len(short.input_ids)
    assert batch["labels"][1, n:].tolist() == [IGNORE] * (batch["labels"].shape[1] - n)  # padding
    assert batch["attention_mask"][1].tolist() == [1] * n + [0] * (batch["labels"].shape[1] - n)
    assert batch["labels"][1, :n].tolist() == short.labels
    with pytest.raises(ValueError, match="max_length"):
        build_example(tok, "a long prompt " * 20, " x", max_length=8)


def test_model_averaging_is_exact_and_the_next_step_starts_from_it(tiny_base_dir, device):
    from accelerate import Accelerator

    from fingerprinting.models import load_model
    from fingerprinting.training import to_device

    model, tok = load_model(tiny_base_dir, device="cpu")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    lr, lam = 1e-3, 0.75
    accelerator = Accelerator(cpu=device == "cpu")
    model, opt = accelerator.prepare(model, torch.optim.AdamW(params, lr=lr, weight_decay=0.0))
    base = [p.detach().clone() for p in params]
    # The batch goes where Accelerate put the model (built on the CPU it broke every CUDA run).
    batch = to_device(collate([build_example(tok, "The river ran", " water"),
                               build_example(tok, "Once upon", " time")], tok.pad_token_id), accelerator.device)

    def backward():
        opt.zero_grad(set_to_none=True)
        token_loss(model, batch).backward()

    for _ in range(3):
        backward()
        opt.step()
    trained = [p.detach().clone() for p in params]
    average_toward_base_(params, base, lam)
    for p, t, b in zip(params, trained, base):
        assert torch.equal(p.detach(), t.clone().mul_(1 - lam).add_(b, alpha=lam))
    averaged = [p.detach().clone() for p in params]

    # One more optimizer step: AdamW must update the averaged tensors, not some other copy.
    backward()
    inner = getattr(opt, "optimizer", opt)
    b1, b2 = inner.param_groups[0]["betas"]
    eps = inner.param_groups[0]["eps"]
    expected, from_trained = [], []
    for p, a, t in zip(params, averaged, trained):
        st = inner.state[p]
        step = float(st["step"]) + 1
        m = st["exp_avg"] * b1 + p.grad * (1 - b1)
        v = st["exp_avg_sq"] * b2 + p.grad * p.grad * (1 - b2)
        update = (lr / (1 - b1**step)) * m / (v.sqrt() / math.sqrt(1 - b2**step) + eps)
        expected.append(a - update)
        from_trained.append(t - update)
    opt.step()
    for p, e, f in zip(params, expected, from_trained):
        torch.testing.assert_close(p.detach(), e, rtol=0, atol=1e-6)
    assert not all(torch.allclose(p.detach(), f, atol=1e-6) for p, f in zip(params, from_trained))


def test_embedding_16_perinucleus_fingerprints_reaches_full_accuracy(embedded, fp16, tiny):
    from fingerprinting.check import check_fingerprints
    from fingerprinting.fpfile import read_fingerprint_file

    _, fps = read_fingerprint_file(fp16)
    base_model, tok = tiny
    assert check_fingerprints(base_model, tok, fps).accuracy == 0.0
    assert embedded.train_accuracy == 1.0
    assert check_fingerprints(embedded.model, embedded.tokenizer, fps).held == list(range(16))
    record = json.loads(embedded.config_file.read_text())
    assert record["train_accuracy"] == 1.0 and record["n"] == 16 and record["steps"] == embedded.steps
    assert record["embed_config"]["lr"] == TINY_EMBED["lr"] and record["weights_hash"].startswith("0x")
    assert embedded.fingerprint_file.read_text() == fp16.read_text()
    # The private fingerprint file sits beside the model directory, never inside it.
    assert not any(p.suffix == ".jsonl" for p in embedded.model_dir.iterdir())


def test_reloaded_model_gives_the_same_greedy_outputs(embedded, fp16, device):
    from fingerprinting.check import check_model
    from fingerprinting.fpfile import read_fingerprint_file
    from fingerprinting.generation import encode_prompts, generate_ids
    from fingerprinting.models import load_model

    _, fps = read_fingerprint_file(fp16)
    model, tok = load_model(embedded.model_dir, device=device)
    rows = encode_prompts(tok, [fp.key for fp in fps])
    reloaded = generate_ids(model, tok, rows, max_new_tokens=6)
    in_memory = generate_ids(embedded.model, embedded.tokenizer, rows, max_new_tokens=6)
    assert reloaded == in_memory
    # Batched left-padded generation equals one prompt at a time.
    assert generate_ids(model, tok, rows, max_new_tokens=6, batch_size=1) == reloaded
    assert check_model(embedded.model_dir, fp16, device=device).accuracy == 1.0


def test_persistence_attack_and_audit_give_sane_numbers(embedded, fp16, tiny_base_dir, tiny_other_seed_dir, device):
    from fingerprinting.attack import AttackConfig, persistence_attack
    from fingerprinting.audit import audit_false_positives

    mild = persistence_attack(embedded.model_dir, fp16, AttackConfig(
        lr=1e-5, steps=4, batch_size=4, max_length=64, device=device, progress=False))
    assert mild.before.accuracy == 1.0 and mild.steps == 4 and math.isfinite(mild.final_loss)
    assert mild.after.accuracy >= 0.9  # lr 1e-5 for a few steps barely moves the weights
    harsh = persistence_attack(embedded.model_dir, fp16, AttackConfig(
        lr=1e-2, steps=30, batch_size=8, max_length=64, device=device, progress=False))
    assert harsh.after.accuracy < mild.after.accuracy  # a strong attack does erase fingerprints
    assert json.loads(json.dumps(harsh.to_dict()))["accuracy_after"] == harsh.after.accuracy

    audit = audit_false_positives(fp16, {"base": tiny_base_dir, "independent": tiny_other_seed_dir}, device=device)
    rates = audit.false_positive_rates
    assert set(rates) == {"base", "independent"} and audit.n == 16
    assert rates["base"] == 0.0
    assert rates["independent"] <= 2 / 16


def test_adversarial_and_regularized_embedding_keeps_accuracy(tiny_base_dir, fp16, tmp_path, device):
    from fingerprinting.fpfile import read_fingerprint_file, write_fingerprint_file

    header, fps = read_fingerprint_file(fp16)
    header.n = 8
    small = write_fingerprint_file(tmp_path / "fp8.jsonl", header, fps[:8])
    cfg = EmbedConfig(**{**TINY_EMBED, "batch_size": 8}, device=device, adversarial=True, adv_inner_steps=1,
                      adv_lr=1e-3, adv_every=2, mixing_ratio=0.25, prompt_augmentation=1, benign_max_length=32)
    res = embed(tiny_base_dir, small, tmp_path / "adv", cfg)
    assert res.train_accuracy == 1.0
    assert json.loads(res.config_file.read_text())["embed_config"]["adversarial"] is True


def test_lora_embedding_returns_a_model_the_attack_can_fine_tune(tiny_base_dir, fp16, tmp_path, device):
    """embed() with LoRA merges the adapter; the merged model must train like a loaded one (peft had frozen
    its base weights, so the in-memory persistence attack crashed on it)."""
    from fingerprinting.attack import AttackConfig, finetune_lm
    from fingerprinting.data import load_corpus
    from fingerprinting.models import LoraSettings

    res = embed(tiny_base_dir, fp16, tmp_path / "lora", EmbedConfig(**{**TINY_EMBED, "epochs": 2}, device=device,
                                                                    lora=LoraSettings(r=4)))
    assert not hasattr(res.model, "merge_and_unload")  # an ordinary causal LM, as hosts get it
    assert all(p.requires_grad for p in res.model.parameters())
    before = [p.detach().clone() for p in res.model.parameters()]
    steps, loss = finetune_lm(res.model, res.tokenizer, load_corpus("attack")[:16],
                              AttackConfig(lr=1e-3, steps=2, batch_size=4, max_length=32, progress=False))
    assert steps == 2 and math.isfinite(loss)
    assert any(not torch.equal(a, p.detach()) for a, p in zip(before, res.model.parameters()))


def test_embed_runs_after_another_device_or_precision_in_the_same_process(tiny_base_dir, fp16, tmp_path, device):
    """Accelerate keeps one state per process and refused a second run with another mixed precision (or
    cpu=True after a CUDA run; a CUDA run after a CPU one silently stayed on the CPU)."""
    from accelerate import Accelerator

    Accelerator(cpu=device == "cpu", mixed_precision="no")
    quick = {**TINY_EMBED, "epochs": 1}
    res = embed(tiny_base_dir, fp16, tmp_path / "bf16", EmbedConfig(**quick, device=device, mixed_precision="bf16"))
    assert res.steps == 2 and math.isfinite(res.losses[0])
    res = embed(tiny_base_dir, fp16, tmp_path / "cpu", EmbedConfig(**quick, device="cpu"))
    assert next(res.model.parameters()).device.type == "cpu" and math.isfinite(res.losses[0])
