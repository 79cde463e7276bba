"""Where ICM Studio keeps its data: $ICM_HOME, else ~/.icm-studio (runs database, converted models),
and where the bundled samples are: top-level sample_data/ in a clone, icm_app/sample_data in a wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent

# name -> (file in sample_data/, task preset)
SAMPLES = {
    "sentiment": ("rt_polarity.jsonl", "sentiment"),
    "sentiment-test": ("rt_polarity_test.jsonl", "sentiment"),
    "truthfulqa": ("truthfulqa.jsonl", "truthfulqa"),
    "truthfulqa-test": ("truthfulqa_test.jsonl", "truthfulqa"),
    "gsm8k": ("gsm8k.jsonl", "gsm8k"),
    "alpaca": ("alpaca.jsonl", "alpaca"),
}
# the held-out split of each training sample (used by evaluation as the default test file)
HELD_OUT = {"sentiment": "sentiment-test", "truthfulqa": "truthfulqa-test"}


def samples_dir() -> Path:
    """The bundled samples: pyproject maps sample_data/ into the wheel as icm_app/sample_data."""
    installed = _PACKAGE / "sample_data"
    return installed if installed.is_dir() else _PACKAGE.parent / "sample_data"


SAMPLES_DIR = samples_dir()


def sample_path(name: str) -> Path:
    """The file of a bundled sample by its name (a key of SAMPLES)."""
    return SAMPLES_DIR / SAMPLES[name][0]


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
