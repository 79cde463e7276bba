"""Errors raised by several layers, in a leaf module so that none of them imports another to raise them."""


class DataError(ValueError):
    """A data file that cannot be used, with a message that says why."""


class ServerUnavailableError(ConnectionError):
    """A scorer's server could not be reached or kept failing after the retries; the run pauses, nothing is
    lost. Raised by the server scorer, caught by the worker: neither imports the other for it."""
