"""audit.chain: the hashed bytes are exactly RFC 8785 (rfc8785) of the whole record, for any content."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from audit import AuditEntry, Diagnosis
from audit.canonical import JsonValue, canonical_bytes
from audit.chain import hash_payload, prepare, seal

# Text as stores give it back: any Unicode scalar value (no lone surrogates), control characters included.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
labels = text.filter(lambda s: s.strip() != "")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    fields=st.fixed_dictionaries(
        {
            "request_id": labels,
            "actor_role": labels,
            "actor_id": labels,
            "model_version": labels,
            "index_version": labels,
            "outcome": labels,
            "patient_pseudonym": st.none() | text,
        }
    ),
    trace=st.dictionaries(text, json_values, max_size=4),
    diagnoses=st.lists(st.builds(Diagnosis, name=labels, code=st.none() | labels), max_size=3),
    evidence=st.lists(labels, max_size=3),
    seq=st.integers(1, 2**40),
    created_at=text,
)
def test_payload_is_the_jcs_serialisation_of_the_whole_record(
    fields: dict[str, str],
    trace: dict[str, JsonValue],
    diagnoses: list[Diagnosis],
    evidence: list[str],
    seq: int,
    created_at: str,
) -> None:
    try:
        entry = AuditEntry(trace=trace, diagnoses=diagnoses, evidence_ids=evidence, **fields)  # type: ignore[arg-type]
    except ValueError:
        return  # an entry the model refuses never reaches the hash
    stored = seal(prepare(entry), seq=seq, prev_hash="ab" * 32, record_id="rec-1", created_at=created_at)
    whole: dict[str, JsonValue] = {
        "actor_id": stored.actor_id,
        "actor_role": stored.actor_role,
        "created_at": stored.created_at,
        "diagnoses": [d.to_json() for d in diagnoses],
        "evidence_ids": list(evidence),
        "format": stored.format_version,
        "index_version": stored.index_version,
        "model_version": stored.model_version,
        "outcome": stored.outcome,
        "patient_pseudonym": stored.patient_pseudonym,
        "prev_hash": stored.prev_hash,
        "record_id": stored.record_id,
        "request_id": stored.request_id,
        "seq": stored.seq,
        "trace": trace,
    }
    assert hash_payload(stored) == canonical_bytes(whole)
