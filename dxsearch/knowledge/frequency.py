"""HPO annotation frequencies as numbers and words.

Written here rather than borrowed: a popular simulator on PyPI gets the HPO
frequency table wrong, and ranking, simulation and document text all depend
on it. The ``frequency`` column of ``phenotype.hpoa`` holds an HPO frequency
term, a count ``n/m`` or a percentage ``x%``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OBLIGATE = "HP:0040280"
EXCLUDED = "HP:0040285"

#: HPO frequency term -> (band label, range as written, point estimate = range midpoint).
FREQUENCY_TERMS: dict[str, tuple[str, str, float]] = {
    OBLIGATE: ("obligate", "100%", 1.0),
    "HP:0040281": ("very frequent", "80-99%", 0.895),
    "HP:0040282": ("frequent", "30-79%", 0.545),
    "HP:0040283": ("occasional", "5-29%", 0.17),
    "HP:0040284": ("very rare", "1-4%", 0.025),
    EXCLUDED: ("excluded", "0%", 0.0),
}

_COUNT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


@dataclass(frozen=True, slots=True)
class Frequency:
    """A parsed frequency: ``estimate`` in [0, 1], a human ``label``, the ``raw`` value."""

    estimate: float
    label: str
    raw: str


def band(fraction: float) -> str:
    """The HPO band a measured fraction falls in.

    Only curators assert "obligate": seeing a feature in all of m reported
    patients (or in "100%") is "very frequent", not obligate.
    """
    if fraction <= 0.0:
        return "excluded"
    if fraction >= 0.8:
        return "very frequent"
    if fraction >= 0.3:
        return "frequent"
    if fraction >= 0.05:
        return "occasional"
    return "very rare"


def parse_frequency(value: str | None) -> Frequency | None:
    """Parse an HPO frequency term, ``n/m`` or ``x%``; empty or unreadable values give ``None``."""
    if value is None or not value.strip():
        return None
    raw = value.strip()
    if raw in FREQUENCY_TERMS:
        name, span, estimate = FREQUENCY_TERMS[raw]
        return Frequency(estimate=estimate, label=f"{name}, {span}", raw=raw)
    if count := _COUNT.match(raw):
        n, m = int(count.group(1)), int(count.group(2))
        if m == 0 or n > m:
            return None
        fraction = n / m
        return Frequency(estimate=fraction, label=f"{band(fraction)}, {n}/{m} patients", raw=raw)
    if percent := _PERCENT.match(raw):
        fraction = float(percent.group(1)) / 100.0
        if fraction > 1.0:
            return None
        return Frequency(estimate=fraction, label=f"{band(fraction)}, {percent.group(1)}%", raw=raw)
    return None


def pool_frequencies(frequencies: list[Frequency]) -> Frequency | None:
    """One frequency for a term annotated several times (several sources or cohorts).

    Counts are pooled (sum n / sum m) when every value is a count, since that is
    the larger cohort; otherwise the point estimates are averaged.
    """
    if not frequencies:
        return None
    if len(frequencies) == 1:
        return frequencies[0]
    counts = [_COUNT.match(f.raw) for f in frequencies]
    if all(counts):
        n = sum(int(c.group(1)) for c in counts if c)
        m = sum(int(c.group(2)) for c in counts if c)
        return parse_frequency(f"{n}/{m}")
    estimate = sum(f.estimate for f in frequencies) / len(frequencies)
    raw = ";".join(f.raw for f in frequencies)
    return Frequency(estimate=estimate, label=f"{band(estimate)}, about {round(estimate * 100)}%", raw=raw)
