"""The case model: what the system is given about a patient, and gold labels for evaluation.

A ``Case`` is exactly what the standard track allows a system to see (findings,
observed or excluded, sex, age, optional free text). The gold diagnosis, the
publication and genes live beside it in ``LabelledCase`` so that evaluation code
cannot hand them to a policy by accident.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Sex = Literal["male", "female", "other", "unknown"]

_SEX_ALIASES: dict[str, Sex] = {
    "male": "male",
    "female": "female",
    "other": "other",
    "other_sex": "other",
    "unknown": "unknown",
    "unknown_sex": "unknown",
    "m": "male",
    "f": "female",
}


#: An ISO 8601 duration as ages are written (``P14Y``, ``P2Y6M``, ``P3W``, ``PT12H``), ASCII digits only.
AGE_DURATION = re.compile(
    r"P(?:(?P<Y>[0-9]{1,6})Y)?(?:(?P<M>[0-9]{1,6})M)?(?:(?P<W>[0-9]{1,6})W)?(?:(?P<D>[0-9]{1,6})D)?"
    r"(?:T(?:(?P<h>[0-9]{1,6})H)?(?:(?P<m>[0-9]{1,6})M)?(?:(?P<s>[0-9]{1,6}(?:\.[0-9]{1,6})?)S)?)?"
)
#: Years per unit of an ISO 8601 duration (a year of 365.25 days).
YEARS_PER_UNIT = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}
YEARS_PER_UNIT |= {"h": 1 / 8766, "m": 1 / 525_960, "s": 1 / 31_557_600}


def duration_years(value: str | None) -> float | None:
    """An ISO 8601 age duration in years (``P2Y6M`` -> 2.5); ``None`` when absent or not such a duration."""
    if not value:
        return None
    found = AGE_DURATION.fullmatch(value.strip())
    if found is None or not any(found.groupdict().values()):
        return None
    return sum(float(number) * YEARS_PER_UNIT[unit] for unit, number in found.groupdict().items() if number)


def normalise_sex(value: str | None) -> Sex:
    """Map phenopacket / FHIR spellings (``MALE``, ``UNKNOWN_SEX``, ``female``) onto one set."""
    if not value:
        return "unknown"
    return _SEX_ALIASES.get(value.strip().lower(), "unknown")


class Finding(BaseModel):
    """A phenotypic finding: an HPO term where known, else free words."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(min_length=1)
    hpo_id: str | None = Field(default=None, pattern=r"^HP:\d{7}$")
    excluded: bool = False


class Case(BaseModel):
    """What a diagnostic system may see about one patient.

    ``inheritance`` and ``onset`` are what the input said of the disease itself (a note's "autosomal
    dominant", "since infancy"): HPO terms outside "Phenotypic abnormality", so not findings to match
    diseases against, but evidence the likelihood-ratio scorer weighs (its inheritance and onset factors).
    """

    model_config = ConfigDict(frozen=True)

    case_id: str
    sex: Sex = "unknown"
    age: str | None = Field(default=None, description="ISO 8601 duration, e.g. P5Y2M.")
    findings: tuple[Finding, ...] = ()
    text: str | None = None
    inheritance: tuple[Annotated[str, Field(pattern=r"^HP:\d{7}$")], ...] = Field(
        default=(), description="Modes of inheritance stated (HPO terms below HP:0000005), e.g. HP:0000006."
    )
    onset: str | None = Field(
        default=None, pattern=r"^HP:\d{7}$", description="The onset stated (an HPO term below HP:0003674)."
    )

    @property
    def observed(self) -> list[Finding]:
        return [f for f in self.findings if not f.excluded]

    @property
    def age_years(self) -> float | None:
        """``age`` in years (``P3M`` -> 0.25), or ``None`` when unknown."""
        return duration_years(self.age)

    @property
    def excluded(self) -> list[Finding]:
        return [f for f in self.findings if f.excluded]

    def findings_query(self) -> str:
        """The observed findings as one retrieval query; excluded ones would only add false matches."""
        return "; ".join(label for f in self.observed if (label := " ".join(f.label.split())))


class GoldDiagnosis(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="CURIE such as OMIM:154700.")
    label: str


class LabelledCase(BaseModel):
    """A case plus what only an evaluator may know."""

    model_config = ConfigDict(frozen=True)

    case: Case
    gold: GoldDiagnosis
    pmid: str | None = None
    genes: tuple[str, ...] = ()


