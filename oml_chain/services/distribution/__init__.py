"""The gated distribution server (`oml distribute serve`) and its download client (`oml host download`)."""

from .auth import (DownloadAuthError, digest_download_request, hash_download_request, sign_download_request,
                   verify_download_request)
from .download import DownloadError, DownloadResult, WeightsHashMismatch, download_model
from .server import DistributionConfig, create_app, parse_range, run, uvicorn_config

__all__ = ["DistributionConfig", "create_app", "run", "uvicorn_config", "parse_range", "download_model",
           "DownloadResult", "DownloadError", "WeightsHashMismatch", "DownloadAuthError", "sign_download_request",
           "verify_download_request", "hash_download_request", "digest_download_request"]
