"""The gold answer a reward is computed against: what a dataset row's ``ground_truth`` carries.

The environment never sees this; trainers pass it to the reward functions only.
Matching is by identifier first (the gold CURIE or an equivalent code, e.g. the
ORPHA code of the same OMIM disease), then by normalised name or synonym, so a
correct diagnosis written with a different code system or spelling still counts.
Equivalent codes and synonyms are filled by whoever exports the dataset (e.g.
from :class:`dxsearch.evaluation.GoldMatcher`); the rewards never read an index.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dxsearch.corpus import normalise_name

_CURIE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*:\S+$")


def normalise_code(code: str) -> str:
    """A CURIE with its prefix upper-cased and spacing removed: ``omim:154700`` == ``OMIM:154700``.

    Corpus documents and model output disagree on prefix case; the local part is
    kept as written because some code systems (ICD) are case-sensitive there.
    """
    prefix, sep, local = code.strip().partition(":")
    if not sep:
        return code.strip()
    return f"{prefix.strip().upper()}:{local.strip()}"


class Gold(BaseModel):
    """The gold diagnosis of one case: id (CURIE), label, and optional synonyms and equivalent codes."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(description="CURIE such as OMIM:154700.")
    label: str = Field(description="The disease's preferred name.")
    synonyms: tuple[str, ...] = Field(default=(), description="Other names that count as the same disease.")
    equivalent_codes: tuple[str, ...] = Field(
        default=(), description="Codes of the same disease in other systems (ORPHA, ICD-10, ...)."
    )

    @field_validator("id")
    @classmethod
    def _is_curie(cls, value: str) -> str:
        value = value.strip()
        if not _CURIE.match(value):
            raise ValueError(f"gold id {value!r} must be a CURIE such as OMIM:154700")
        return value

    @field_validator("label")
    @classmethod
    def _has_label(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("gold label must not be empty")
        return value.strip()

    @property
    def codes(self) -> frozenset[str]:
        """Every code that identifies the gold disease, normalised by :func:`normalise_code`."""
        return frozenset(normalise_code(c) for c in (self.id, *self.equivalent_codes) if c.strip())

    @property
    def names(self) -> frozenset[str]:
        """The label and synonyms folded by :func:`dxsearch.corpus.normalise_name` (empty ones dropped)."""
        folded = (normalise_name(n) for n in (self.label, *self.synonyms))
        return frozenset(n for n in folded if n)

    def matches(self, code: str | None, name: str | None) -> bool:
        """Does a diagnosis (code and/or name) denote the gold disease?"""
        if code is not None and normalise_code(code) in self.codes:
            return True
        return name is not None and bool(normalise_name(name)) and normalise_name(name) in self.names

    def matches_any_code(self, codes: tuple[str, ...]) -> bool:
        """Does a passage carrying ``codes`` concern the gold disease?"""
        gold = self.codes
        return any(normalise_code(c) in gold for c in codes)