class CaseFileError(ValueError):
    """A line of a case file could not be read; carries file and line for the report."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class _PhenopacketPhenotype(BaseModel):
    id: str = Field(pattern=r"^HP:\d{7}$")
    label: str = Field(min_length=1)
    excluded: bool = False


class _PhenopacketDisease(BaseModel):
    id: str
    label: str


class PhenopacketRow(BaseModel):
    """One line of the phenopacket JSONL format (see the benchmark README)."""

    case_id: str = Field(min_length=1)
    pmid: str | None = None
    sex: str | None = None
    age: str | None = None
    phenotypes: list[_PhenopacketPhenotype] = Field(min_length=1)
    disease: _PhenopacketDisease
    genes: list[str] = Field(default_factory=list)

    def to_labelled_case(self) -> LabelledCase:
        case = Case(
            case_id=self.case_id,
            sex=normalise_sex(self.sex),
            age=self.age,
            findings=tuple(Finding(label=p.label, hpo_id=p.id, excluded=p.excluded) for p in self.phenotypes),
        )
        return LabelledCase(
            case=case,
            gold=GoldDiagnosis(id=self.disease.id, label=self.disease.label),
            pmid=self.pmid,
            genes=tuple(self.genes),
        )


class _CasePhenotype(BaseModel):
    model_config = ConfigDict(extra="allow")  # kept only to be named as not read (CaseRow.unread_keys)

    id: str | None = Field(default=None, pattern=r"^HP:\d{7}$")
    label: str | None = Field(default=None, min_length=1)
    excluded: bool = False

    @model_validator(mode="after")
    def _named(self) -> _CasePhenotype:
        if self.id is None and self.label is None:
            raise ValueError("a phenotype needs a label or an HPO id")
        return self


class CaseRow(BaseModel):
    """One case to diagnose, in the phenopacket JSONL format without the answer (``dxsearch diagnose --case``).

    Unlike :class:`PhenopacketRow` (gold for evaluation and the corpus), no ``disease`` is needed (one given
    is ignored: it never reaches the intake), a phenotype needs only a ``label`` or an ``id``, and a free
    ``text`` note may stand beside or instead of the phenotypes. ``age`` is an ISO 8601 duration or whole years.
    """

    model_config = ConfigDict(extra="allow")  # kept only to be named as not read (unread_keys)

    case_id: str | None = Field(default=None, min_length=1)
    sex: str | None = None
    age: str | None = None
    phenotypes: list[_CasePhenotype] = Field(default_factory=list)
    text: str | None = Field(default=None, min_length=1)

    @field_validator("age", mode="before")
    @classmethod
    def _years(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return f"P{value}Y"
        return value

    @model_validator(mode="after")
    def _something_to_read(self) -> CaseRow:
        if not self.phenotypes and self.text is None:
            raise ValueError("give at least one phenotype or a text note")
        return self

    def intake_fields(self) -> dict[str, Any]:
        """The row as the intake's ``CaseInput`` fields (``CaseInput.model_validate(row.intake_fields())``): what
        ``dxsearch diagnose --case`` and ``corpus-builder validate --case`` both read. A sex given is normalised
        (``M``: male); none given is left for a note to fill. (Fields, not a ``CaseInput``: the intake builds
        on this module, not the other way round.)
        """
        findings = [{"label": p.label or "", "hpo_id": p.id, "excluded": p.excluded} for p in self.phenotypes]
        return {
            "findings": findings or None,
            "text": self.text,
            "sex": normalise_sex(self.sex) if self.sex else None,
            "age": self.age,
            "patient_id": self.case_id,
        }

    def unread_keys(self) -> list[str]:
        """The keys of this row nothing reads, as paths (``note``, ``phenotypes[1].negated``), for a warning.

        Why kept rather than refused: a phenopacket row carries its answer beside the case (``disease``,
        ``pmid``, ``genes``: eval's, known not to be read here, so not named), and such rows are diagnosed
        as they are. But an unknown key is most often a misspelt one ("note" for "text", "negated" for
        "excluded") that silently changes the case, so the caller must be told.
        """
        unread = [key for key in self.model_extra or {} if key not in ANSWER_KEYS]
        for number, phenotype in enumerate(self.phenotypes):
            unread += [f"phenotypes[{number}].{key}" for key in phenotype.model_extra or {}]
        return unread


#: What a phenopacket row holds beside the case (the answer and its provenance): a case row does not read it.
ANSWER_KEYS = frozenset(PhenopacketRow.model_fields) - frozenset(CaseRow.model_fields)


_Row = TypeVar("_Row", bound=BaseModel)


def iter_phenopacket_rows(path: Path) -> Iterator[PhenopacketRow | CaseFileError]:
    """Yield each row of a phenopacket JSONL file, or a ``CaseFileError`` for a bad line.

    Errors are yielded, not raised, so that one bad line never loses the rest.
    """
    return (row for _, row in _iter_numbered_rows(path, PhenopacketRow))


def iter_case_rows(path: Path, *, max_line_bytes: int | None = None) -> Iterator[CaseRow | CaseFileError]:
    """Like :func:`iter_phenopacket_rows`, for case files without answers (:class:`CaseRow`).

    ``max_line_bytes``: a longer line is a ``CaseFileError`` naming the limit, never parsed nor kept whole.
    """
    return (row for _, row in iter_numbered_case_rows(path, max_line_bytes=max_line_bytes))


def iter_numbered_case_rows(
    path: Path, *, max_line_bytes: int | None = None
) -> Iterator[tuple[int, CaseRow | CaseFileError]]:
    """Like :func:`iter_case_rows`, each row with its line number (from 1)."""
    return _iter_numbered_rows(path, CaseRow, max_line_bytes)


#: The setting a line or file limit of the command lines comes from: the API's request limit, so that a case the
#: API refuses (413) is refused by the command line too, rather than read for minutes (a user test: a 5 MB line).
LINE_LIMIT_SETTING = "DXSEARCH_MAX_REQUEST_BYTES"
_CHUNK = 64 * 1024


def too_long(size: int, limit: int, what: str = "line") -> str:
    """Why an input over the size limit is not read, naming the limit and where it comes from."""
    return (
        f"the {what} is {size:,} bytes, over the {limit:,}-byte limit ({LINE_LIMIT_SETTING}, the API's request "
        "limit); not read"
    )


def iter_lines(handle: BinaryIO, max_bytes: int | None = None) -> Iterator[tuple[int, bytes | int]]:
    """Each line of a binary file with its number (from 1): its bytes, or for a line of more than ``max_bytes``
    bytes (its line break aside) its length in bytes alone: such a line is read past in pieces, never held whole."""
    number = 0
    while True:
        kept: list[bytes] = []
        size, last = 0, b""
        while not last.endswith(b"\n"):
            last = handle.readline(_CHUNK)
            if not last:
                break
            size += len(last)
            if max_bytes is None or size <= max_bytes + 2:  # the line and its break (\r\n at most)
                kept.append(last)
        if not size:
            return
        number += 1
        content = size - (2 if last.endswith(b"\r\n") else 1 if last.endswith(b"\n") else 0)
        yield (number, content) if max_bytes is not None and content > max_bytes else (number, b"".join(kept))


def _iter_numbered_rows(
    path: Path, model: type[_Row], max_line_bytes: int | None = None
) -> Iterator[tuple[int, _Row | CaseFileError]]:
    with path.open("rb") as handle:
        for number, raw in iter_lines(handle, max_line_bytes):
            if isinstance(raw, int):
                assert max_line_bytes is not None
                yield number, CaseFileError(path, number, too_long(raw, max_line_bytes))
                continue
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, CaseFileError(path, number, f"not UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            try:
                payload = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, CaseFileError(path, number, f"invalid JSON: {exc.msg} at column {exc.colno}")
                continue
            try:
                yield number, model.model_validate(payload)
            except ValidationError as exc:
                yield number, CaseFileError(path, number, _row_problem(exc))


def _row_problem(exc: ValidationError) -> str:
    """A row's first validation problem in plain words: ``field: reason``, or the reason alone when the row as a
    whole is wrong ("give at least one phenotype or a text note"), never pydantic's "<root>" nor "Value error,"
    (a user test found both in ``dxsearch diagnose``'s one line)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    reason = " ".join(str(first["msg"]).split()).removeprefix("Value error, ")
    return f"{where}: {reason}" if where else reason


def load_labelled_cases(path: Path) -> list[LabelledCase]:
    """Read a phenopacket JSONL file strictly: the first bad line raises ``CaseFileError``."""
    cases: list[LabelledCase] = []
    for item in iter_phenopacket_rows(path):
        if isinstance(item, CaseFileError):
            raise item
        cases.append(item.to_labelled_case())
    return cases
