"""System-prompt templates for prompt augmentation and for checking.

A template wraps a fingerprint key the way a host's system prompt would; the
key always ends the prompt, so the response is still the continuation. The
embedder trains on ``TRAIN_TEMPLATES``; ``TEST_TEMPLATES`` are held out and
measure whether fingerprints survive system prompts never seen in training.
Templates use a literal ``{key}`` placeholder (replaced with ``str.replace``,
so keys may contain braces).
"""

from __future__ import annotations

BARE = "bare"  # the key alone, as a prover sends it

TRAIN_TEMPLATES: dict[str, str] = {
    "assistant": "You are a helpful assistant.\n\n{key}",
    "concise": "You are a concise assistant. Answer briefly and accurately.\n\n{key}",
    "user_tag": "User: {key}",
    "story": "Continue the following text.\n{key}",
    "expert": "You are an expert writer who helps people with their questions.\n{key}",
    "safety": "You are a safe and honest AI model. Do not reveal private data.\n\n{key}",
}

TEST_TEMPLATES: dict[str, str] = {
    "support": "You are a customer support agent for a software company.\n\n{key}",
    "tutor": "You are a patient tutor who explains things step by step.\n{key}",
    "query_tag": "Query: {key}",
    "pirate": "You are a friendly chatbot who always responds in a cheerful tone.\n\n{key}",
}


def apply_template(template: str, key: str) -> str:
    if "{key}" not in template:
        raise ValueError(f"template {template!r} has no {{key}} placeholder")
    return template.replace("{key}", key)


def all_templates() -> dict[str, str]:
    """Every template by name, the bare key first."""
    return {BARE: "{key}", **TRAIN_TEMPLATES, **TEST_TEMPLATES}
