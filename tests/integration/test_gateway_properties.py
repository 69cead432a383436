"""Property-based API test: schemathesis generates requests from the gateway's own OpenAPI
document and none gets a 5xx (nor a body or status code the document does not declare).

The gateway runs on an embedded broker of its own that no worker reads, so a generated
task that happens to be valid is published and then left alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from helpers.gateway import running_gateway
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from qstream.broker import EmbeddedBroker


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    with EmbeddedBroker() as broker, running_gateway(broker.url) as base:
        yield base


# schemathesis' own strategies use `random` (its warning, not this test's)
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_no_generated_request_gets_a_server_error(gateway_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error, status_code_conformance,
                                           response_schema_conformance], timeout=30)

        no_server_error()
