"""Serve the bundled GGUF with llama.cpp (PyPI xllamacpp) on 127.0.0.1: `python tests/llamacpp_server.py PORT`."""

import sys
import time

import xllamacpp

from icm_app.scoring.bundled import bundled_gguf

params = xllamacpp.CommonParams()
params.model.path = str(bundled_gguf())
params.n_ctx = 16384
params.n_parallel = 1
params.swa_full = True  # Gemma's sliding-window cache must be kept whole for prefix reuse
params.cache_prompt = "--no-cache" not in sys.argv
params.port = int(sys.argv[1])
params.hostnames = ["127.0.0.1"]
params.cpuparams.n_threads = 2
params.cpuparams_batch.n_threads = 2
server = xllamacpp.Server(params)
print("listening", server.listening_address, flush=True)
while True:  # llama.cpp ignores SIGTERM: the test stops it with SIGKILL
    time.sleep(1)
