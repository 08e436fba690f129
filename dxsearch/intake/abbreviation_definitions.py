"""Abbreviations a note defines itself: "hepatitis A (HA)" says what "HA" means in that note.

Why: a writer who spells out "hepatitis A (HA)" has told the reader that "HA" is not a headache, which is
what the dictionary and the chart-shorthand rules would read it as. Publications and referral letters
define most of their abbreviations this way ("intellectual disability (ID)", "cafe-au-lait spots (CALS)"),
then use only the short form. Here each definition found by the Schwartz–Hearst algorithm (the
``abbreviations`` package) gives every use of its short form the long form's reading: the term the long
form names, or none at all when the long form names no finding ("neurofibromatosis type 1 (NF1)"). The
short form in the parentheses that define it is no mention of its own: it repeats the long form.

Only short forms that hold a capital letter are taken ("(bilateral)" defines nothing), and a pair whose
offsets do not give back its own words is dropped (the package splits lines on whitespace and hyphens and
counts one separator between tokens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from abbreviations import schwartz_hearst

__all__ = ["Definition", "ShortFormUse", "definitions", "short_form_uses"]

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Definition:
    """``short`` defined as the words at ``long_span``, by the parentheses at ``short_span``."""

    short: str
    short_span: Span
    long_span: Span


@dataclass(frozen=True, slots=True)
class ShortFormUse:
    """One place a defined short form is written: its definition's parentheses, or a later use."""

    span: Span
    definition: Definition

    @property
    def defining(self) -> bool:
        """The short form inside the parentheses that define it."""
        return self.span == self.definition.short_span


def definitions(text: str) -> list[Definition]:
    """Each abbreviation the text defines ("long form (SF)"), in order; the first definition of a short form wins."""
    found: dict[str, Definition] = {}
    offset = 0
    for line in text.splitlines(keepends=True):
        for definition in _line_definitions(line, offset):
            found.setdefault(definition.short, definition)
        offset += len(line)
    return sorted(found.values(), key=lambda d: d.short_span)


def _line_definitions(line: str, offset: int) -> list[Definition]:
    try:
        candidates = list(schwartz_hearst.best_candidates(line))
    except ValueError:  # unbalanced parentheses: the package gives up on the line
        return []
    found: list[Definition] = []
    for candidate in candidates:
        short = str(candidate)
        if not any(character.isupper() for character in short) or " " in short:
            continue
        try:
            long_form = schwartz_hearst.select_definition(schwartz_hearst.get_definition(candidate, line), candidate)
        except (ValueError, IndexError):
            continue
        if line[candidate.start : candidate.stop] != short or line[long_form.start : long_form.stop] != str(long_form):
            continue
        if not str(long_form).strip():
            continue
        found.append(
            Definition(
                short,
                (offset + candidate.start, offset + candidate.stop),
                (offset + long_form.start, offset + long_form.stop),
            )
        )
    return found


def short_form_uses(text: str, defined: list[Definition]) -> list[ShortFormUse]:
    """Every place a defined short form is written as a word (its plural too: "UTIs"), the definition included."""
    uses: list[ShortFormUse] = []
    for definition in defined:
        pattern = re.compile(rf"(?<![\w-]){re.escape(definition.short)}(?:s)?(?![\w-])")
        for match in pattern.finditer(text):
            uses.append(ShortFormUse((match.start(), match.end()), definition))
    return sorted(uses, key=lambda use: use.span)
