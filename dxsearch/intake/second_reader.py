"""A second recogniser for notes: FastHPOCR's matching over a slim index built once from the local ``hp.obo``.

Why: the dictionary of :mod:`dxsearch.knowledge.term_lookup` matches names and synonyms in their own words
and order, and a bag of crude stems. FastHPOCR (Groza et al. 2024, MIT) matches a window of words as a
*set of word clusters*: its 279k-word vocabulary groups forms of a word (myoclonus / myoclonias) and a few
generic words (anomaly / involvement / manifestation, tumor / cancer, skin / cutaneous), and word order is
free ("brachydactyly type C" is Type C brachydactyly, "anomalies of the facial nerve" Abnormal seventh
cranial physiology). On the development split of GSC+ (45 abstracts) it raised the intake's recall by
0.06 at a cost of 0.005 precision (``bench/bench_concept_recognition.py``, README). Its proposals only
*add* words to a mention: the dictionary's reading decides the assertion and keeps its own match where it
covers as many words, and one-word proposals are not taken (they were its false positives: "slow" as
Lethargy, "collected" as Collectionism).

How: the package's own label pipeline runs once on ``hp.obo`` (stock configuration; its stock index builder
runs for over 14 CPU-minutes, this one ~5 s) and only what matching needs is kept: word -> cluster for
words of clusters that occur in some label, cluster-set signature -> term ids by length, and per term
whether a label of that signature and length is native (not a synonym expansion). The slim index is a
JSON file (~17 MB) in ``Settings.derived_dir`` (``share/dxsearch/derived`` of the environment), keyed by
the ``hp.obo`` digest and the package version; nothing is downloaded. Matching is the package's (``TextProcessor``,
``CandidateMatcher``, ``FormatResults`` in longest-match mode) over the part of ``CRIndexKB`` they
call, answered from that file.

Long notes are read in pieces (:func:`note_pieces`): FastHPOCR's ``FormatResults.compressCandidate`` finds
a match's first word by a running minimum of word indices that starts at 10,000, so a match past the
10,000th token (a word or a punctuation mark, e.g. ~52,000 characters of "He has seizures and hypotonia. ")
gets start offset -1. Its position key "-1-<end>-<id>" then breaks the next match's comparison with
``ValueError: invalid literal for int() with base 10: ''`` (the note could not be read at all), and a lone
such match is silently dropped. It is the token count, not the character count or any character: 60,000
characters in a few words read fine.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dxsearch.knowledge.hpo import HP_OBO, HpoKnowledge, get_hpo_knowledge
from dxsearch.knowledge.term_lookup import LINKING_VERBS, Candidate, obo_stanzas, unescape_obo
from dxsearch.settings import get_settings

__all__ = ["FastHpoCrReader", "build_slim_index", "default_cache_dir", "get_second_reader", "note_pieces"]

#: Bumped when the slim file's layout changes (part of the cache key).
SLIM_FORMAT = 1
_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)" (EXACT|RELATED|BROAD|NARROW)')
_XREF_DESCRIPTION = re.compile(r'^\S+ "((?:[^"\\]|\\.)*)"')
_PHENOTYPIC_ABNORMALITY = "HP:0000118"
#: The longest piece of a note FastHPOCR reads at once. A token takes at least one character, so a piece this
#: long holds at most 10,000 tokens: under the word index past which the package loses a match's start.
PIECE_CHARS = 10_000
#: Where a piece may end, best first: after punctuation that ends a sentence or clause (FastHPOCR ends a
#: candidate there, so no mention crosses it), at a line break, at any space; else inside a 10,000-character word.
_PIECE_BREAKS = (re.compile(r"[.!?;:,]\s"), re.compile(r"\n"), re.compile(r"\s"))


def read_ontology(hp_obo: Path) -> SimpleNamespace:
    """What FastHPOCR's pronto-based ``OntoReader`` gives its label collector, read line by line.

    ``terms`` (id -> name), ``synonyms`` (EXACT and RELATED synonyms, xref descriptions, and the names of
    obsolete terms under their replacement) and ``allSuperClasses`` (is_a ancestors).
    """
    terms: dict[str, str] = {}
    synonyms: dict[str, list[str]] = {}
    parents: dict[str, list[str]] = {}
    for stanza in obo_stanzas(hp_obo):
        term_id, name = stanza.get("id", [""])[0], stanza.get("name", [""])[0]
        if not term_id or not name:
            continue
        if stanza.get("is_obsolete") == ["true"]:
            replacement = stanza.get("replaced_by", [""])[0]
            if replacement:
                found = synonyms.setdefault(replacement, [])
                if name not in found:
                    found.append(name.replace("obsolete", "").strip())
            continue
        terms[term_id] = name
        found = synonyms.setdefault(term_id, [])
        for value in stanza.get("synonym", []):
            match = _SYNONYM.match(value)
            if match and match.group(2) in ("EXACT", "RELATED") and unescape_obo(match.group(1)) not in found:
                found.append(unescape_obo(match.group(1)))
        for value in stanza.get("xref", []):
            match = _XREF_DESCRIPTION.match(value)
            if match and unescape_obo(match.group(1)) not in found:
                found.append(unescape_obo(match.group(1)))
        parents[term_id] = [value.split()[0] for value in stanza.get("is_a", [])]
    ancestors: dict[str, frozenset[str]] = {}
    for term_id in terms:  # iterative closure: hp.obo is a DAG, ~19k terms
        stack = [term_id]
        while stack:
            current = stack[-1]
            pending = [p for p in parents.get(current, ()) if p not in ancestors]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if current not in ancestors:
                closure: set[str] = set()
                for parent in parents.get(current, ()):
                    closure.add(parent)
                    closure |= ancestors[parent]
                ancestors[current] = frozenset(closure)
    return SimpleNamespace(
        terms=terms,
        synonyms=synonyms,
        allSuperClasses={term_id: ancestors.get(term_id, frozenset()) for term_id in terms},
        abn_classes=[t for t, p in parents.items() if _PHENOTYPIC_ABNORMALITY in p],
    )


def build_slim_index(hp_obo: Path) -> dict[str, Any]:
    """The slim matching tables of FastHPOCR's index of ``hp_obo`` (its label pipeline, stock configuration)."""
    from FastHPOCR.cr.CRIndexKB import CRIndexKB
    from FastHPOCR.index.HPOLabelCollector import HPOLabelCollector
    from FastHPOCR.index.IndexTerms import IndexTerms
    from FastHPOCR.index.LabelProcessor import LabelProcessor
    from FastHPOCR.index.PreprocessHPOTerms import PreprocessHPOTerms
    from FastHPOCR.index.SynonymExpader import SynonymExpader
    from FastHPOCR.IndexHPO import IndexHPO
    from FastHPOCR.util.ContentUtil import clusterSignature

    reader = read_ontology(hp_obo)
    with contextlib.redirect_stdout(io.StringIO()):  # the label processor prints every duplicate label
        indexer = IndexHPO(str(hp_obo), ".")
        indexer.loadPrerequisites()
        preprocess = PreprocessHPOTerms.__new__(PreprocessHPOTerms)
        preprocess.processedTerms = {}
        preprocess.terms = LabelProcessor(HPOLabelCollector(reader).getTerms()).getProcessedTerms()
        preprocess.filterTerms()
        kb = CRIndexKB()
        index_terms = IndexTerms(preprocess.getProcessedTerms(), indexer.clusters, kb)
        expanded = SynonymExpader(index_terms.getTermsToIndex(), index_terms.getVoidTokens(), indexer.synClusters)
    signatures: dict[str, dict[str, list[str]]] = {}
    native: dict[str, dict[str, list[list[int]]]] = {}
    used: set[str] = set()
    for uri, entry in expanded.getTermsToIndex().items():
        per_signature: dict[str, set[tuple[int, int]]] = defaultdict(set)
        for label in entry["labels"]:
            signature = clusterSignature(label["tokenSet"])
            used.update(label["tokenSet"])
            by_length = signatures.setdefault(signature, {})
            uris = by_length.setdefault(str(label["length"]), [])
            if uri not in uris:
                uris.append(uri)
            per_signature[signature].add((label["length"], int(label["native"])))
        native[uri] = {sig: sorted([list(pair) for pair in pairs]) for sig, pairs in per_signature.items()}
    words = {word: cluster for word, cluster in indexer.clusters.items() if cluster in used}
    words.update({word: cluster for word, cluster in kb.invertedClusters.items() if cluster in used})
    return {"format": SLIM_FORMAT, "words": words, "signatures": signatures, "labels": native}


