"""Labelled cases as verl RL datasets: one parquet row per case, in the layout ``RLHFDataset`` reads.

Columns (verl 0.9.1, ``verl/utils/dataset/rl_dataset.py`` and the agent loop):

* ``data_source`` — passed to the reward function; ``ability`` — informational;
* ``agent_name`` — ``tool_agent``: the agent loop that runs this row (verl's ``ToolAgentLoop``);
* ``prompt`` — the chat messages: the tool-variant system prompt and :func:`render_case` (no case id);
* ``reward_model`` — ``{"style": "rule", "ground_truth": <rewards.gold.Gold as JSON>}``;
* ``extra_info`` — ``split``, ``index`` (unique per row; verl groups rollouts by it), ``case_id``,
  ``pmid``, ``prompt_version``, ``need_tools_kwargs`` and ``tools_kwargs`` =
  ``{"retrieve": {"create_kwargs": {"case": <Case as a dict>, "exclude_doc_ids": [...]}}}``, which
  ``RLHFDataset.__getitem__`` lifts out and ``ToolAgentLoop`` hands to ``RetrieveTool.create``.

The gold never reaches the tool or the prompt; only the reward reads ``ground_truth``.

**Held-out cases never go into a train split.** The split is named explicitly (``train``,
``validation`` or ``test``), and a ``train`` export must be given the held-out cases (``heldout=``,
``--heldout FILE``): any case sharing a publication (PMID) or case id with them is refused with
:class:`HeldOutLeakError`, because cases of one publication share authors, phrasing and often a
family. Write held-out sets with ``corpus-builder simulate-cases`` (its ``heldout.jsonl``) or keep the
files the benchmark evaluates on; export them only as ``validation``/``test``.

With ``--index``, each case's own-publication patient records are hidden from its episodes (the rule
``dxsearch eval`` applies, so an index-side case cannot find itself or its family) and the gold gets
equivalent codes (:class:`dxsearch.evaluation.GoldMatcher`) and the titles of its disease-knowledge
documents as synonyms (never patient-record titles, which would pay a policy for naming a record).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import pyarrow as pa
import pyarrow.parquet as pq

from dxsearch.cases import Case, LabelledCase, load_labelled_cases
from dxsearch.intake.splits import split_key
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.train.data import gold_for
from dxsearch.train.verl.calls import TOOL_NAME
from dxsearch.train.verl.prompt import TOOL_PROMPT_VERSION, build_prompt
from rewards.gold import Gold

Split = Literal["train", "validation", "test"]
SPLITS: tuple[str, ...] = get_args(Split)
DATA_SOURCE = "dxsearch"
ABILITY = "diagnosis"
AGENT_NAME = "tool_agent"

_FINDING = pa.struct([("label", pa.string()), ("hpo_id", pa.string()), ("excluded", pa.bool_())])
_CASE = pa.struct(
    [
        ("case_id", pa.string()),
        ("sex", pa.string()),
        ("age", pa.string()),
        ("findings", pa.list_(_FINDING)),
        ("text", pa.string()),
        ("inheritance", pa.list_(pa.string())),
        ("onset", pa.string()),
    ]
)
_CREATE_KWARGS = pa.struct([("case", _CASE), ("exclude_doc_ids", pa.list_(pa.string()))])
#: The parquet schema, explicit so that files of one dataset always concatenate (verl concatenates
#: ``data.train_files``) — inferred types would differ, e.g. where every ``exclude_doc_ids`` is empty.
SCHEMA = pa.schema(
    [
        ("data_source", pa.string()),
        ("agent_name", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        (
            "extra_info",
            pa.struct(
                [
                    ("split", pa.string()),
                    ("index", pa.int64()),
                    ("case_id", pa.string()),
                    ("pmid", pa.string()),
                    ("prompt_version", pa.string()),
                    ("need_tools_kwargs", pa.bool_()),
                    ("tools_kwargs", pa.struct([(TOOL_NAME, pa.struct([("create_kwargs", _CREATE_KWARGS)]))])),
                ]
            ),
        ),
    ]
)


class HeldOutLeakError(ValueError):
    """A train export would contain a case from the held-out side of the split."""


def publication_key(labelled: LabelledCase) -> str:
    """The unit a split is made of: the PMID (``PMID:1`` == ``1``), else the case id (dxsearch.intake.splits)."""
    return split_key(labelled.pmid, labelled.case.case_id)


def check_no_heldout(cases: Iterable[LabelledCase], heldout: Iterable[LabelledCase]) -> None:
    """Raise :class:`HeldOutLeakError` if any case shares a publication or case id with a held-out case."""
    held = list(heldout)
    held_keys = {publication_key(h) for h in held}
    held_ids = {h.case.case_id for h in held}
    leaks = [c.case.case_id for c in cases if publication_key(c) in held_keys or c.case.case_id in held_ids]
    if leaks:
        shown = ", ".join(leaks[:5]) + (" …" if len(leaks) > 5 else "")
        raise HeldOutLeakError(f"{len(leaks)} held-out case(s) cannot go into a train split: {shown}")


def _case_dict(case: Case) -> dict[str, Any]:
    dumped = case.model_dump(mode="json")
    expected = [f.name for f in _CASE]
    if sorted(dumped) != sorted(expected):  # Case changed: extend the schema rather than drop a field silently
        raise RuntimeError(f"Case fields {sorted(dumped)} differ from the parquet schema's {sorted(expected)}")
    return dumped


def build_row(
    labelled: LabelledCase,
    *,
    index: int,
    split: Split,
    gold: Gold | None = None,
    exclude_doc_ids: Collection[str] = (),
    data_source: str = DATA_SOURCE,
) -> dict[str, Any]:
    """One dataset row; ``gold`` defaults to the case's gold id and label."""
    answer = gold or Gold(id=labelled.gold.id, label=labelled.gold.label)
    create_kwargs = {"case": _case_dict(labelled.case), "exclude_doc_ids": sorted(exclude_doc_ids)}
    return {
        "data_source": data_source,
        "agent_name": AGENT_NAME,
        "prompt": build_prompt(labelled.case),
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": answer.model_dump_json()},
        "extra_info": {
            "split": split,
            "index": index,
            "case_id": labelled.case.case_id,
            "pmid": labelled.pmid,
            "prompt_version": TOOL_PROMPT_VERSION,
            "need_tools_kwargs": True,
            "tools_kwargs": {TOOL_NAME: {"create_kwargs": create_kwargs}},
        },
    }


