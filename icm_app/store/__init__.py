"""Run persistence in SQLite: runs, examples, labels, per-iteration events, overrides, checkpoints."""