def default_cache_dir() -> Path:
    """``Settings.derived_dir`` (``share/dxsearch/derived`` of the environment): beside the HPO files, never
    among them, and shared with the other tables derived from them (:mod:`dxsearch.knowledge.derived`)."""
    return get_settings().derived_dir


def cached_slim_index(hp_obo: Path, cache_dir: Path) -> dict[str, Any]:
    """The slim tables of ``hp_obo``, read from ``cache_dir`` or built and written there (temp file, rename).

    A cache that cannot be written (a read-only environment) costs a build per process, with a note on stderr.
    """
    digest = hashlib.sha256(hp_obo.read_bytes()).hexdigest()[:16]
    path = cache_dir / f"fasthpocr-{version('fasthpocr')}-slim{SLIM_FORMAT}-{digest}.json"
    if path.is_file():
        tables: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return tables
    tables = build_slim_index(hp_obo)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cache_dir, suffix=".partial", delete=False, encoding="utf-8") as out:
            json.dump(tables, out, separators=(",", ":"))
        Path(out.name).replace(path)
    except OSError as exc:
        print(f"dxsearch: second reader index not cached ({exc}); built for this process only", file=sys.stderr)
    return tables


class _SlimIndex:
    """The part of FastHPOCR's ``CRIndexKB`` its matcher calls, over the slim tables, converted when asked."""

    def __init__(
        self, words: dict[str, str], signatures: dict[str, dict[str, list[str]]], labels: dict[str, Any]
    ) -> None:
        self._words = words
        self._signatures = signatures
        self._labels = labels

    def getClusterId(self, token: str) -> str:  # noqa: N802 (FastHPOCR's interface)
        return self._words.get(token, "NULL")

    def getClusterBasedTerms(self, signature: str) -> dict[int, list[str]] | None:  # noqa: N802
        by_length = self._signatures.get(signature)
        return None if by_length is None else {int(length): uris for length, uris in by_length.items()}

    def getLabelsForUri(self, uri: str, signature: str) -> list[dict[str, Any]]:  # noqa: N802
        pairs = self._labels[uri][signature]
        return [{"length": n, "native": bool(v), "originalLabel": ""} for n, v in pairs]

    def getCategoriesForUri(self, uri: str) -> list[Any]:  # noqa: N802
        return []


