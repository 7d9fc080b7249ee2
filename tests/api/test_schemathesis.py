"""Schemathesis over the service's OpenAPI document (/api/v1/openapi.json), in process (ASGI).

Every operation of the document gets requests generated from its schema, conforming ones (positive)
and schema-violating ones (negative: wrong types, missing fields, stray headers, non-JSON bodies),
sent with a valid API key holding every scope, with a wrong key, and with none. Checked for each
request: never a 5xx, an error body in the documented form, and a refused request (4xx) leaves the
database exactly as it was: every row of every table, compared by a hash of its content.

Bounded: NGUVU_FUZZ_EXAMPLES examples per operation, mode and key (default 10; on SQLite and on
PostgreSQL). docs/reliability.md gives a longer run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from apitest import TestClient, table_digests
from conftest import METER_DRN, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.rest.openapi import openapi_document

SCHEMA = schemathesis.openapi.from_dict(openapi_document())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
EXAMPLES = int(os.environ.get("NGUVU_FUZZ_EXAMPLES", "10"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # the examples are the same on every machine (seeded by the test's name)
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KEYS = ("valid", "wrong", "none")


def send(client: TestClient, case: Any, key: str, api_key: str) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {k: v for k, v in kwargs.pop("headers").items() if k.lower() != "authorization"}
    if key == "valid":
        headers["Authorization"] = f"Bearer {api_key}"
    elif key == "wrong":
        headers["Authorization"] = case.headers.get("Authorization") or "Bearer ngv_1_notakey"
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif "data" in kwargs:
        data = kwargs["data"]
        body["content" if isinstance(data, bytes | str) else "data"] = data
    return client.request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, **body
    )


# Bodies that a vendor would send: the schema alone (units and amount both optional) seldom makes one.
CREDITS = [
    {"units": "2.5"},
    {"amount": "5000", "currency": "CDF"},
    {"amount": "3.50", "currency": "USD", "reference": "fuzz-1"},
]


def cases(operation: Any, mode: GenerationMode) -> st.SearchStrategy[Any]:
    """Generated cases; the positive ones often address the seeded meter, so real tokens get issued."""
    anywhere = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.NEGATIVE or "number" not in operation.path:
        return anywhere  # type: ignore[no-any-return]
    seeded = {"number": METER_DRN}
    strategies = [operation.as_strategy(generation_mode=mode, path_parameters=seeded), anywhere]
    if operation.path.endswith("/credit"):
        strategies.append(
            st.sampled_from(CREDITS).flatmap(
                lambda body: operation.as_strategy(generation_mode=mode, path_parameters=seeded, body=body)
            )
        )
    return st.one_of(strategies)


MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_schema_driven_requests_never_fail_and_refusals_write_nothing(
    client: TestClient, world: World, api_key: str, operation: Any
) -> None:
    # One database per operation (a migrated PostgreSQL schema costs seconds); modes and keys inside.
    for mode in MODES:
        if mode is GenerationMode.NEGATIVE and operation.path in ("/health", "/metrics"):
            continue  # nothing to violate: they take no input
        for key in KEYS:
            seen = fuzz_operation(client, world, api_key, operation, mode, key)
            reads = operation.method.upper() == "GET" and not operation.path.endswith("/last")
            if key == "valid" and mode is GenerationMode.POSITIVE and reads:
                assert any(200 <= code < 300 for code in seen), seen  # the conforming reads do succeed


def fuzz_operation(
    client: TestClient, world: World, api_key: str, operation: Any, mode: GenerationMode, key: str
) -> dict[int, int]:
    """Runs the generated cases of one operation, mode and key; the count of each status seen."""
    seen: dict[int, int] = {}

    @FUZZ
    @given(case=cases(operation, mode))
    def run(case: Any) -> None:
        before = table_digests(world.service.engine)
        r = send(client, case, key, api_key)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        where = (mode.value, key, case.as_transport_kwargs(base_url=""), r.status_code, r.text[:300])
        assert r.status_code < 500, where
        if r.status_code >= 400:
            after = table_digests(world.service.engine)
            changed = [name for name in before if before[name] != after[name]]
            assert not changed, (where, changed)
            if operation.path.startswith("/api/"):
                assert set(r.json()) == {"error"} and {"code", "message"} <= set(r.json()["error"])
        if key != "valid" and operation.path.startswith("/api/"):
            assert r.status_code in (400, 401, 404, 405, 413, 422), where

    run()
    assert sum(seen.values()) > 0
    return seen


def test_nul_characters_are_refused_before_any_query(client: TestClient, world: World, api_key: str) -> None:
    """Found by this fuzzing on PostgreSQL (text cannot hold NUL): a NUL in a body field, the path or the
    query answered 500 from the first look-up. Now 422, and nothing written."""
    auth = {"Authorization": f"Bearer {api_key}"}
    meter = {"number": "01234567913", "sgc": 123457, "ti": 1, "krn": 1, "vending_key": "vk1\x00"}
    before = table_digests(world.service.engine)
    for method, url, body in (
        ("POST", "/api/v1/meters/batch", {"meters": [meter]}),
        ("POST", f"/api/v1/meters/{METER_DRN}/tokens/credit", {"units": "1", "reference": "a\x00"}),
        (
            "POST",
            f"/api/v1/meters/{METER_DRN}/tokens/key-change",
            {"sgc": 1, "ti": 1, "krn": 1, "vending_key": "\x00"},
        ),
        ("GET", "/api/v1/meters/0123%00", None),
        ("GET", "/api/v1/payments?msisdn=%00", None),
        ("GET", "/api/v1/tokens?meter=1%002", None),
    ):
        r = client.request(method, url, json=body, headers=auth)
        assert r.status_code == 422, (url, r.status_code, r.text)
        assert r.json()["error"]["code"] in ("invalid_body", "invalid_query")
    assert table_digests(world.service.engine) == before
