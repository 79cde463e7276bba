"""Runs a search against the store (applies overrides and commands, records every iteration), and the jobs
around it: evaluations, iterative batches, sweeps, scalable ICM, "How ICM decides", background processes."""
