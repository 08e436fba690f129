"""How HPO names a measurement that is off: "Creatinine" high is "Elevated circulating creatinine concentration".

Why: no LOINC-to-HPO table ships in a package registry, so a measurement interpreted high, low or abnormal
(a FHIR Observation's interpretation, or a note's "ALP 850 (high)") is read the way HPO phrases such
findings. Only whole phrases the dictionary knows count; nothing is guessed.
"""

from __future__ import annotations

import re

from dxsearch.knowledge.term_lookup import TermLookup

__all__ = ["by_direction", "direction_phrases", "measured"]

#: How HPO names a measurement off in one direction, most specific first ("{}" is what was measured).
_DIRECTION_PHRASES: dict[str, tuple[str, ...]] = {
    direction: tuple(
        template.format(word=word)
        for template in (
            "{word} circulating {{}} concentration",
            "{word} circulating {{}} level",
            "{word} {{}} concentration",
            "{word} blood {{}} level",
            "{word} serum {{}} level",
            "{word} {{}} level",
            "{word} {{}}",
        )
        for word in words
    )
    for direction, words in {
        "high": ("elevated", "increased", "high"),
        "low": ("decreased", "reduced", "low"),
        "abnormal": ("abnormal",),
    }.items()
}
_QUALIFIERS = re.compile(r"\s*\[[^\]]*\]|\s*\([^)]*\)")
_COMPONENT_END = re.compile(r",|:|\s+(?:in|by|from|of)\s+(?:blood|serum|plasma|urine|csf|body|arterial|venous)\b", re.I)


def measured(name: str) -> str:
    """What a LOINC name measures, without property, system and method: "Creatinine [Mass/volume] in Serum"."""
    bare = _QUALIFIERS.sub("", name)
    return _COMPONENT_END.split(bare, maxsplit=1)[0].strip().lower()


def direction_phrases(component: str, direction: str) -> list[str]:
    """The phrases HPO uses for ``component`` being high / low / abnormal ("elevated circulating X concentration")."""
    return [phrase.format(component) for phrase in _DIRECTION_PHRASES.get(direction, ())]


def by_direction(lookup: TermLookup, name: str, direction: str) -> str | None:
    """The phenotype term a measurement off in ``direction`` names, by HPO's own phrasing of it, if any.

    What the bundle reader's small table (``fhir.LOINC_TERMS``) and the laboratory words do not name is read
    the way HPO names such findings (no full LOINC-to-HPO table ships in a package registry): "Body height"
    high is "increased body height" (a synonym of Tall stature), "Creatinine [Mass/volume] in Serum or Plasma"
    high is "elevated circulating creatinine concentration". Only whole phrases the dictionary knows count;
    nothing is guessed.
    """
    for phrase in direction_phrases(measured(name), direction):
        term_id = lookup.lookup(phrase)
        if term_id is not None:
            return term_id
    return None