def _piece_end(text: str, start: int, stop: int) -> int:
    """Where the piece from ``start`` ends, at most at ``stop``: after the last, best break in between."""
    for pattern in _PIECE_BREAKS:
        last = max((match.end() for match in pattern.finditer(text, start, stop)), default=None)
        if last is not None:
            return last
    return stop


def note_pieces(text: str, limit: int = PIECE_CHARS) -> Iterator[tuple[int, str]]:
    """``(offset, piece)`` pieces of ``text`` of at most ``limit`` characters, in order and covering it.

    Why: FastHPOCR loses matches past its 10,000th token (module docstring); pieces ending at sentence ends
    keep every mention whole, so a long note yields what its pieces yield, offsets shifted back.
    """
    start = 0
    while len(text) - start > limit:
        end = _piece_end(text, start, start + limit)
        yield start, text[start:end]
        start = end
    yield start, text[start:]


#: Words that change what a span means, which a proposal must not read past (see ``_says_its_words``).
_MEANING_WORDS = (
    LINKING_VERBS
    | {"absent", "no", "not", "without", "negative", "normal", "unremarkable", "never", "denies", "denied"}
    | {"infancy", "infant", "infantile", "childhood", "neonatal", "newborn", "congenital", "adult", "adulthood"}
    | {"juvenile", "adolescent", "adolescence", "prenatal", "antenatal", "fetal", "late", "early"}
)


#: Words of a term's name that change what it means, each with the words that say the same, which a span must
#: say for a proposal to be taken (see ``_keeps_its_qualifiers``): FastHPOCR reads "social interactions" as No
#: social interaction, "seizure onset" as Generalized-onset seizure, "viral infection" as Recurrent viral
#: infections, its word clusters holding these qualifiers as words it may skip.
_QUALIFIER_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"no", "absent", "absence", "lack", "lacking", "loss", "without", "missing", "aplasia", "agenesis"}),
    frozenset({"generalized", "generalised", "generalization", "generalisation"}),
    frozenset({"focal"}),
    frozenset({"unilateral", "one", "left", "right"}),
    frozenset({"bilateral", "both", "bilaterally"}),
    frozenset({"recurrent", "recurring", "repeated", "frequent", "episodes", "multiple"}),
)


