"""The derived-data cache: a table is read back only while its sources, exclusions and code are the same,
and what is read back ranks exactly as what is derived from scratch."""

from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from dxsearch.baselines.enrichment import EnrichmentModel
from dxsearch.knowledge.derived import KEEP_PER_KIND, DerivedCache, cache_key, code_digest
from dxsearch.knowledge.hpo import GENES_TO_PHENOTYPE, HP_OBO, PHENOTYPE_HPOA, AnnotationTables, HpoKnowledge
from dxsearch.knowledge.similarity import PhenotypeSimilarity
from dxsearch.knowledge.term_lookup import TermLookup, lookup_key
from dxsearch.settings import get_settings

#: Diseases the small release below keeps: Marfan, Loeys-Dietz 1, Ehlers-Danlos (classic), SPG10, Orphanet Marfan.
DISEASES = ("OMIM:154700", "OMIM:609192", "OMIM:130000", "OMIM:604187", "ORPHA:558")
MARFAN_FINDINGS = ["HP:0001166", "HP:0001083", "HP:0000098", "HP:0002616"]


# -- the cache itself ------------------------------------------------------------------------------------------


def test_builds_once_then_reads_the_file(tmp_path: Path) -> None:
    cache = DerivedCache(tmp_path)
    builds: list[int] = []

    def build() -> dict[str, list[int]]:
        builds.append(1)
        return {"rows": [1, 2, 3]}

    assert cache.load_or_build("table", "k1", build) == {"rows": [1, 2, 3]}
    assert cache.load_or_build("table", "k1", build) == {"rows": [1, 2, 3]}
    assert len(builds) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["table-k1.pickle"]
    assert cache.load_or_build("table", "k2", build) == {"rows": [1, 2, 3]}  # another key: built again
    assert len(builds) == 2


def test_without_a_directory_every_call_builds(tmp_path: Path) -> None:
    builds: list[int] = []

    def build() -> str:
        builds.append(1)
        return "value"

    cache = DerivedCache(None)
    for _ in range(2):
        cache.load_or_build("table", "k", build)
    assert len(builds) == 2 and cache.path("table", "k") is None


def test_an_unreadable_file_is_rebuilt_and_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = DerivedCache(tmp_path)
    path = cache.path("table", "k")
    assert path is not None
    path.write_bytes(b"not a pickle")
    assert cache.load_or_build("table", "k", lambda: [42]) == [42]
    assert "unreadable" in capsys.readouterr().err
    assert pickle.loads(path.read_bytes()) == [42]


def test_an_unwritable_directory_still_gives_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert DerivedCache(blocked / "cache").load_or_build("table", "k", lambda: [7]) == [7]
    assert "not cached" in capsys.readouterr().err
    assert not list(tmp_path.glob("**/*.partial"))


def test_only_the_most_recently_used_files_of_a_kind_are_kept(tmp_path: Path) -> None:
    cache = DerivedCache(tmp_path)
    for i in range(KEEP_PER_KIND + 2):
        cache.load_or_build("table", f"k{i}", lambda: "value")
        path = cache.path("table", f"k{i}")
        assert path is not None
        os.utime(path, (1000 + i, 1000 + i))  # distinct ages, oldest first
    cache.load_or_build("other", "k", lambda: 0)
    cache.load_or_build("table", "k0", lambda: 0)  # rebuilt (it was pruned), newest now
    kept = sorted(p.name for p in tmp_path.glob("table-*.pickle"))
    assert len(kept) == KEEP_PER_KIND and "table-k0.pickle" in kept and "table-k1.pickle" not in kept
    assert (tmp_path / "other-k.pickle").is_file()  # another kind is never pruned by this one


def test_the_key_names_every_part_in_any_order() -> None:
    assert cache_key({"a": "1", "b": "2"}) == cache_key({"b": "2", "a": "1"})
    assert cache_key({"a": "1", "b": "2"}) != cache_key({"a": "1", "b": "3"})
    assert cache_key({"a": "1"}) != cache_key({"a": "1", "b": ""})


def test_editing_the_deriving_code_changes_its_digest(tmp_path: Path) -> None:
    source = tmp_path / "deriving.py"
    source.write_text("X = 1\n")
    module = types.ModuleType("deriving")
    module.__file__ = str(source)
    before = code_digest([module])
    source.write_text("X = 2\n")
    os.utime(source, ns=(source.stat().st_mtime_ns + 1_000_000, source.stat().st_mtime_ns + 1_000_000))
    assert code_digest([module]) != before
    assert code_digest([sys.modules[__name__]]) == code_digest([sys.modules[__name__]])


# -- the disease knowledge, on a small release ------------------------------------------------------------------


@pytest.fixture(scope="module")
def release_rows() -> tuple[list[str], list[str]]:
    """Header lines and the rows of ``DISEASES`` from the real ``phenotype.hpoa``."""
    header: list[str] = []
    rows: list[str] = []
    with (get_settings().hpo_data_dir / PHENOTYPE_HPOA).open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(("#", "database_id")):
                header.append(line)
            elif line.split("\t", 1)[0] in DISEASES:
                rows.append(line)
    return header, rows


@pytest.fixture
def release(tmp_path: Path, release_rows: tuple[list[str], list[str]]) -> Path:
    """A data directory: the real ``hp.obo``, the annotation rows and gene links of five diseases."""
    data = tmp_path / "release"
    data.mkdir()
    real = get_settings().hpo_data_dir
    (data / HP_OBO).symlink_to(real / HP_OBO)
    header, rows = release_rows
    (data / PHENOTYPE_HPOA).write_text("".join(header + rows), encoding="utf-8")
    with (real / GENES_TO_PHENOTYPE).open(encoding="utf-8") as handle:
        genes = [next(handle)] + [line for line in handle if line.rstrip("\n").rsplit("\t", 1)[-1] in DISEASES]
    (data / GENES_TO_PHENOTYPE).write_text("".join(genes), encoding="utf-8")
    return data


