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


#: Most short forms read from one text: each is looked for in the whole text, and a note or an abstract defines
#: a few dozen at most; beyond this the text is no clinical prose (a bounded cost for any input).
MAX_DEFINITIONS = 64


def definitions(text: str) -> list[Definition]:
    """Each abbreviation the text defines ("long form (SF)"), in order; the first definition of a short form wins,
    and the first :data:`MAX_DEFINITIONS` short forms are kept."""
    found: dict[str, Definition] = {}
    offset = 0
    for line in text.splitlines(keepends=True):
        for definition in _line_definitions(line, offset):
            if len(found) < MAX_DEFINITIONS or definition.short in found:
                found.setdefault(definition.short, definition)
        offset += len(line)
    return sorted(found.values(), key=lambda d: d.short_span)


#: Characters before a short form the long form is looked for in. Schwartz and Hearst bound a long form to
#: min(|A| + 5, 2|A|) words for a short form of |A| characters (at most 10 here, so 20 words); the package
#: splits everything before the parenthesis into words for each candidate, which took 48 s on a one-line
#: note of 100,000 characters (a code review); 300 characters hold 20 words of clinical prose.
LOOK_BACK_CHARS = 300
#: The sentences the package is given: a line of a long note is one very long sentence to it.
_SENTENCE = re.compile(r"[^.!?;\n]+(?:[.!?;]+|$)")


def _line_definitions(line: str, offset: int) -> list[Definition]:
    found: list[Definition] = []
    for sentence in _SENTENCE.finditer(line):
        found.extend(_sentence_definitions(sentence.group(), offset + sentence.start()))
    return found


def _sentence_definitions(sentence: str, offset: int) -> list[Definition]:
    if "(" not in sentence:
        return []
    try:
        candidates = list(schwartz_hearst.best_candidates(sentence))
    except ValueError:  # unbalanced parentheses: the package gives up on the sentence
        return []
    found: list[Definition] = []
    for candidate in candidates:
        short = str(candidate)
        if not any(character.isupper() for character in short) or " " in short:
            continue
        start = max(0, candidate.start - LOOK_BACK_CHARS)
        window = sentence[start : candidate.stop + 1]
        near = schwartz_hearst.Candidate(short)
        near.set_position(candidate.start - start, candidate.stop - start)
        try:
            long_form = schwartz_hearst.select_definition(schwartz_hearst.get_definition(near, window), near)
        except (ValueError, IndexError):
            continue
        if window[near.start : near.stop] != short or window[long_form.start : long_form.stop] != str(long_form):
            continue
        if not str(long_form).strip():
            continue
        found.append(
            Definition(
                short,
                (offset + candidate.start, offset + candidate.stop),
                (offset + start + long_form.start, offset + start + long_form.stop),
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
