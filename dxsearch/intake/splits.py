"""Deterministic index / held-out split by publication.

Cases from one publication share authors, phrasing and often a family: if some
were indexed and others evaluated, case-based retrieval would find the
evaluation case's siblings and look far better than it is on new patients.
So the unit of the split is the publication (the PMID), never the case, and the
side is a pure function of a salted hash: no state, no order dependence, the
same split on every machine and every rebuild. A case without a PMID is its
own unit.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Side = Literal["index", "heldout"]

DEFAULT_SALT = "dxsearch-split-v1"
DEFAULT_HELDOUT_FRACTION = 0.2


def split_key(pmid: str | None, case_id: str) -> str:
    """The unit that decides the side: the normalised PMID, else the case id."""
    if pmid is not None and pmid.strip():
        local = pmid.strip()
        if local.upper().startswith("PMID:"):
            local = local[5:].strip()
        return f"pmid:{local}"
    return f"case:{case_id}"


def publication_split(
    pmid: str | None,
    case_id: str,
    *,
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
    salt: str = DEFAULT_SALT,
) -> Side:
    """``"heldout"`` for about ``heldout_fraction`` of publications, ``"index"`` for the rest.

    ``PMID:123`` and ``123`` are the same publication. Changing ``salt`` draws
    a new, independent split.
    """
    if not 0.0 <= heldout_fraction <= 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1], got {heldout_fraction}")
    return "heldout" if split_position(pmid, case_id, salt=salt) < heldout_fraction else "index"


def split_position(pmid: str | None, case_id: str, *, salt: str = DEFAULT_SALT) -> float:
    """The publication's place in [0, 1) under ``salt``: a uniform draw, the same on every machine.

    Sides and tuning folds are ranges of it, so one salt gives disjoint folds of any share.
    """
    digest = hashlib.sha256(f"{salt}\x1f{split_key(pmid, case_id)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