def _not_parsed(knowledge: HpoKnowledge) -> HpoKnowledge:
    def refuse() -> AnnotationTables:
        raise AssertionError("the tables were parsed, not read from the cache")

    knowledge._parse_tables = refuse  # type: ignore[method-assign]
    return knowledge


def test_tables_read_back_equal_the_tables_parsed_from_scratch(release: Path, tmp_path: Path) -> None:
    cache = DerivedCache(tmp_path / "derived")
    built = HpoKnowledge(release, cache=cache).tables
    read_back = _not_parsed(HpoKnowledge(release, cache=cache))
    scratch = HpoKnowledge(release)
    assert read_back.tables == scratch.tables == built
    assert set(read_back.disease_ids()) == set(DISEASES)
    for disease_id in DISEASES:
        assert read_back.disease(disease_id) == scratch.disease(disease_id)
    assert read_back.information_content("HP:0001166") == scratch.information_content("HP:0001166") > 0


def test_findings_are_read_without_the_annotation_tables(release: Path, tmp_path: Path) -> None:
    knowledge = _not_parsed(HpoKnowledge(release, cache=DerivedCache(tmp_path / "derived")))
    assert knowledge.current_id("HP:0001166") == "HP:0001166"
    assert knowledge.term_name("HP:0001166") == "Arachnodactyly"
    assert knowledge.is_phenotypic_abnormality("HP:0001166")
    assert not (tmp_path / "derived").exists()


def test_another_exclusion_list_is_never_read_from_the_first_lists_file(release: Path, tmp_path: Path) -> None:
    cache = DerivedCache(tmp_path / "derived")
    everything = HpoKnowledge(release, cache=cache)
    pmid = next(p for r in everything.annotations("OMIM:154700") for p in r.pmids)
    without = HpoKnowledge(release, [pmid], cache=cache)
    assert without.tables_key() != everything.tables_key()
    assert without.dropped_rows > 0 and everything.dropped_rows == 0
    assert pmid not in without.cited_publications() and pmid in everything.cited_publications()
    assert len(list((tmp_path / "derived").glob("hpo-knowledge-*.pickle"))) == 2
    assert _not_parsed(HpoKnowledge(release, [f"PMID:{pmid[5:]}"], cache=cache)).tables == without.tables


def test_an_edited_source_file_is_never_read_from_the_old_file(
    release: Path, tmp_path: Path, release_rows: tuple[list[str], list[str]]
) -> None:
    cache = DerivedCache(tmp_path / "derived")
    before = HpoKnowledge(release, cache=cache)
    rows = sum(len(before.annotations(d)) for d in DISEASES)
    header, kept = release_rows
    (release / PHENOTYPE_HPOA).write_text("".join(header + kept[1:]), encoding="utf-8")  # one row fewer
    after = HpoKnowledge(release, cache=cache)
    assert after.tables_key() != before.tables_key()
    assert sum(len(after.annotations(d)) for d in DISEASES) == rows - 1


def test_scorer_and_enrichment_read_back_rank_as_built_from_scratch(release: Path, tmp_path: Path) -> None:
    cache = DerivedCache(tmp_path / "derived")
    PhenotypeSimilarity(HpoKnowledge(release, cache=cache), cache=cache)
    EnrichmentModel(HpoKnowledge(release, cache=cache), "OMIM", cache=cache)
    cached_knowledge = _not_parsed(HpoKnowledge(release, cache=cache))
    scratch_knowledge = HpoKnowledge(release)

    cached = PhenotypeSimilarity(cached_knowledge, cache=cache)
    scratch = PhenotypeSimilarity(scratch_knowledge)
    assert cached.disease_ids == scratch.disease_ids
    assert np.array_equal(
        cached.score_all(MARFAN_FINDINGS, ["HP:0001382"]), scratch.score_all(MARFAN_FINDINGS, ["HP:0001382"])
    )
    assert cached.rank(MARFAN_FINDINGS) == scratch.rank(MARFAN_FINDINGS)
    assert cached.rank(MARFAN_FINDINGS)[0].disease_id in {"OMIM:154700", "ORPHA:558"}

    by_cache = EnrichmentModel(cached_knowledge, "OMIM", cache=cache)
    assert by_cache.rank(MARFAN_FINDINGS, 5) == EnrichmentModel(scratch_knowledge, "OMIM").rank(MARFAN_FINDINGS, 5)
    assert {p.name.split("-")[0] for p in (tmp_path / "derived").iterdir()} == {
        "hpo",
        "phenotype",
        "enrichment",
    }


def test_the_term_dictionary_read_back_reads_notes_as_built(release: Path, tmp_path: Path) -> None:
    cache = DerivedCache(tmp_path / "derived")
    knowledge = HpoKnowledge(release, cache=cache)
    built = cache.load_or_build("term-lookup", lookup_key(knowledge), lambda: TermLookup(knowledge))
    read_back: TermLookup = cache.load_or_build(
        "term-lookup", lookup_key(knowledge), lambda: pytest.fail("built again, not read back")
    )
    assert read_back is not built and vars(read_back) == vars(built)
    note = "Tall boy with arachnodactyly, no ectopia lentis; his mother has an ASD."
    assert read_back.extract(note) == built.extract(note) != []
