"""The ``fasthpocr`` package used bare, its index built fast from the local ``hp.obo`` and cached.

    python bench/fasthpocr_bare.py [--hp-obo PATH] [--cache DIR]     # builds (or finds) the index, prints its path

FastHPOCR 0.1.4's stock builder (``IndexHPO(hp_obo, out).index()``) parses ``hp.obo`` with pronto and
walks every term's sub- and superclasses through it, then, while serialising, scans the whole 279k-token
vocabulary once per cluster id (quadratic): it ran for over 14 CPU-minutes here without finishing. This
builder runs the package's own label pipeline unchanged (``HPOLabelCollector`` -> ``LabelProcessor`` ->
``PreprocessHPOTerms.filterTerms`` -> ``IndexTerms`` -> ``SynonymExpader``, stock configuration) and
replaces only the two slow parts: the ontology is read by a line parser that gives the pipeline what
``OntoReader`` gives it (``dxsearch.intake.second_reader.read_ontology``: names, EXACT and RELATED
synonyms, xref descriptions, names of obsolete terms as synonyms of their replacements, is_a
ancestors), and cluster lists are grouped in one pass. The index
file is the one ``HPOAnnotator`` loads, kept under a key of the ``hp.obo`` digest and the package version,
so it is built once (~20 s) and nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dxsearch.intake.second_reader import read_ontology


def build_index(hp_obo: Path, out: Path) -> Path:
    """Write FastHPOCR's ``hp.index`` for ``hp_obo`` to ``out`` (the package's pipeline, fast I/O)."""
    from FastHPOCR.cr.CRIndexKB import CRIndexKB
    from FastHPOCR.index.HPOLabelCollector import HPOLabelCollector
    from FastHPOCR.index.IndexTerms import IndexTerms
    from FastHPOCR.index.LabelProcessor import LabelProcessor
    from FastHPOCR.index.PreprocessHPOTerms import PreprocessHPOTerms
    from FastHPOCR.index.SynonymExpader import SynonymExpader
    from FastHPOCR.IndexHPO import IndexHPO

    reader = read_ontology(hp_obo)
    with contextlib.redirect_stdout(io.StringIO()):  # the label processor prints every duplicate label
        indexer = IndexHPO(str(hp_obo), str(out.parent))
        indexer.loadPrerequisites()
        preprocess = PreprocessHPOTerms.__new__(PreprocessHPOTerms)
        preprocess.processedTerms = {}
        preprocess.terms = LabelProcessor(HPOLabelCollector(reader).getTerms()).getProcessedTerms()
        preprocess.filterTerms()
        kb = CRIndexKB()
        index_terms = IndexTerms(preprocess.getProcessedTerms(), indexer.clusters, kb)
        expanded = SynonymExpader(index_terms.getTermsToIndex(), index_terms.getVoidTokens(), indexer.synClusters)
        kb.setHPOIndex(expanded.getTermsToIndex())
    by_cluster: dict[str, list[str]] = defaultdict(list)
    for token, cluster_id in indexer.clusters.items():
        by_cluster[cluster_id].append(token)
    clusters: dict[str, list[str]] = {}
    for token, cluster_id in kb.invertedClusters.items():
        clusters[cluster_id] = [token]  # as the stock serialiser: the last token seen stands for a new cluster
    for cluster_id, own in clusters.items():
        merged = list(by_cluster.get(cluster_id, []))
        merged.extend(token for token in own if token not in merged)
        clusters[cluster_id] = merged
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps({"termData": kb.hpoIndex, "clusters": clusters}), encoding="utf-8")
    partial.replace(out)
    return out


def cached_index(hp_obo: Path, cache: Path) -> Path:
    """The index of ``hp_obo`` under ``cache``, built on first use (keyed by the file digest and package version)."""
    digest = hashlib.sha256(hp_obo.read_bytes()).hexdigest()[:16]
    path = cache / f"fasthpocr-{version('fasthpocr')}-{digest}" / "hp.index"
    return path if path.is_file() else build_index(hp_obo, path)


class BareFastHpoCr:
    """``HPOAnnotator`` over the cached index, longest-match mode, nothing added: the baseline."""

    def __init__(self, index: Path, longest_match: bool = True) -> None:
        from FastHPOCR.HPOAnnotator import HPOAnnotator

        self._annotator = HPOAnnotator(str(index))
        self.longest_match = longest_match

    def annotate(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, HPO id) of every annotation."""
        found: list[Any] = self._annotator.annotate(text, longestMatch=self.longest_match)
        return [(a.startOffset, a.endOffset, a.hpoUri) for a in found]


def default_hp_obo() -> Path:
    from dxsearch.knowledge.hpo import HP_OBO
    from dxsearch.settings import get_settings

    return get_settings().hpo_data_dir / HP_OBO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hp-obo", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=Path("var/cache"))
    args = parser.parse_args(argv)
    print(cached_index(args.hp_obo or default_hp_obo(), args.cache))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
