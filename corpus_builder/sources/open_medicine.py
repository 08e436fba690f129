"""Source ``guidelines``: the guideline summaries the ``open-medicine`` package ships, one document per section.

``open-medicine`` (PyPI, MIT) bundles ~145 Markdown summaries of 43 clinical practice guidelines, each
guideline with its DOI in ``guidelines/registry.json``. They are the package maintainers' paraphrases,
not the guidelines' own text, and every document says so: in its title ("open-medicine summary"), in a
source line under its first heading (guideline, organisation, year, DOI), and in its metadata (``nature``,
``doi``, ``references``); the manifest records the licence, the package version and every DOI.

Files are read from the installed package (nothing is downloaded) and parsed by
:func:`corpus_builder.sources.guidelines.guideline_from_text`, the parser of user-supplied guidelines, so
sections are split on the same headings. One edit: the lines advertising the package's own calculator
tools ("> **OpenMedicine Calculator:** ... available via MCP") are dropped, since this system does not
serve them. These are general-medicine guidelines (sepsis, atrial fibrillation, CKD, ...); few name a rare
disease, and next steps cite one only when its passage does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cached_property
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from typing import Any

from corpus_builder.sources.base import SOURCES, BuildScope, Reject, SourceInfo
from corpus_builder.sources.guidelines import GuidelineError, guideline_from_text
from dxsearch.corpus import Document

SOURCE_NAME = "guidelines"
PACKAGE = "open-medicine"
NATURE = "summary by the open-medicine maintainers (a paraphrase), not the guideline's own text"
LICENCE = (
    "MIT (open-medicine, Copyright (c) 2026 RamosFBC): summaries paraphrased by the package's maintainers, not "
    "the guidelines' text; each guideline belongs to its publisher (cite it by its DOI)"
)
CITATION = (
    "Ramos F. OpenMedicine: evidence-based clinical reasoning for AI agents (open-medicine on PyPI, MIT). "
    "Cite each guideline by its DOI."
)
TITLE_SUFFIX = " (open-medicine summary)"
_TOOL_LINE = re.compile(r"^>\s*\*\*OpenMedicine Calculators?:\*\*")
_FIRST_HEADING = re.compile(r"^# .+$", re.MULTILINE)


def _guidelines_dir() -> Traversable:
    return resources.files("open_medicine") / "guidelines"


def _source_line(entry: dict[str, Any]) -> str:
    return (
        f"Source: {entry['title']} ({entry.get('organization', 'publisher not given')}, {entry.get('year', 'n.d.')}), "
        f"doi:{entry['doi']}. Summary by the open-medicine maintainers, not the guideline's own text."
    )


def summary_markdown(raw: str, entry: dict[str, Any]) -> str:
    """The section as indexed: the package's tool advertisements dropped, the source line under the title."""
    kept = "\n".join(line for line in raw.splitlines() if not _TOOL_LINE.match(line))
    heading = _FIRST_HEADING.search(kept)
    if heading is None:
        return f"{_source_line(entry)}\n\n{kept}"
    end = heading.end()
    return f"{kept[:end]}\n\n{_source_line(entry)}\n{kept[end:]}"


class OpenMedicineGuidelines:
    """Yields one ``guideline`` document per section listed in the package's registry."""

    def __init__(self, root: Traversable | None = None) -> None:
        self._root = root

    @cached_property
    def root(self) -> Traversable:
        return self._root or _guidelines_dir()

    @cached_property
    def registry(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = json.loads((self.root / "registry.json").read_text(encoding="utf-8"))
        return entries

    @cached_property
    def info(self) -> SourceInfo:
        dois = sorted({str(entry["doi"]) for entry in self.registry if entry.get("doi")})
        sections = sum(len(entry.get("sections", ())) for entry in self.registry)
        return SourceInfo(
            name=SOURCE_NAME,
            description=(
                f"{sections} guideline summaries ({len(self.registry)} guidelines, each with its DOI) from the "
                f"{PACKAGE} package: the maintainers' paraphrases, not guideline text"
            ),
            licence=LICENCE,
            versions={PACKAGE: metadata.version(PACKAGE)},
            citation=CITATION,
            references=tuple(f"doi:{doi}" for doi in dois),
        )

    def iter_items(self) -> Iterator[Document | Reject]:
        version = metadata.version(PACKAGE)
        for entry in self.registry:
            guideline_id = str(entry.get("id", ""))
            for section in entry.get("sections", ()):
                location = f"{PACKAGE}:guidelines/content/{guideline_id}/{section}.md"
                if not entry.get("doi"):
                    yield Reject(source=SOURCE_NAME, location=location, reason="registry entry has no DOI")
                    continue
                path = self.root / "content" / guideline_id / f"{section}.md"
                try:
                    raw = path.read_text(encoding="utf-8")
                    document = guideline_from_text(
                        summary_markdown(raw, entry),
                        fmt="markdown",
                        file_name=f"{guideline_id}/{section}.md",
                        source=SOURCE_NAME,
                        licence=LICENCE,
                    )
                except (OSError, UnicodeDecodeError, GuidelineError) as exc:
                    yield Reject(source=SOURCE_NAME, location=location, reason=str(exc)[:200])
                    continue
                extra = {
                    **document.metadata.extra,
                    "package": f"{PACKAGE} {version}",
                    "guideline_id": guideline_id,
                    "section_id": section,
                    "guideline_title": entry["title"],
                    "organization": entry.get("organization"),
                    "year": entry.get("year"),
                    "doi": entry["doi"],
                    "references": [f"doi:{entry['doi']}"],
                    "topics": list(entry.get("topics", ())),
                    "nature": NATURE,
                }
                yield document.model_copy(
                    update={
                        "title": f"{document.title}{TITLE_SUFFIX}",
                        "metadata": document.metadata.model_copy(update={"extra": extra}),
                    }
                )


@SOURCES.register(SOURCE_NAME)
def open_medicine_source(scope: BuildScope) -> OpenMedicineGuidelines:
    """Factory for ``corpus-builder build --source guidelines`` (no annotation rows: the scope changes nothing)."""
    return OpenMedicineGuidelines()
