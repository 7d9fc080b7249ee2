"""Meter engineering: each action goes form -> review (its warning) -> issue only with the box ticked;
tokens are recorded, audited and decode for that meter; every validation rule changes nothing; only
administrators and the super administrator may open it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from admintest import AdminClient, csrf_of
from api_tests_conftest import VENDING_KEY, World
from sqlalchemy import func, select

from api.actors import Actor
from api.db import reading, transaction
from api.keyring import profile_of
from api.models import AuditLog, Meter, Token
from api.registry import add_vending_key
from tokencore import Kind, VendingKey, decode_token, derive_decoder_key


def _tokens(world: World) -> int:
    with reading(world.service.engine) as s:
        return s.scalar(select(func.count()).select_from(Token)) or 0


def _meter(world: World) -> Meter:
    with reading(world.service.engine) as s:
        return s.scalars(select(Meter).where(Meter.drn == world.meter_drn)).one()


def _review(web: AdminClient, world: World, action: str, **values: str) -> Any:
    page = web.get(f"/admin/engineering?meter={world.meter_drn}")
    assert page.status_code == 200 and f'id="eng-{action}"' in page.text
    data = {"csrf": csrf_of(page), "meter": world.meter_drn, "action": action, **values}
    return web.client.post("/admin/engineering/review", data=data)


def _hidden(text: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', text))


def _issue(web: AdminClient, review_text: str, confirm: bool = True) -> Any:
    data = _hidden(review_text)
    if confirm:
        data["confirm"] = "1"
    return web.client.post("/admin/engineering/issue", data=data, follow_redirects=False)


@pytest.mark.parametrize(
    ("action", "values", "kind"),
    [
        ("set_mpl", {"mpl_watts": "2000"}, Kind.MPL),
        ("clear_credit", {}, Kind.CLEAR_CREDIT),
        ("clear_tamper", {}, Kind.CLEAR_TAMPER),
    ],
)
def test_management_tokens(
    web: AdminClient, world: World, action: str, values: dict[str, str], kind: Kind
) -> None:
    web.login("admin")
    review = _review(web, world, action, **values)
    assert review.status_code == 200 and 'id="eng-warning"' in review.text and 'id="f-confirm"' in review.text
    refused = _issue(web, review.text, confirm=False)
    assert refused.status_code == 422 and 'id="f-confirm-error"' in refused.text and _tokens(world) == 0
    done = _issue(web, review.text)
    assert done.status_code == 303, done.text
    sheet = web.get(done.headers["location"])
    shown = re.findall(r'<li><span class="token-big">([0-9 ]+)</span></li>', sheet.text)
    assert len(shown) == 1
    decoded = decode_token(
        shown[0].replace(" ", ""),
        derive_decoder_key(VendingKey.from_hex(VENDING_KEY), profile_of(_meter(world))),
    )
    assert decoded.crc_ok and decoded.fields.kind is kind
    if action == "set_mpl":
        assert decoded.watts == 2000
    with reading(world.service.engine) as s:
        token = s.scalars(select(Token)).one()
        entry = s.scalars(select(AuditLog).where(AuditLog.action == f"token_{action}")).one()
    assert token.kind == action and token.issued_by.startswith("admin:")
    assert entry.actor.startswith("admin:") and entry.subject == world.meter_drn


def test_key_change_moves_the_meter_and_prints_the_tokens_in_order(web: AdminClient, world: World) -> None:
    with transaction(world.service.engine) as s:
        add_vending_key(s, world.service.keyring, "vk2", "fedcba9876543210", actor=Actor.cli())
    web.login("superadmin")
    review = _review(
        web, world, "key_change", sgc="123457", ti="2", krn="2", kt="2", ken="255", vending_key="vk2"
    )
    assert review.status_code == 200 and "1 → 2" in review.text
    done = _issue(web, review.text)
    assert done.status_code == 303, done.text
    sheet = web.get(done.headers["location"])
    assert (
        len(re.findall(r'<li><span class="token-big">', sheet.text)) == 2
        and 'id="sheet-tokens"' in sheet.text
    )
    meter = _meter(world)
    assert (meter.ti, meter.krn) == (2, 2)
    with reading(world.service.engine) as s:
        assert s.scalars(select(AuditLog).where(AuditLog.action == "meter_keys_changed")).one()
    assert VENDING_KEY not in sheet.text and "fedcba9876543210" not in sheet.text
    reprint = web.client.post(
        done.headers["location"].split("?")[0] + "/reprint", data={"csrf": csrf_of(sheet)}
    )
    assert reprint.status_code == 200 and 'id="reprinted"' in reprint.text


def test_test_token(web: AdminClient, world: World) -> None:
    web.login("admin")
    done = _issue(web, _review(web, world, "test", control="1").text)
    assert done.status_code == 303
    with reading(world.service.engine) as s:
        assert s.scalars(select(Token)).one().kind == "test"


@pytest.mark.parametrize(
    ("action", "values", "field"),
    [
        ("set_mpl", {"mpl_watts": "lots"}, "mpl_watts"),
        ("set_mpl", {"mpl_watts": "-1"}, "mpl_watts"),
        ("set_mpl", {"mpl_watts": ""}, "mpl_watts"),
        (
            "key_change",
            {"sgc": "123457", "ti": "100", "krn": "1", "kt": "2", "ken": "255", "vending_key": "vk1"},
            "ti",
        ),
        (
            "key_change",
            {"sgc": "123457", "ti": "1", "krn": "0", "kt": "2", "ken": "255", "vending_key": "vk1"},
            "krn",
        ),
        (
            "key_change",
            {"sgc": "123457", "ti": "1", "krn": "1", "kt": "2", "ken": "255", "vending_key": "nope"},
            "vending_key",
        ),
        ("test", {"control": "0"}, "control"),
    ],
)
def test_every_rule_changes_nothing(
    web: AdminClient, world: World, action: str, values: dict[str, str], field: str
) -> None:
    web.login("admin")
    before = _meter(world)
    answer = _issue(web, _review(web, world, action, **values).text)
    assert answer.status_code == 422 and f'id="f-{field}-error"' in answer.text
    after = _meter(world)
    assert _tokens(world) == 0 and (after.ti, after.krn, after.last_tid) == (
        before.ti,
        before.krn,
        before.last_tid,
    )
    with reading(world.service.engine) as s:
        assert s.scalars(select(AuditLog).where(AuditLog.action.like("token_%"))).first() is None


def test_unknown_meter_and_action(web: AdminClient, world: World) -> None:
    web.login("admin")
    page = web.get("/admin/engineering?meter=99999999999")
    assert page.status_code == 422 and 'id="f-meter-error"' in page.text
    bad = web.client.post(
        "/admin/engineering/review",
        data={"csrf": csrf_of(page), "meter": world.meter_drn, "action": "explode"},
    )
    assert bad.status_code == 422 and _tokens(world) == 0


def test_a_cashier_cannot_open_meter_engineering(web: AdminClient, world: World) -> None:
    web.login("cashier")
    assert web.get("/admin/engineering").status_code == 403
    page = web.get("/admin/sales")
    data = {"csrf": csrf_of(page), "meter": world.meter_drn, "action": "clear_credit", "confirm": "1"}
    assert web.client.post("/admin/engineering/issue", data=data).status_code == 403
    assert _tokens(world) == 0
