"""No page shows a vending key, a decoder key, a sealed key or a password hash: every GET page under
/admin (read from the app's routes) is opened by every role, with real ids, after a sale."""

from __future__ import annotations

import asyncio
import base64
import re
from decimal import Decimal

from admintest import PASSWORD, AdminClient
from api_tests_conftest import VENDING_KEY
from sqlalchemy import select
from test_authorization import admin_routes

from api.actors import Actor
from api.db import reading
from api.keyring import profile_of
from api.models import Administrator, Meter, Subscriber, VendingKeyRecord
from api.usecases import sales


def _secrets(world) -> list[str]:  # type: ignore[no-untyped-def]
    with reading(world.service.engine) as s:
        sealed = s.scalars(select(VendingKeyRecord.sealed)).all()
        hashes = s.scalars(select(Administrator.password_hash)).all()
    found = [VENDING_KEY, VENDING_KEY.upper(), PASSWORD, "$argon2"]
    for blob in sealed:
        found += [blob.hex(), blob.hex().upper(), base64.b64encode(blob).decode()]
    found += [h.split("$")[-1] for h in hashes]  # the hash part of each argon2 string
    return found


def _decoder_keys(world) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    with reading(world.service.engine) as s:
        for meter in s.scalars(select(Meter)).all():
            record = s.get(VendingKeyRecord, meter.vending_key_id)
            assert record is not None
            value = world.service.keyring.decoder_key(record, profile_of(meter)).as_int()
            out += [f"{value:016x}", f"{value:016X}", str(value)]
    return out


def test_no_page_shows_a_key_or_a_hash(web: AdminClient, world) -> None:
    sale = asyncio.run(
        sales.counter_sale(world.service, Actor.cli(), world.meter_drn, Decimal("5000"), "CDF", "no-secrets")
    )
    with reading(world.service.engine) as s:
        sub_id = s.scalars(select(Subscriber.id).where(Subscriber.customer_code == "ENK-0001")).one()
        meter_id = s.scalars(select(Meter.id).where(Meter.drn == world.meter_drn)).one()
    ids = {"subscribers": sub_id, "meters": meter_id, "accounts": web.ids["cashier"]}
    forbidden = _secrets(world) + _decoder_keys(world)
    pages = 0
    for role in ("superadmin", "admin", "cashier"):
        client = AdminClient(type(web.client)(web.client.app), web.ids)
        client.login(role)
        for route, rule in admin_routes(web.client.app):
            if "GET" not in (route.methods or ()) or rule.public:
                continue
            area = route.path.strip("/").split("/")[0]
            path = "/admin" + re.sub(r"{[^}]+}", str(ids.get(area, sale.payment_id)), route.path)
            text = client.get(path).text
            pages += 1
            for secret in forbidden:
                assert secret not in text, f"{path} as {role} shows a secret"
    assert pages >= 10
