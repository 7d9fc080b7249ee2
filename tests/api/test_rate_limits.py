"""Rate limits (issue 11): USSD per calling phone and per session, REST per API key, counted in the
database so that every worker and every instance shares them (the SMS resend limit is in test_ussd.py and
test_sms_inbound.py). A refused request writes nothing but its count."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from threading import Barrier

import pytest
from apitest import TestClient
from conftest import SETUP, Clock, World, make_settings
from sqlalchemy import func, select

from api.app import create_app
from api.db import reading, transaction
from api.models import Payment, RateCount, SmsOutbox
from api.ratelimit import Limit, hit
from api.registry import create_api_key
from api.service import Service
from api.ussd.texts import TEXTS

PHONE = "+243990000001"
LIMITED = "END " + TEXTS["rate_limited"]["fr"]


def limited_client(world: World, tmp_path: Path, clock: Clock, **limits: int) -> TestClient:
    """An app over the world's database with its own settings (its own instance, as far as the limits
    can tell: nothing is shared but the database)."""
    settings = make_settings(tmp_path, kek=world.settings.kek, **limits)
    service = Service(settings, engine=world.service.engine, clock=clock, sms_write=lambda _l: None)
    return TestClient(create_app(settings, service=service))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def dial(client: TestClient, text: str, session: str = "S1", phone: str = PHONE) -> str:
    r = client.post(
        "/ussd",
        data={"sessionId": session, "serviceCode": "*384*1234#", "phoneNumber": phone, "text": text},
    )
    assert r.status_code == 200
    return r.text


def rows(world: World, model: type) -> int:
    with reading(world.service.engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_ussd_per_phone_across_sessions_and_instances(world: World, tmp_path: Path, clock: Clock) -> None:
    with (
        limited_client(world, tmp_path / "a", clock, ussd_phone_per_minute=4) as a,
        limited_client(world, tmp_path / "b", clock, ussd_phone_per_minute=4) as b,
    ):
        for i, client in enumerate((a, b, a, b)):  # two instances, four sessions: one phone's four
            assert dial(client, "", session=f"S{i}").startswith("CON ")
        assert dial(a, "", session="S9") == LIMITED
        assert dial(b, "1*1*1*01234567897*5000*1", session="S10") == LIMITED  # no purchase either
        assert rows(world, Payment) == 0
        assert dial(a, "", phone="+243990000002").startswith("CON ")  # another phone is not limited
        assert dial(a, "2", session="S11").startswith("END Too many")  # in the language typed
        clock.now += timedelta(minutes=1)  # the next window
        assert dial(b, "", session="S12").startswith("CON ")


def test_ussd_per_session(world: World, tmp_path: Path, clock: Clock) -> None:
    with limited_client(world, tmp_path, clock, ussd_session_requests=3) as client:
        for text in ("", "1", "1*1"):
            assert dial(client, text).startswith("CON ")
        assert dial(client, "1*1*1") == LIMITED
        assert dial(client, "", session="S2").startswith("CON ")  # the same phone, a new session
        clock.now += timedelta(minutes=59)
        assert dial(client, "1*1*1") == LIMITED  # a session's count lasts the hour


def test_ussd_resend_sms_is_limited_before_anything_is_queued(
    world: World, tmp_path: Path, clock: Clock
) -> None:
    with limited_client(world, tmp_path, clock, ussd_phone_per_minute=2) as client:
        dial(client, "1")
        dial(client, "1*2", session="S2")
        assert dial(client, "1*2*01234567897", session="S3") == LIMITED
    assert rows(world, SmsOutbox) == 0


def api_key(world: World, name: str) -> str:
    with transaction(world.service.engine) as s:
        return create_api_key(s, actor=SETUP, name=name, scopes=["read", "vend"])


def test_rest_per_api_key_answers_429_with_retry_after(world: World, tmp_path: Path, clock: Clock) -> None:
    first, second = api_key(world, "shop 1"), api_key(world, "shop 2")
    url = f"/api/v1/meters/{world.meter_drn}"
    with (
        limited_client(world, tmp_path / "a", clock, api_key_per_minute=3) as a,
        limited_client(world, tmp_path / "b", clock, api_key_per_minute=3) as b,
    ):
        for client in (a, b, a):
            assert client.get(url, headers={"authorization": f"Bearer {first}"}).status_code == 200
        refused = b.get(url, headers={"authorization": f"Bearer {first}"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        credit = a.post(
            url + "/tokens/credit", json={"units": "1"}, headers={"authorization": f"Bearer {first}"}
        )
        assert credit.status_code == 429
        assert a.get(url, headers={"authorization": f"Bearer {second}"}).status_code == 200
        # A wrong key is refused before it is counted: it cannot spend a real key's budget.
        assert a.get(url, headers={"authorization": "Bearer ngv_nope"}).status_code == 401
        clock.now += timedelta(seconds=60)
        assert b.get(url, headers={"authorization": f"Bearer {first}"}).status_code == 200
    with reading(world.service.engine) as s:
        keys = s.scalars(select(RateCount.key)).all()
    assert keys and not any(PHONE in k or first in k for k in keys)  # subjects are hashed


def test_concurrent_requests_never_pass_the_limit_together(world: World, clock: Clock) -> None:
    many, limit = 24, Limit("test", 10, 60)
    barrier = Barrier(many)

    def one(_: int) -> int:
        barrier.wait()
        with transaction(world.service.engine) as s:
            return hit(s, limit, "subject", clock())

    with ThreadPoolExecutor(many) as pool:
        waits = list(pool.map(one, range(many)))
    assert waits.count(0) == 10 and all(1 <= w <= 60 for w in waits if w)


def test_a_zero_limit_is_no_limit(world: World, clock: Clock) -> None:
    with transaction(world.service.engine) as s:
        assert all(hit(s, Limit("off", 0, 60), "x", clock()) == 0 for _ in range(5))
    assert rows(world, RateCount) == 0
