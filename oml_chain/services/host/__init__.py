"""The attested OpenAI-compatible host server (`oml host serve`): `create_app(HostConfig)` / `run(config)`."""

from .app import create_app, run, uvicorn_config
from .attest import Attested, OMLGate
from .config import HostConfig
from .engine import Completion, EngineError, GenerationEngine, PromptTooLong

__all__ = ["create_app", "run", "uvicorn_config", "HostConfig", "GenerationEngine", "Completion", "EngineError",
           "PromptTooLong", "OMLGate", "Attested"]
