"""Errors raised by several layers, in a leaf module so that none of them imports another to raise them."""


class DataError(ValueError):
    """A data file that cannot be used, with a message that says why."""
