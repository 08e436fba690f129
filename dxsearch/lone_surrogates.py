"""Lone UTF-16 surrogates in text: one detector for the API, the command lines and the FHIR reader.

Why: JSON's ``"\\udfff"`` escape, unpaired, parses to a Python string that has no UTF-8 form, so it crashed
whatever encoded it later (the pseudonymiser, the audit log, an output file) as a 500 or a traceback. A paired
escape is read as the one character beyond U+FFFF it encodes, so any surrogate left in a string is a lone one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["LONE_SURROGATE", "lone_surrogate"]

#: A lone UTF-16 surrogate (U+D800-U+DFFF).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(value: object) -> str | None:
    """The first lone surrogate in ``value`` (a string, or the keys and values of JSON arrays and objects), or
    ``None``; the caller names it by code point, never quoting the text around it."""
    if isinstance(value, str):
        found = LONE_SURROGATE.search(value)
        return found.group() if found else None
    if isinstance(value, Mapping):
        items: list[object] = [item for pair in value.items() for item in pair]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return None
    return next((hit for item in items if (hit := lone_surrogate(item)) is not None), None)