#: Marks a proposal may not span: brackets, a semicolon, a colon.
_CLAUSE_MARKS = re.compile(r"[()\[\];:]")


class FastHpoCrReader:
    """Proposes (start, end, HPO id) spans of two words or more, phenotypic abnormalities, ids made current."""

    def __init__(self, tables: dict[str, Any], knowledge: HpoKnowledge) -> None:
        self._kb = _SlimIndex(tables["words"], tables["signatures"], tables["labels"])
        self._knowledge = knowledge

    def candidates(self, text: str) -> list[Candidate]:
        """The proposals for ``text``, read piece by piece (:func:`note_pieces`) so a note of any length reads."""
        found: list[Candidate] = []
        for offset, piece in note_pieces(text):
            found.extend((start + offset, end + offset, term_id) for start, end, term_id in self._read(piece))
        return found

    def _read(self, text: str) -> list[Candidate]:
        """One call of FastHPOCR's matching: ``text`` must hold at most 10,000 tokens (``PIECE_CHARS``)."""
        from FastHPOCR.cr.CandidateMatcher import CandidateMatcher
        from FastHPOCR.cr.FormatResults import FormatResults
        from FastHPOCR.cr.TextProcessor import TextProcessor

        processor = TextProcessor(self._kb)
        processor.process(text)
        matcher = CandidateMatcher(self._kb)
        matcher.matchCandidates(processor.getCandidates())
        found: list[Candidate] = []
        for annotation in FormatResults(text, self._kb, matcher.getMatches(), True).getResult():
            start, end = annotation.startOffset, annotation.endOffset
            term_id = self._knowledge.current_id(annotation.hpoUri)
            if term_id is None or not self._knowledge.is_phenotypic_abnormality(term_id):
                continue
            words = re.findall(r"[a-z]+", text[start:end].lower())
            if _CLAUSE_MARKS.search(text, start, end):
                continue  # "(low), ALP" is not Decreased ALP: a proposal does not run across brackets or clauses
            if len(words) >= 2 and self._says_its_words(term_id, words) and self._keeps_its_qualifiers(term_id, words):
                found.append((start, end, term_id))
        return found

    def _says_its_words(self, term_id: str, words: list[str]) -> bool:
        """Whether the term's names hold every word of the span that changes what it means.

        FastHPOCR matches word stems and clusters: "manifestations affecting" met Abnormal affect, "seizures
        absent" Absence seizure, "seizures in infancy" Neonatal seizure. A linking verb, a negation or an age
        period the term does not spell is a word the proposal reads past.
        """
        said = _MEANING_WORDS.intersection(words)
        if not said:
            return True
        spelled = {word for name in self._names(term_id) for word in re.findall(r"[a-z]+", name.lower())}
        return said <= spelled

    def _keeps_its_qualifiers(self, term_id: str, words: list[str]) -> bool:
        """Whether some name of the term has no qualifier (:data:`_QUALIFIER_GROUPS`) the span does not say.

        The other direction of :meth:`_says_its_words`: a proposal must not read a negation, a distribution or
        a recurrence into words that do not state it.
        """
        said = set(words)
        for name in self._names(term_id):
            spelled = set(re.findall(r"[a-z]+", name.lower()))
            if not any(group & spelled and not group & said for group in _QUALIFIER_GROUPS):
                return True
        return False

    def _names(self, term_id: str) -> list[str]:
        text = self._knowledge.term_text(term_id)
        return [self._knowledge.term_name(term_id), *(text.synonyms if text is not None else ())]


@lru_cache(maxsize=1)
def get_second_reader() -> FastHpoCrReader | None:
    """The process-wide second reader over ``get_hpo_knowledge()``'s ``hp.obo``; ``None`` without FastHPOCR."""
    try:
        version("fasthpocr")
    except PackageNotFoundError:
        print("dxsearch: FastHPOCR is not installed; notes are read by the dictionary alone", file=sys.stderr)
        return None
    knowledge = get_hpo_knowledge()
    return FastHpoCrReader(cached_slim_index(knowledge.data_dir / HP_OBO, default_cache_dir()), knowledge)
