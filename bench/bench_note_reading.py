"""Speed of reading one clinical note of about two pages, as the intake reads it (goal: under 200 ms).

    python bench/bench_note_reading.py [--repeats 20] [--pages 2] [--json OUT]

The note is made here, reproducibly: a clinic letter's sections (history, family history, examination,
investigations, plan) written in running prose and lists, mentioning real HPO names and layperson
synonyms, negated, uncertain and family-history findings, numbers and filler, ~500 words a page. Timed,
after one warm-up read (the dictionary and the second reader are built or loaded once per process; their
start-up is reported apart):

- ``read_text``: the note's account (``dxsearch.intake.account.read_text`` with the second reader), what
  ``dxsearch read --notes`` does per note;
- ``read_text, dictionary only``: the same without the second reader, to show what it costs;
- ``intake``: the whole ``intake(CaseInput(text=...))`` (account, demographics, case, checks), what
  ``POST /v1/diagnose`` does before the policy runs.

Median and worst of ``--repeats`` runs are printed, with the machine's load average beside them: on a
shared machine the worst case says more about the neighbours than about the code.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from dxsearch.intake import CaseInput, intake
from dxsearch.intake.account import read_text
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup
from dxsearch.pseudonym import Pseudonymiser

FINDINGS = [
    "tall stature",
    "arachnodactyly",
    "dislocated lenses bilaterally",
    "dilated aortic root on echo",
    "pectus excavatum",
    "joint hypermobility",
    "scoliosis",
    "long slender fingers",
    "high-arched palate",
    "striae distensae",
    "myopia",
    "flat feet",
    "recurrent UTIs",
    "mitral valve prolapse",
    "developmental delay affecting all domains",
    "generalized tonic clonic seizures",
    "decrease in fetal movements",
    "severe hypotonia",
    "brachydactyly type C",
    "café au lait spots",
]
FILLER = [
    "He attended with his mother, who gave most of the history.",
    "Growth has been followed at the local clinic since infancy, with measurements above the 99th centile.",
    "The family moved here two years ago and he attends a mainstream school with some support.",
    "Medication: none regularly; paracetamol as needed.",
    "Immunisations are up to date according to the parent-held record.",
    "He enjoys football but tires quickly and has stopped playing in matches this season.",
    "The pregnancy was otherwise uneventful and delivery was at term by spontaneous vaginal delivery.",
    "Birth weight was 3.9 kg and length 56 cm.",
]
SECTIONS = ["History of presenting complaint", "Past history", "Family history", "Examination", "Investigations"]


def make_note(pages: int, seed: int = 7) -> str:
    """A reproducible clinic letter of about ``pages`` pages (~500 words each)."""
    rng = random.Random(seed)
    lines = [
        "Clinical genetics clinic letter",
        "",
        "14 yo M referred for assessment of a possible connective tissue disorder.",
    ]
    words = 0
    while words < 500 * pages:
        for section in SECTIONS:
            lines += ["", f"{section}:"]
            picked = rng.sample(FINDINGS, 6)
            lines.append(f"He has {picked[0]}, {picked[1]} and {picked[2]}. {rng.choice(FILLER)}")
            lines.append(f"No {picked[3]} or {picked[4]}; possible {picked[5]}. {rng.choice(FILLER)}")
            if section == "Family history":
                lines.append(f"Family history of {rng.choice(FINDINGS)} in his father; no history of sudden death.")
            lines += [f"- {rng.choice(FINDINGS)}" for _ in range(3)]
            lines.append(" ".join(rng.sample(FILLER, 3)))
        words = sum(len(line.split()) for line in lines)
    return "\n".join(lines)


def _time(fn: object, repeats: int) -> list[float]:
    assert callable(fn)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - started))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    note = make_note(args.pages)
    started = time.perf_counter()
    knowledge, lookup, second = get_hpo_knowledge(), get_term_lookup(), get_second_reader()
    startup_ms = 1000 * (time.perf_counter() - started)
    pseudonymiser = Pseudonymiser("bench-key-bench-key")
    payload = CaseInput(text=note)
    read_text(note, lookup, knowledge, second)  # warm-up
    intake(payload, pseudonymiser=pseudonymiser, fallback_id="bench")
    rows = {
        "read_text": _time(lambda: read_text(note, lookup, knowledge, second), args.repeats),
        "read_text, dictionary only": _time(lambda: read_text(note, lookup, knowledge), args.repeats),
        "intake": _time(lambda: intake(payload, pseudonymiser=pseudonymiser, fallback_id="bench"), args.repeats),
    }
    account = read_text(note, lookup, knowledge, second)
    result = {
        "note_chars": len(note),
        "note_words": len(note.split()),
        "mentions": len(account.mapped),
        "findings": len(account.findings),
        "startup_ms": round(startup_ms),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        **{
            name: {"median_ms": round(statistics.median(t), 1), "max_ms": round(max(t), 1), "runs": len(t)}
            for name, t in rows.items()
        },
    }
    print(
        f"note: {result['note_words']} words, {result['note_chars']} chars; {result['mentions']} mentions, "
        f"{result['findings']} findings; start-up (dictionary + second reader, once) {result['startup_ms']} ms; "
        f"load average {result['load_average']} on {result['cpus']} CPUs"
    )
    print("| step | median ms | worst ms | runs |")
    print("|---|---|---|---|")
    for name in rows:
        row = result[name]
        assert isinstance(row, dict)
        print(f"| {name} | {row['median_ms']} | {row['max_ms']} | {row['runs']} |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
