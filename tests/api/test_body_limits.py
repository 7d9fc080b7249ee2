"""Body size limits (api/bodies.py, docs/service.md): over the limit is refused with 413 before parsing,
and before reading when the length is declared; at the limit the body is parsed as usual. Nothing is
written either way. The same against a served instance is in test_fuzz_instances.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from apitest import TestClient, table_digests
from conftest import METER_DRN, World

from api.bodies import CALLBACK_MAX_BYTES, REST_MAX_BYTES, USSD_MAX_BYTES

ROUTES = [
    ("/ussd", USSD_MAX_BYTES, "application/x-www-form-urlencoded"),
    ("/callbacks/payments/sandbox", CALLBACK_MAX_BYTES, "application/json"),
    ("/callbacks/sms/console/inbound", CALLBACK_MAX_BYTES, "application/x-www-form-urlencoded"),
    ("/callbacks/sms/console/delivery", CALLBACK_MAX_BYTES, "application/x-www-form-urlencoded"),
    (f"/api/v1/meters/{METER_DRN}/tokens/credit", REST_MAX_BYTES, "application/json"),
    ("/api/v1/meters/batch", REST_MAX_BYTES, "application/json"),
]


def chunks(total: int, size: int = 16 * 1024) -> Iterator[bytes]:
    """A chunked body (no Content-Length): the limit must hold while streaming too."""
    while total > 0:
        yield b"a" * min(size, total)
        total -= size


@pytest.mark.parametrize(("url", "limit", "ctype"), ROUTES, ids=[r[0] for r in ROUTES])
def test_over_the_limit_is_413_and_at_the_limit_is_parsed(
    client: TestClient, world: World, api_key: str, url: str, limit: int, ctype: str
) -> None:
    headers = {"content-type": ctype, "Authorization": f"Bearer {api_key}"}
    before = table_digests(world.service.engine)
    for body in (b"a" * (limit + 1), chunks(limit + 1), chunks(20 * limit)):
        r = client.post(url, content=body, headers=headers)
        assert r.status_code == 413, (url, r.status_code, r.text[:200])
        if not url.startswith("/ussd"):
            assert r.json()["error"]["code"] == "body_too_large"
    at_limit = client.post(url, content=b"a" * limit, headers=headers)
    assert at_limit.status_code in (200, 400, 401, 422), at_limit.status_code  # read, then refused or not
    assert table_digests(world.service.engine) == before


def test_nul_characters_in_forms_are_refused_before_any_query(client: TestClient, world: World) -> None:
    """Found by the two-instance fuzzing on PostgreSQL: a USSD text holding NUL (`2*2*E\\r7a\\x00N...`)
    answered 500 from the meter look-up. USSD and SMS forms with a NUL anywhere are now malformed (400)."""
    form = "application/x-www-form-urlencoded"
    before = table_digests(world.service.engine)
    for url, body in (
        (
            "/ussd",
            "sessionId=a&serviceCode=%2A384%2A1234%23&phoneNumber=%2B243990000001&text=2%2A2%2AE%0D7a%00N",
        ),
        ("/ussd", "sessionId=a%00&phoneNumber=%2B243990000001&text="),
        ("/callbacks/sms/console/inbound", "from=%2B243990000001&to=1&text=TENA%20ENK-%00&id=x1"),
        ("/callbacks/sms/console/delivery", "id=1%00&status=Success"),
    ):
        r = client.post(url, content=body, headers={"content-type": form})
        assert r.status_code == 400, (url, r.status_code, r.text)
    assert table_digests(world.service.engine) == before
