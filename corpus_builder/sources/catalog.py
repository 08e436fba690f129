"""Where source specs on the command line resolve: registered names first, then paths."""

from __future__ import annotations

from pathlib import Path

from corpus_builder.sources.base import SOURCES, BuildScope, Source

#: The default corpus: disease knowledge, real published cases (index side of the
#: by-publication split), simulated patients (index side) and guideline summaries, all offline.
DEFAULT_SOURCES: tuple[str, ...] = ("hpo-diseases", "phenopackets", "simulated-patients", "guidelines")


def _register_all() -> None:
    # Imported for their @SOURCES.register side effects.
    from corpus_builder.sources import hpo_diseases, open_medicine, phenopackets, simulated  # noqa: F401


def resolve_source(spec: str, scope: BuildScope | None = None) -> Source:
    """A registered source by name (built within ``scope``), else a file or directory of supported files."""
    _register_all()
    if spec in SOURCES:
        return SOURCES.get(spec)(scope or BuildScope())
    path = Path(spec)
    if path.exists():
        from corpus_builder.sources.files import sources_for_path

        return sources_for_path(path)
    known = ", ".join(SOURCES.names())
    raise ValueError(f"{spec}: neither a registered source ({known}) nor an existing path")
