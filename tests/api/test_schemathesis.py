"""Contract fuzzing (issue 16 part 6): schemathesis against /openapi.json, every operation, each role.

Bounded examples per operation and role, schema-valid and schema-invalid; every response must be a
documented status with a body of the documented shape and content type, invalid data must be refused,
and no input may give a 5xx. One check is left out: "schema-valid data is accepted" (ST202). A request
can fit the JSON schema and still not be a case (a FHIR bundle that is not FHIR, findings no one can
read, two inputs at once); those are 422s by design, with a message. Marked slow (a few minutes on two
shared cores).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from audit import CheckpointSigner, SqliteAuditStore
from dxsearch.policies.evidence import EvidencePolicy
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from tests.api.helpers import KEYS, running

pytestmark = pytest.mark.slow

#: Examples per operation and role: enough to reach every documented error, few enough for CI.
MAX_EXAMPLES = 50
ROLES = ("clinician", "auditor", "admin", "data_team", None)
#: Schema-invalid data must be refused, 413 (body over the size limit) included among refusals; "schema-valid
#: data is accepted" is off (see the module docstring).
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "406",
                    "409",
                    "413",
                    "415",
                    "422",
                    "428",
                    "429",
                ]
            },
            "positive_data_acceptance": {"enabled": False},
        }
    }
)


@pytest.fixture(scope="module")
def fuzzed_app(
    settings: Settings, index: EmbeddedIndex, policy: EvidencePolicy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    store = SqliteAuditStore(
        tmp_path_factory.mktemp("fuzz") / "audit.db", signer=CheckpointSigner.generate(), checkpoint_every=50
    )
    app = create_app(settings, index=index, policy=policy, audit_store=store)
    with running(app):  # lifespan run and warm-up done; the app stays ready for schemathesis's own client
        yield app
    store.close()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app, config=CONFIG)


def _check_operation(operation: Any, mode: GenerationMode, failures: list[str], statuses: Counter[int]) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: schemathesis.Case) -> None:
        # Each generated request is sent once per role and once without a key; every answer keeps the contract.
        for role in ROLES:
            headers = {} if role is None else {"Authorization": f"Bearer {KEYS[role]}"}
            response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
            statuses[response.status_code] += 1

    if mode is GenerationMode.NEGATIVE and not (operation.query or operation.path_parameters or operation.body):
        return  # nothing of the request can be made invalid (GET /healthz)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, then one assertion with all
        failures.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {str(exc)[:1500]}")


def test_every_operation_keeps_its_contract_for_every_role(api_schema: Any) -> None:
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _check_operation(operation, mode, failures, statuses)
    assert not failures, "\n\n".join(failures)
    print(f"schemathesis: {sum(statuses.values())} requests, by status {sorted(statuses.items())}")
    assert sum(statuses.values()) >= 1000 and not any(code >= 500 for code in statuses)
    assert {200, 401, 403, 422} <= set(statuses)


def test_the_schema_file_is_what_the_app_serves(fuzzed_app: FastAPI) -> None:
    assert fuzzed_app.openapi()["components"]["schemas"]["Error"]["required"] == ["detail", "request_id"]
