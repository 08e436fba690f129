"""Muscle strength graded on the MRC scale: "Power 4/5 in hip flexors", "ankle dorsiflexion 2/5", "deltoids 4+/5".

Why: a neurological examination writes weakness as a grade out of five beside the muscle group, and names no
finding; HPO names the weakness of that group ("Hip flexor weakness", "Foot dorsiflexor weakness"). A grade
below 5 (or "5-") of a group :data:`MUSCLE_GROUPS` knows is read as that group's weakness; full power ("5/5")
and groups it does not know are left alone. Each reading is a ``Candidate`` for the dictionary's reading, which
decides its assertion as for any mention ("his brother's hip flexors 3/5" is family history); the account marks
it read from a value.
"""

from __future__ import annotations

import re

from dxsearch.knowledge.term_lookup import Candidate

__all__ = ["MUSCLE_GROUPS", "strength_candidates"]

HIP_FLEXOR = "HP:0012515"  # Hip flexor weakness
PELVIC_GIRDLE = "HP:0003749"  # Pelvic girdle muscle weakness
QUADRICEPS = "HP:0003731"  # Quadriceps muscle weakness
FOOT_DORSIFLEXOR = "HP:0009027"  # Foot dorsiflexor weakness
ANKLE = "HP:0031374"  # Ankle weakness
NECK_FLEXOR = "HP:0003722"  # Neck flexor weakness
NECK = "HP:0000467"  # Neck muscle weakness
SHOULDER_GIRDLE = "HP:0003547"  # Shoulder girdle muscle weakness
PROXIMAL_UPPER = "HP:0008997"  # Proximal muscle weakness in upper limbs
TRICEPS = "HP:0031108"  # Triceps weakness
INTRINSIC_HAND = "HP:0009005"  # Weakness of the intrinsic hand muscles
FINGER_EXTENSOR = "HP:0009077"  # Weakness of long finger extensor muscles
FINGER_FLEXOR = "HP:0031177"  # Finger flexor weakness
DISTAL_UPPER = "HP:0008959"  # Distal upper limb muscle weakness
HIP_ADDUCTOR = "HP:0033416"  # Hip adductor weakness
PROXIMAL = "HP:0003701"  # Proximal muscle weakness
DISTAL = "HP:0002460"  # Distal muscle weakness
UPPER_LIMB = "HP:0003484"  # Upper limb muscle weakness
LOWER_LIMB = "HP:0007340"  # Lower limb muscle weakness

#: A muscle group as an examination names it (its movement or its muscles) -> the weakness HPO names for it.
MUSCLE_GROUPS: dict[str, str] = {
    **dict.fromkeys(("hip flexors", "hip flexor", "hip flexion", "iliopsoas"), HIP_FLEXOR),
    **dict.fromkeys(("hip adductors", "hip adductor", "hip adduction"), HIP_ADDUCTOR),
    **dict.fromkeys(
        ("hip extensors", "hip extensor", "hip extension", "hip abductors", "hip abductor", "hip abduction"),
        PELVIC_GIRDLE,
    ),
    **dict.fromkeys(("glutei", "gluteals"), PELVIC_GIRDLE),
    **dict.fromkeys(("quadriceps", "quads", "knee extensors", "knee extensor", "knee extension"), QUADRICEPS),
    **dict.fromkeys(
        (
            "ankle dorsiflexion",
            "ankle dorsiflexors",
            "ankle dorsiflexor",
            "foot dorsiflexion",
            "dorsiflexion",
            "dorsiflexors",
            "tibialis anterior",
        ),
        FOOT_DORSIFLEXOR,
    ),
    **dict.fromkeys(
        ("ankle plantarflexion", "plantarflexion", "plantar flexion", "plantarflexors", "ankle eversion"), ANKLE
    ),
    **dict.fromkeys(("neck flexion", "neck flexors", "neck flexor"), NECK_FLEXOR),
    **dict.fromkeys(("neck extension", "neck extensors", "neck extensor"), NECK),
    **dict.fromkeys(
        ("deltoids", "deltoid", "shoulder abduction", "shoulder abductors", "shoulder abductor"), SHOULDER_GIRDLE
    ),
    **dict.fromkeys(("biceps", "elbow flexion", "elbow flexors"), PROXIMAL_UPPER),
    **dict.fromkeys(("triceps", "elbow extension", "elbow extensors"), TRICEPS),
    **dict.fromkeys(
        ("finger abduction", "finger abductors", "interossei", "small hand muscles", "intrinsic hand muscles"),
        INTRINSIC_HAND,
    ),
    **dict.fromkeys(("finger extension", "finger extensors"), FINGER_EXTENSOR),
    **dict.fromkeys(("finger flexion", "finger flexors", "grip"), FINGER_FLEXOR),
    **dict.fromkeys(("wrist extension", "wrist extensors", "wrist flexion", "wrist flexors"), DISTAL_UPPER),
    **dict.fromkeys(("proximally", "proximal muscles", "proximal"), PROXIMAL),
    **dict.fromkeys(("distally", "distal muscles", "distal"), DISTAL),
    **dict.fromkeys(("upper limbs", "arms", "both arms", "upper extremities"), UPPER_LIMB),
    **dict.fromkeys(("lower limbs", "legs", "both legs", "lower extremities"), LOWER_LIMB),
}
# Longest first, so "hip flexion" is read before "flexion" would be; a side before the group is read past.
_GROUP = "(?:" + "|".join(re.escape(g) for g in sorted(MUSCLE_GROUPS, key=len, reverse=True)) + ")"
_SIDE = r"(?:(?:left|right|l|r|bilateral|both)\s+)?"
#: An MRC grade below full power: "4/5", "4+/5", "4-/5", "2 / 5", and "5-/5".
_WEAK = r"(?P<grade>(?:[0-4][+-]?|5-)\s*/\s*5)\b"
_PATTERNS = (
    # the group, then its grade: "ankle dorsiflexion 2/5", "deltoids 4+/5", "hip flexors: 3/5", "quads power 4/5"
    re.compile(rf"\b{_SIDE}(?P<group>{_GROUP})\s*(?:power|strength)?\s*(?:[:=]|is|was|of)?\s*{_WEAK}", re.I),
    # the grade, then its groups: "Power 4/5 in hip flexors and hip extensors", "3/5 power in both legs"
    re.compile(
        rf"{_WEAK}\s*(?:power\s+|strength\s+)?(?:in|at|of|for)\s+(?:the\s+)?{_SIDE}(?P<group>{_GROUP})\b"
        rf"(?P<more>(?:\s*(?:,|and|&)\s*(?:the\s+)?{_SIDE}{_GROUP}\b)*)",
        re.I,
    ),
)
_MORE_GROUP = re.compile(rf"\b{_SIDE}(?P<group>{_GROUP})\b", re.I)


def strength_candidates(text: str) -> list[Candidate]:
    """``(start, end, term)`` for each muscle group graded below full power (its words, with the grade when they
    are adjacent: the first group of "4/5 in hip flexors and hip extensors" spans from the grade)."""
    found: list[Candidate] = []
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            group = match.group("group")
            start, end = min(match.start("group"), match.start("grade")), max(match.end("group"), match.end("grade"))
            found.append((start, end, MUSCLE_GROUPS[_plain(group)]))
            more = match.groupdict().get("more")
            if more:
                offset = match.start("more")
                for other in _MORE_GROUP.finditer(more):
                    term_id = MUSCLE_GROUPS[_plain(other.group("group"))]
                    found.append((offset + other.start("group"), offset + other.end("group"), term_id))
    return sorted(set(found))


def _plain(group: str) -> str:
    return " ".join(group.lower().split())
