"""SMS providers: Africa's Talking against its local fake (loopback HTTP), delivery reports, console."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from api.payments.secret import Secret
from api.sms.africastalking import SANDBOX_URL, AfricasTalkingConfig, AfricasTalkingSms
from api.sms.base import (
    DeliveryReport,
    DeliveryState,
    SmsConfigError,
    SmsMessage,
    SmsPermanentError,
    SmsTemporaryError,
)
from api.sms.console import ConsoleSms
from api.sms.factory import build_sms_provider, load_sms_config
from tests.fakes.africastalking import FakeAfricasTalking
from tests.fakes.server import Receiver, wait_for

pytestmark = pytest.mark.anyio

TOKEN_SMS = "Jeton: 1234 5678 9012 3456 7890 Unites: 12.5 kWh Compteur 01234567890"


@pytest.fixture
def at() -> Iterator[FakeAfricasTalking]:
    with FakeAfricasTalking(username="nguvu", api_key="key-at") as fake:
        yield fake


def make(at: FakeAfricasTalking, http: httpx.AsyncClient, **extra: str) -> AfricasTalkingSms:
    env = {
        "NGUVU_AT_USERNAME": "nguvu",
        "NGUVU_AT_API_KEY": "key-at",
        "NGUVU_AT_BASE_URL": at.url,
        "NGUVU_AT_TIMEOUT_S": "1",
        **extra,
    }
    return AfricasTalkingSms(AfricasTalkingConfig.from_env(env), http)


def msg(to: str = "+243810000001") -> SmsMessage:
    return SmsMessage(to, TOKEN_SMS, "outbox-1")


async def test_send_success(at: FakeAfricasTalking, http: httpx.AsyncClient) -> None:
    sent = await make(at, http, NGUVU_AT_SENDER_ID="NGUVU").send(msg())
    assert sent.status == "sent" and sent.cost == "KES 0.8000"
    [record] = at.sent
    assert sent.provider_message_id == record["messageId"]
    assert record["to"] == "+243810000001" and record["message"] == TOKEN_SMS and record["from"] == "NGUVU"
    assert record["bulkSMSMode"] == "1" and "enqueue" not in record


async def test_queued(at: FakeAfricasTalking, http: httpx.AsyncClient) -> None:
    at.status_for["+243810000001"] = 102
    sent = await make(at, http, NGUVU_AT_ENQUEUE="true").send(msg())
    assert sent.status == "queued" and at.sent[0]["enqueue"] == "1"


@pytest.mark.parametrize("code", [402, 403, 404, 406, 409])
async def test_permanent_recipient_codes(at: FakeAfricasTalking, http: httpx.AsyncClient, code: int) -> None:
    at.status_for["+243810000001"] = code
    with pytest.raises(SmsPermanentError):
        await make(at, http).send(msg())


@pytest.mark.parametrize("code", [401, 405, 407, 500, 501, 502])
async def test_retryable_recipient_codes(at: FakeAfricasTalking, http: httpx.AsyncClient, code: int) -> None:
    at.status_for["+243810000001"] = code
    with pytest.raises(SmsTemporaryError):
        await make(at, http).send(msg())


async def test_transport_failures_are_temporary(at: FakeAfricasTalking, http: httpx.AsyncClient) -> None:
    provider = make(at, http)
    at.knobs.fail_next = 1
    with pytest.raises(SmsTemporaryError) as info:
        await provider.send(msg())
    assert info.value.code == "sms_http_5xx"
    at.knobs.delay_s = 1.5
    with pytest.raises(SmsTemporaryError) as info:
        await provider.send(msg())
    assert info.value.code == "sms_timeout"
    at.knobs.delay_s = 0
    at.api_key = "rotated"
    with pytest.raises(SmsTemporaryError) as info:
        await provider.send(msg())
    assert info.value.code == "sms_auth"
    at.stop()
    with pytest.raises(SmsTemporaryError):
        await provider.send(msg())


async def test_number_dropped_by_at_is_permanent(at: FakeAfricasTalking, http: httpx.AsyncClient) -> None:
    at.unroutable.add("+243810000001")
    with pytest.raises(SmsPermanentError):  # AT answers an empty recipient list
        await make(at, http).send(msg())


async def test_delivery_reports_travel_back(at: FakeAfricasTalking, http: httpx.AsyncClient) -> None:
    provider = make(at, http)
    reports: list[DeliveryReport | None] = []

    async def handle(path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        reports.append(provider.parse_delivery_report(form))
        return 200, b"", "text/plain"

    async with Receiver(asyncio.get_running_loop(), handle) as receiver:
        at.delivery_url = receiver.url + "/callbacks/sms/africastalking/delivery"
        sent = await provider.send(msg())
        at.delivery_status = "Failed"
        failed = await provider.send(msg("+243810000002"))
        await wait_for(lambda: len(reports) == 2)
    by_id = {r.provider_message_id: r for r in reports if r is not None}
    assert by_id[sent.provider_message_id or ""].state is DeliveryState.DELIVERED
    bad = by_id[failed.provider_message_id or ""]
    assert bad.state is DeliveryState.FAILED and bad.failure_reason == "UserInBlacklist"
    assert bad.phone == "+243810000002" and bad.network_code == "63902" and bad.retry_count == 0


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Success", DeliveryState.DELIVERED),
        ("Rejected", DeliveryState.FAILED),
        ("Failed", DeliveryState.FAILED),
        ("Sent", DeliveryState.PENDING),
        ("Submitted", DeliveryState.PENDING),
        ("Buffered", DeliveryState.PENDING),
    ],
)
async def test_delivery_report_states(http: httpx.AsyncClient, status: str, state: DeliveryState) -> None:
    provider = AfricasTalkingSms(AfricasTalkingConfig("u", Secret("k")), http)
    report = provider.parse_delivery_report({"id": "ATXid_1", "status": status})
    assert report is not None and report.state is state and report.provider_status == status


async def test_delivery_report_rejects_non_reports(http: httpx.AsyncClient) -> None:
    provider = AfricasTalkingSms(AfricasTalkingConfig("u", Secret("k")), http)
    assert provider.parse_delivery_report({}) is None
    assert provider.parse_delivery_report({"id": "x"}) is None
    assert provider.parse_delivery_report({"id": "x", "status": "Teleported"}) is None


async def test_console_writes_the_message(http: httpx.AsyncClient) -> None:
    lines: list[str] = []
    provider = build_sms_provider({"NGUVU_SMS_PROVIDER": "console"}, http, write=lines.append)
    assert isinstance(provider, ConsoleSms)
    sent = await provider.send(msg())
    assert sent.status == "sent" and lines == [f"[SMS to +243810000001] {TOKEN_SMS}"]
    assert provider.parse_delivery_report({"id": "x", "status": "Success"}) is None


async def test_config() -> None:
    assert load_sms_config({}) is None
    with pytest.raises(SmsConfigError, match="NGUVU_AT_API_KEY"):
        load_sms_config({"NGUVU_SMS_PROVIDER": "africastalking", "NGUVU_AT_USERNAME": "u"})
    with pytest.raises(SmsConfigError, match="NGUVU_SMS_PROVIDER"):
        load_sms_config({"NGUVU_SMS_PROVIDER": "pigeon"})
    config = load_sms_config(
        {
            "NGUVU_SMS_PROVIDER": "africastalking",
            "NGUVU_AT_USERNAME": "sandbox",
            "NGUVU_AT_API_KEY": "atsk_very_secret",
        }
    )
    assert config is not None and config.base_url == SANDBOX_URL
    assert "atsk_very_secret" not in repr(config) and "atsk_very_secret" not in str(config)


async def test_messages_need_e164_and_text() -> None:
    with pytest.raises(ValueError):
        SmsMessage("0810000001", "x", "r")
    with pytest.raises(ValueError):
        SmsMessage("+243810000001", "", "r")
