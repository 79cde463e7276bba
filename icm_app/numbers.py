"""Numbers typed by a person, read the same way by the app's fields and the CLI's options: a message in
words for text, NaN, infinity or a value below the allowed minimum, never a traceback."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


def parse_number(
    text: str, *, whole: bool, optional: bool = False, minimum: float | None = None
) -> tuple[Any, str | None]:
    """A field's text as a number: (value, None), or (None, what is wrong in words)."""
    text = text.strip()
    if not text:
        return None, None if optional else "Enter a number."
    try:
        number = int(text) if whole else float(text)
    except ValueError:
        return None, f"“{text}” is not a {'whole number' if whole else 'number'}."
    if not math.isfinite(number):
        return None, "Enter a finite number."
    if minimum is not None and number < minimum:
        return None, f"Must be at least {minimum:g} (got {number:g})."
    return number, None


def parse_whole_numbers(
    text: str, *, what: str = "seed", whole: bool = True, minimum: float | None = None
) -> tuple[list[Any] | None, str | None]:
    """Numbers separated by spaces or commas ("0 1 2"): (numbers, None), or (None, what is wrong).
    Whole numbers unless `whole` is False; each at least `minimum` when given."""
    kind = "whole number" if whole else "number"
    parts = text.replace(",", " ").split()
    if not parts:
        return None, f"Enter at least one {what} ({kind}s separated by spaces)."
    numbers = []
    for part in parts:
        value, message = parse_number(part, whole=whole, minimum=minimum)
        if message:
            return None, f"{message[:-1]}: each {what} is a {kind}, separated by spaces."
        numbers.append(value)
    return numbers, None


def option(*, whole: bool, minimum: float | None = None) -> Callable[[str], Any]:
    """An argparse `type=` that reads a number as the app's fields do (argparse turns the message into
    its one-line error and exit status 2)."""

    def parse(text: str) -> Any:
        value, message = parse_number(text, whole=whole, minimum=minimum)
        if message:
            raise argparse.ArgumentTypeError(message)
        return value

    parse.__name__ = "whole number" if whole else "number"
    return parse
