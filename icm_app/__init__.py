"""ICM Studio: Internal Coherence Maximization (Wen et al. 2025) as a library, a CLI and an app."""

__version__ = "0.1.0"
