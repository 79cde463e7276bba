"""`icm prepare` with its real lock, sweep, marker and rename, but a fake conversion that takes SECONDS and
needs no model: how tests/test_prepare.py runs preparations at once and kills them mid-way.

    ICM_MODEL_CACHE=DIR python tests/fake_prepare.py SECONDS [icm prepare options]

Each conversion appends this process's pid to DIR/conversions.log before it starts."""

import json
import os
import sys
import time

from icm_app import cli
from icm_app.paths import model_cache
from icm_app.scoring import bundled

SECONDS = float(sys.argv[1])
STEPS = 10


def fake_assemble(progress):
    path = bundled.gguf_path()
    path.write_bytes(b"GGUF fake")
    return path


def fake_convert(folder, gguf, progress):
    with open(model_cache() / "conversions.log", "a") as log:
        log.write(f"{os.getpid()}\n")
    for n in range(STEPS):
        progress("de-quantizing tensors", n, STEPS)
        (folder / f"shard-{n}.bin").write_bytes(b"x" * 100_000)  # something worth cleaning up
        time.sleep(SECONDS / STEPS)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    (folder / "config.json").write_text("{}")


bundled._assemble = fake_assemble
bundled._convert_into = fake_convert
bundled._verify = lambda folder: None
sys.exit(cli.main(["prepare", *sys.argv[2:]]))
