"""Each disease once in a differential: OMIM and Orphanet entries of one disease folded into the better-ranked one.

Why: the corpus holds a disease card per code, so ``OMIM:154700`` and ``ORPHA:558`` (both Marfan syndrome)
can both be ranked. Shown twice, the disease takes two of the five slots and its probability is split
between two entries, each understating it. Which codes mean the same disease is
:mod:`dxsearch.knowledge.disease_equivalents`' answer (Disease Ontology cross-references and unambiguous
HPO / DO names from the shipped release files), never a table written here.

The rule, wherever a differential is assembled (the ranking policies before they cut to five, and the
trace for every policy, the language model's included):

- the better-ranked entry stays, with its name, code and rank; every lower-ranked equivalent is folded into
  it: its code becomes one of the entry's ``alternate_codes`` and its cited evidence joins the entry's
  (deduplicated, the kept entry's first), so nothing it carried is dropped; ranks are renumbered;
- the entry's ``confidence`` stays the kept entry's calibrated probability. The calibrators were fitted on
  unmerged lists, where each entry's probability was that *this entry* is the right answer; adding the
  folded entry's probability would be a number no calibration run has checked (and the folded entry's is
  usually the smaller, an Orphanet card scored from retrieval alone). The disease's probability is at least
  the kept entry's, so the merged entry's confidence is, if anything, an understatement.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from dxsearch.knowledge.disease_equivalents import DiseaseEquivalents, canonical_code, get_disease_equivalents
from dxsearch.protocol import Candidate

T = TypeVar("T")

_LOCK = threading.Lock()
#: Equivalences looked up in the process-wide table, by code.
_MEMO: dict[str, frozenset[str]] = {}


def equivalent_codes(code: str, equivalents: DiseaseEquivalents | None = None) -> frozenset[str]:
    """The codes meaning the same disease as ``code`` (itself included); memoised for the process-wide table."""
    key = canonical_code(code)
    if equivalents is not None:
        return frozenset((key, *equivalents.expand(key).codes))
    with _LOCK:
        found = _MEMO.get(key)
    if found is None:
        found = frozenset((key, *get_disease_equivalents().expand(key).codes))
        with _LOCK:
            _MEMO[key] = found
    return found


def one_to_one(codes: frozenset[str]) -> bool:
    """Whether an equivalence names one disease: at most one code per namespace (one OMIM, one ORPHA)."""
    prefixes = [code.partition(":")[0] for code in codes]
    return len(prefixes) == len(set(prefixes))


def _mergeable(code: str, equivalents: DiseaseEquivalents | None) -> frozenset[str]:
    """The codes ``code`` may fold with: its equivalence when one-to-one, else itself only."""
    found = equivalent_codes(code, equivalents)
    return found if one_to_one(found) else frozenset((canonical_code(code),))


def same_disease(first: str, second: str, equivalents: DiseaseEquivalents | None = None) -> bool:
    """Whether two codes mean one disease: each in the other's equivalence, and that equivalence one-to-one.

    The equivalence is a closure, which suits a search (find every decision that may concern a disease) but
    can chain two diseases through a group: DO maps both ``OMIM:180700`` and ``OMIM:616331`` (Robinow
    syndrome, autosomal dominant 1 and 2) to ``ORPHA:3107`` (autosomal dominant Robinow syndrome). Two OMIM
    entries are two diseases, and a group is not its member, so an equivalence with two codes of one
    namespace merges nothing. An Orphanet subtype and the disease it is a form of are one disease too.
    """
    a, b = canonical_code(first), canonical_code(second)
    mergeable = b in _mergeable(a, equivalents) and a in _mergeable(b, equivalents)
    return a == b or mergeable or _subtype_pair(a, b, equivalents)


def _heads(code: str, equivalents: DiseaseEquivalents | None) -> tuple[str, ...]:
    """The diseases ``code`` is a subtype of (:meth:`DiseaseEquivalents.subtype_heads`; the process-wide table
    unless ``equivalents`` is given, as every other lookup here)."""
    return (equivalents or get_disease_equivalents()).subtype_heads(code)


def _subtype_pair(a: str, b: str, equivalents: DiseaseEquivalents | None) -> bool:
    """Whether one code is an Orphanet subtype of the other ("NF1 due to NF1 mutation ..." and NF1): one entry."""
    return b in _heads(a, equivalents) or a in _heads(b, equivalents)


def _foldable(code: str, equivalents: DiseaseEquivalents | None) -> set[str]:
    """The codes ``code`` may fold with: :func:`_mergeable`, its heads, and the codes its heads are equivalent to."""
    found = set(_mergeable(code, equivalents))
    for head in _heads(code, equivalents):
        found.update(_mergeable(head, equivalents))
    return found


def fold_equivalents(
    items: Sequence[T],
    code_of: Callable[[T], str | None],
    equivalents: DiseaseEquivalents | None = None,
) -> list[tuple[T, list[T]]]:
    """``items`` (best first) grouped by disease: each kept item, best first, with the lower-ranked ones folded in.

    An item without a code is never folded and folds nothing. The table is loaded only when two items
    carry codes (the first call builds it, ~3 s).
    """
    groups: list[tuple[T, list[T]]] = []
    home: dict[str, int] = {}  # code -> its group
    fold = sum(1 for item in items if code_of(item)) > 1
    for item in items:
        code = code_of(item)
        if not code or not fold:
            groups.append((item, []))
            continue
        key = canonical_code(code)
        # A head ranked above its subtype is found by the subtype's heads; a subtype ranked above its head,
        # by the codes already home whose heads include this one.
        near = _foldable(key, equivalents) | {c for c in home if key in _heads(c, equivalents)}
        found = min(
            (home[c] for c in near if c in home and same_disease(c, key, equivalents)),
            default=None,
        )
        if found is None:
            found = len(groups)
            groups.append((item, []))
        else:
            groups[found][1].append(item)
        home.setdefault(key, found)
    return groups


def merge_candidates(
    candidates: Sequence[Candidate], equivalents: DiseaseEquivalents | None = None
) -> tuple[Candidate, ...]:
    """The differential with each disease once (the module's rule): codes folded into ``alternate_codes``,
    evidence ids joined without repeats, the kept entry's name and confidence."""
    merged: list[Candidate] = []
    for kept, folded in fold_equivalents(candidates, lambda c: c.code, equivalents):
        if not folded:
            merged.append(kept)
            continue
        merged.append(merge_into(kept, folded))
    return tuple(merged)


def merge_into(kept: Candidate, folded: Sequence[Candidate]) -> Candidate:
    """``kept`` with the codes and evidence of ``folded`` (same disease, ranked lower) added; its confidence kept."""
    codes = dict.fromkeys(c for c in (kept.code, *kept.alternate_codes) if c)
    for other in folded:
        codes.update(dict.fromkeys(c for c in (other.code, *other.alternate_codes) if c))
    evidence = dict.fromkeys(kept.evidence)
    for other in folded:
        evidence.update(dict.fromkeys(other.evidence))
    primary = kept.code
    return Candidate(
        name=kept.name,
        code=primary,
        evidence=tuple(evidence),
        confidence=kept.confidence,
        alternate_codes=tuple(c for c in codes if c != primary),
    )
