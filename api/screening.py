"""Findings-list and bundle words the intake did not understand, kept out of the trace as a note's words are.

A note is PHI as a whole: the trace keeps its keyed pseudonym, the account gives its segments by position
only, and echoes of it are removed from the policy's turns (:func:`dxsearch.agent.trace_case`,
:func:`dxsearch.agent.redact_note`). A findings list was trusted to hold findings, so an item that names no
HPO term ("Patient Zebedee Quixotic NHS 9434765919") went into the append-only audit log word for word: as
a finding of the case, in the turns that searched for it, in every explanation's "not explained" list, and
as the account's ``given``. Such an item is free text typed into the wrong box, so it is treated as a
note's words are, before the trace is committed or returned:

- the account gives every item with a part not understood by path and span only (``given`` dropped for all
  of that item's entries, the understood parts' too, as their ``given`` is the whole item);
- every other string of the trace has the item's words replaced by a placeholder naming the item's path
  (whole words, any case, and their HTML-escaped form, as the protocol escapes what it echoes), except
  where they are part of an understood finding's label ("stature" entered alone leaves "Tall stature").

The words were still searched for, within the request: retrieval and the "explains n/m" coverage are
unchanged; only what is kept (audit log, response) no longer holds them. Understood items keep their
labels. Logs never held labels (:mod:`api.logging`).

A FHIR bundle's free text is screened the same way: an Observation's ``code.text`` or a Condition's words the
intake did not understand (a user test's Condition "Jane Doe's tall stature" was stored whole in the
append-only log) are given by the element's path only (``entry[3].resource``, ``entry[3].resource.component[1]``),
whatever the reason they were not understood, a diagnosis kept out of the findings included: such words were
typed by a person into a record, and may name one. The bundle reader itself copies no ``valueString`` or
``note`` out, and reads a Condition's words for the terms they name (:mod:`dxsearch.intake.fhir`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from dxsearch.agent import Trace

#: The path in the account of an item a person typed: a findings-list item, or a bundle element (a resource, a
#: component of one; ``bundle.findings[n]`` and ``bundle.conditions[n]`` where its entry is not known).
_TYPED_PATH = re.compile(
    r"^(?:findings\[\d+\]|entry\[\d+\]\.resource(?:\.component\[\d+\])?|bundle\.(?:findings|conditions)\[\d+\])$"
)


def removed(path: str) -> str:
    """What stands in the trace where an item's words were (the path says which item)."""
    return f"[words of {path} removed]"


def screen_trace(trace: Trace) -> Trace:
    """``trace`` with the words of findings-list items and bundle elements not understood kept out (module docstring).

    The same trace when no item was left not understood.
    """
    account = trace.input_account
    if account is None:
        return trace
    understood = {m.label for m in account.mapped} | {f.label for f in trace.case.findings if f.hpo_id is not None}
    folded = {label.casefold() for label in understood}  # an understood finding's label is never removed
    paths: set[str] = set()
    words: dict[str, str] = {}
    for item in account.not_understood:
        if not _TYPED_PATH.match(item.path) or item.given is None:
            continue
        paths.add(item.path)
        if not item.words_searched:  # not in the case (a relative's, a branch of HPO): only ``given`` held them
            continue
        start, end = item.span if item.span is not None else (0, len(item.given))
        said = item.given[start:end].strip()
        if said and said.casefold() not in folded:
            words.setdefault(said, item.path)
    if not paths:
        return trace
    data = cast(dict[str, Any], json.loads(trace.model_dump_json()))
    scrubber = _Scrubber(_patterns(words), _whole_words(sorted(understood, key=len, reverse=True)))
    scrubbed = scrubber.scrub({k: v for k, v in data.items() if k != "input_account"})
    scrubbed["input_account"] = _positions_only(data["input_account"], paths)
    return Trace.model_validate(scrubbed)


def _whole_words(forms: Sequence[str]) -> re.Pattern[str] | None:
    """Any of ``forms`` as whole words, any case (the longest first); None for no form."""
    if not forms:
        return None
    alternatives = "|".join(re.escape(form) for form in forms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _patterns(words: dict[str, str]) -> list[tuple[re.Pattern[str], str]]:
    """One pattern per item's words (longest first, so a longer item is replaced before a part of it)."""
    patterns: list[tuple[re.Pattern[str], str]] = []
    for said, path in sorted(words.items(), key=lambda item: -len(item[0])):
        forms = sorted({said, html.escape(said, quote=False), html.escape(said)}, key=len, reverse=True)
        pattern = _whole_words(forms)
        if pattern is not None:
            patterns.append((pattern, removed(path)))
    return patterns


@dataclass(frozen=True, slots=True)
class _Scrubber:
    """Replaces the patterns in every string of a JSON value, but not inside an understood label."""

    patterns: list[tuple[re.Pattern[str], str]]
    understood: re.Pattern[str] | None

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        return value

    def _text(self, text: str) -> str:
        for pattern, placeholder in self.patterns:
            kept = [m.span() for m in self.understood.finditer(text)] if self.understood is not None else []

            def replace(
                match: re.Match[str], placeholder: str = placeholder, kept: list[tuple[int, int]] = kept
            ) -> str:
                inside = any(start <= match.start() and match.end() <= end for start, end in kept)
                return match.group(0) if inside else placeholder

            text = pattern.sub(replace, text)
        return text


def _positions_only(account: dict[str, Any], paths: set[str]) -> dict[str, Any]:
    """The account with ``given`` dropped from every entry of the items in ``paths`` (path and span kept)."""
    kept = dict(account)
    for key in ("mapped", "not_understood"):
        kept[key] = [{**entry, "given": None} if entry.get("path") in paths else entry for entry in account[key]]
    return kept
