"""Typed command-line values: each option is parsed and range-checked by argparse itself, so a bad value is
refused (one line, exit status 2) before a command reads, creates or changes anything.

The ranges are the ones the Python API checks (:func:`rnagen.config.check_number`); a converter here only
turns the text into a number first, so both paths give the same rule in their messages.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import cast

from ..config import SEED_MAX, check_number
from ..errors import ConfigError

__all__ = ["integer", "number", "seed", "device", "fraction_open", "share"]


def _parse(text: str, *, integer: bool) -> int | float:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        if integer:
            try:  # "1e3" or "2.0" are integers written as floats
                v = float(text)
                if v.is_integer():
                    return int(v)
            except (ValueError, OverflowError):
                pass
        kind = "an integer" if integer else "a number"
        raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None


def _converter(bound: str | None, *, integer: bool, name: str) -> Callable[[str], int | float]:
    def convert(text: str) -> int | float:
        value = _parse(text, integer=integer)
        try:
            return check_number("value", value, bound, integer=integer)
        except ConfigError as e:
            # "value must be ..., got ..." -> "must be ..., got '...'" (argparse puts the option name first)
            raise argparse.ArgumentTypeError(str(e).removeprefix("value ").rsplit(", got ", 1)[0]
                                             + f", got {text!r}") from None

    convert.__name__ = name  # argparse names the type in some messages
    return convert


def integer(bound: str | None = None) -> Callable[[str], int]:
    """An integer option in ``bound`` (e.g. ``">= 1"``)."""
    # check_number(..., integer=True) returns an int
    return cast(Callable[[str], int], _converter(bound, integer=True, name="integer"))


def number(bound: str | None = None) -> Callable[[str], float]:
    """A finite float option in ``bound`` (NaN and inf are refused)."""
    return _converter(bound, integer=False, name="number")


#: A seed: an integer in 0 .. 2**32 - 1 (NumPy, torch and scikit-learn all accept it).
seed = integer(f"[0, {SEED_MAX}]")

#: A share of the samples held out: strictly between 0 and 1.
fraction_open = number("(0, 1)")

#: A share that may be 0 (no hold-out) but not 1.
share = number("[0, 1)")


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (availability is checked when the device is used)."""
    from ..utils import check_device

    try:
        return check_device(text)
    except ConfigError:
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use auto (CUDA when available), cpu, cuda "
                                         "or cuda:N") from None
