"""Generalisation check of term recognition: HPO names and synonyms rewritten the way notes write them.

    python bench/bench_term_variants.py --sample 200 --seed 7 [--json bench/results/term_variants.json]

A sample of multi-word HPO names and EXACT synonyms (read from ``hp.obo`` here, independently of the
dictionary under test) is rewritten by generic rules, each put in a sentence, and read by
``TermLookup.mentions``:

- ``as_is``: the phrase itself;
- ``modifier``: "severe <phrase>" (skipped when that is itself a term);
- ``plural``: the last word made plural (-y -> -ies, -oma -> -omas, -s/-x -> -es, else -s);
- ``of_reorder``: "<A> of (the) <B>" -> "<B> <A>" ("Dislocation of the lens" -> "lens dislocation");
- ``participle``: a last word in -ation/-ment made a participle and moved first
  ("Aortic root dilatation" -> "dilated aortic root");
- ``negated``: "no <phrase>", expected to be read as absent.

Each reading is *exact* (the phrase's own term, with the expected assertion), *broader* (an ancestor
of it: less specific, not wrong), *wrong* (another term overlapping the phrase, or the right term with
the wrong assertion) or *missed*. Precision = (exact + broader) / (exact + broader + wrong). The sample
is taken from the dictionary's own words, so ``as_is`` should be near 100%; the other rows say how well
recognition generalises beyond exact spellings and whether it does so without wrong terms.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dxsearch.knowledge.hpo import HP_OBO, HpoKnowledge, get_hpo_knowledge
from dxsearch.knowledge.term_lookup import TermLookup, get_term_lookup

_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)" EXACT(?: ([A-Za-z_:0-9]+))?')
_OF = re.compile(r"^(?P<head>[A-Za-z-]+(?: [A-Za-z-]+)?) of (?:the )?(?P<tail>[A-Za-z- ]+)$", re.IGNORECASE)
OUTCOMES = ("exact", "broader", "wrong", "missed")


def phrases(knowledge: HpoKnowledge) -> list[tuple[str, str]]:
    """(phrase, current term id) for names and EXACT non-abbreviation synonyms of phenotypic abnormalities."""
    found: list[tuple[str, str]] = []
    term_id: str | None = None
    for raw in (knowledge.data_dir / HP_OBO).read_text(encoding="utf-8").splitlines():
        if raw.startswith("id: HP:"):
            term_id = knowledge.current_id(raw[4:].strip())
            if term_id is not None and not knowledge.is_phenotypic_abnormality(term_id):
                term_id = None
        elif raw.startswith("[") or raw.startswith("is_obsolete: true"):
            term_id = None
        elif term_id is not None and raw.startswith("name: "):
            found.append((raw[6:].strip(), term_id))
        elif term_id is not None and raw.startswith("synonym: "):
            match = _SYNONYM.match(raw[9:])
            if match and match.group(2) not in ("abbreviation", "obsolete_synonym"):
                found.append((match.group(1), term_id))
    return [(p, t) for p, t in found if len(p.split()) >= 2 and re.fullmatch(r"[A-Za-z ,'-]+", p)]


def _plural(word: str) -> str | None:
    if not word.isalpha() or word.endswith("s"):
        return None
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _participle(word: str) -> str | None:
    lower = word.lower()
    if lower.endswith("ification"):
        return lower[: -len("ification")] + "ified"
    if lower.endswith("ation") and len(lower) > 7:
        return lower[: -len("ation")] + "ed"
    if lower.endswith("ement"):
        return lower[: -len("ment")] + "d"
    if lower.endswith("ment") and len(lower) > 6:
        return lower[: -len("ment")] + "ed"
    return None


def variants(phrase: str, lookup: TermLookup) -> dict[str, str]:
    """The rewrites of ``phrase`` that apply to it, by rule name."""
    words = phrase.split()
    out = {"as_is": phrase, "negated": f"no {phrase}"}
    if lookup.lookup(f"severe {phrase}") is None:
        out["modifier"] = f"severe {phrase[0].lower()}{phrase[1:]}"
    plural = _plural(words[-1])
    if plural:
        out["plural"] = " ".join([*words[:-1], plural])
    match = _OF.match(phrase)
    if match:
        out["of_reorder"] = f"{match.group('tail')} {match.group('head').lower()}"
    participle = _participle(words[-1])
    if participle and len(words) >= 2:
        out["participle"] = " ".join([participle, *(w.lower() for w in words[:-1])])
    return out


def judge(
    lookup: TermLookup, knowledge: HpoKnowledge, sentence: str, start: int, end: int, term_id: str, absent: bool
) -> str:
    """The outcome of reading ``sentence`` where ``[start, end)`` is the rewritten phrase of ``term_id``."""
    overlapping = [m for m in lookup.mentions(sentence) if m.start < end and start < m.end]
    if not overlapping:
        return "missed"
    expected = "absent" if absent else "present"
    if any(m.term_id == term_id and m.assertion == expected for m in overlapping):
        return "exact"
    ancestors = knowledge.ancestors(term_id)
    if all(m.term_id in ancestors and m.assertion == expected for m in overlapping):
        return "broader"
    return "wrong"


def run(sample: int, seed: int, lookup: TermLookup | None = None) -> dict[str, dict[str, Any]]:
    """Outcome counts and precision per rule over ``sample`` phrases drawn with ``seed``."""
    knowledge = get_hpo_knowledge()
    lookup = lookup or get_term_lookup()
    drawn = random.Random(seed).sample(phrases(knowledge), sample)
    counts: dict[str, Counter[str]] = {}
    examples: dict[str, list[str]] = {}
    for phrase, term_id in drawn:
        for rule, text in variants(phrase, lookup).items():
            prefix = "On examination: "
            sentence = f"{prefix}{text}."
            start = len(prefix)
            outcome = judge(lookup, knowledge, sentence, start, start + len(text), term_id, rule == "negated")
            counts.setdefault(rule, Counter())[outcome] += 1
            if outcome == "wrong" and len(examples.setdefault(rule, [])) < 5:
                examples[rule].append(f"{text!r} ({term_id})")
    table: dict[str, dict[str, Any]] = {}
    for rule, counter in counts.items():
        found = counter["exact"] + counter["broader"]
        total = sum(counter.values())
        table[rule] = {
            **{outcome: counter[outcome] for outcome in OUTCOMES},
            "n": total,
            "recall_exact": round(counter["exact"] / total, 3) if total else None,
            "precision": round(found / (found + counter["wrong"]), 3) if found + counter["wrong"] else None,
            "wrong_examples": examples.get(rule, []),
        }
    return table


def main(argv: Sequence[str] | None = None, *, lookup_factory: Callable[[], TermLookup] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    table = run(args.sample, args.seed, lookup_factory() if lookup_factory else None)
    print(f"{'rule':<12}{'n':>5}{'exact':>7}{'broader':>9}{'wrong':>7}{'missed':>8}{'recall':>8}{'precision':>11}")
    for rule, row in table.items():
        print(
            f"{rule:<12}{row['n']:>5}{row['exact']:>7}{row['broader']:>9}{row['wrong']:>7}{row['missed']:>8}"
            f"{row['recall_exact']!s:>8}{row['precision']!s:>11}"
        )
        for example in row["wrong_examples"]:
            print(f"    wrong: {example}")
    if args.json is not None:
        args.json.write_text(json.dumps({"sample": args.sample, "seed": args.seed, "rules": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
