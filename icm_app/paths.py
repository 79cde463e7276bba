"""Where ICM Studio keeps its data: $ICM_HOME, else ~/.icm-studio (runs database, converted models)."""

from __future__ import annotations

import os
from pathlib import Path


def icm_home() -> Path:
    home = Path(os.environ.get("ICM_HOME") or Path.home() / ".icm-studio").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def model_cache() -> Path:
    """Converted models live apart from runs ($ICM_MODEL_CACHE, else ~/.cache/icm-studio) so tests share them."""
    default = Path.home() / ".cache" / "icm-studio"
    cache = Path(os.environ.get("ICM_MODEL_CACHE") or default).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    return cache