def export_parquet(
    cases: Sequence[LabelledCase],
    path: Path,
    *,
    split: Split,
    heldout: Iterable[LabelledCase] | None = None,
    exclude_doc_ids: Callable[[LabelledCase], Collection[str]] | None = None,
    gold: Callable[[LabelledCase], Gold] | None = None,
    data_source: str = DATA_SOURCE,
) -> int:
    """Write ``cases`` as one verl parquet file for ``split``; returns the number of rows.

    ``split="train"`` requires ``heldout`` (the held-out cases, possibly empty if nothing is held
    out) and refuses any case on their side (:class:`HeldOutLeakError`). ``exclude_doc_ids`` gives the
    documents to hide from a case's episodes; ``gold`` the full gold (synonyms, equivalent codes).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "train":
        if heldout is None:
            raise ValueError("a train export needs the held-out cases (heldout=...) to prove none of them leak in")
        check_no_heldout(cases, heldout)
    rows = [
        build_row(
            labelled,
            index=position,
            split=split,
            gold=gold(labelled) if gold else None,
            exclude_doc_ids=exclude_doc_ids(labelled) if exclude_doc_ids else (),
            data_source=data_source,
        )
        for position, labelled in enumerate(cases)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    pq.write_table(table, path)
    return len(rows)


# -- golds and hidden documents from an index; the command line ------------------------------------


def index_helpers(
    index: EmbeddedIndex,
) -> tuple[Callable[[LabelledCase], Collection[str]], Callable[[LabelledCase], Gold]]:
    """From an index: each case's own-publication records to hide, and its gold with the corpus's codes and names."""
    from dxsearch.evaluation import GoldMatcher, publication_documents

    hidden = publication_documents(index)
    matcher = GoldMatcher(index)

    def exclude(labelled: LabelledCase) -> Collection[str]:
        return hidden.get(labelled.pmid or "", frozenset())

    def enriched(labelled: LabelledCase) -> Gold:
        return gold_for(labelled, matcher)

    return exclude, enriched


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dxsearch.train.verl.export",
        description=(
            "Write labelled cases (phenopacket JSONL) as a verl RL parquet file for DxSearch's retrieve tool. "
            "Held-out cases never go into a train split: a train export needs --heldout, and fails if any "
            "case shares a publication or case id with a held-out case."
        ),
        epilog=(
            "example: corpus-builder simulate-cases --out var/sim && "
            "python -m dxsearch.train.verl.export --cases var/sim/indexed.jsonl --heldout var/sim/heldout.jsonl "
            "--split train --index var/index --out var/verl/train.parquet"
        ),
    )
    parser.add_argument("--cases", type=Path, action="append", required=True, help="case file (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="parquet file to write")
    parser.add_argument("--split", choices=SPLITS, required=True, help="which split this file is")
    parser.add_argument(
        "--heldout",
        type=Path,
        action="append",
        default=[],
        help="held-out cases to check against (repeatable; required for --split train)",
    )
    parser.add_argument(
        "--index",
        type=Path,
        default=None,
        help="index directory: hide each case's own-publication records, enrich golds with equivalent codes",
    )
    parser.add_argument("--data-source", default=DATA_SOURCE, help=f"data_source column (default {DATA_SOURCE})")
    parser.add_argument("--limit", type=int, default=None, help="export only the first N cases")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for bad input, with one line saying why)."""
    args = _parser().parse_args(argv)
    if args.split == "train" and not args.heldout:
        print("error: --split train needs --heldout FILE (the held-out cases it must not contain)", file=sys.stderr)
        return 2
    try:
        cases = [c for path in args.cases for c in load_labelled_cases(path)][: args.limit]
        heldout = [c for path in args.heldout for c in load_labelled_cases(path)]
        exclude, gold = index_helpers(EmbeddedIndex(args.index)) if args.index is not None else (None, None)
        written = export_parquet(
            cases,
            args.out,
            split=args.split,
            heldout=heldout if args.split == "train" else None,
            exclude_doc_ids=exclude,
            gold=gold,
            data_source=args.data_source,
        )
    except (OSError, ValueError) as exc:  # CaseFileError and HeldOutLeakError are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written} {args.split} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
