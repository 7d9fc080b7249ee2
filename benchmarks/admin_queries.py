"""The rows of the back-office benchmark that call the query functions of the /admin pages directly
(`api/queries/...`), each in its own read session, as a page handler does. Inputs are drawn per call
from the seeded data (admin_seed), so every call asks for another subscriber, phone or meter."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from admin_seed import NAMES, Size, drn, phone
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.db import reading
from api.queries import dashboard, payments, subscribers
from api.queries.payments import PaymentFilter

ZONE = ZoneInfo("Africa/Lubumbashi")
Call = Callable[[Session, random.Random], object]


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[random.Random], object]


def _in_session(engine: Engine, call: Call) -> Callable[[random.Random], object]:
    def run(rng: random.Random) -> object:
        with reading(engine) as s:
            return call(s, rng)

    return run


def name_fragment(rng: random.Random) -> str:
    """Four or five letters from inside a common name: thousands of matches, the first page sorted."""
    name = rng.choice(NAMES)
    start = rng.randrange(0, max(1, len(name) - 4))
    return name[start : start + rng.choice((4, 5))].lower()


def rare_fragment(rng: random.Random, size: Size) -> str:
    """A fragment of one subscriber's post-name (its numbered part): a handful of matches."""
    return str(rng.randrange(size.subscribers // 10, size.subscribers))


def phone_fragment(rng: random.Random, size: Size) -> str:
    return phone(rng.randrange(size.subscribers))[-7:]


def calls(size: Size) -> list[tuple[str, Call]]:
    now = datetime.now(UTC)
    who = size.subscribers

    return [
        ("search: name fragment", lambda s, r: subscribers.search(s, name_fragment(r))),
        ("search: rare fragment (digits)", lambda s, r: subscribers.search(s, rare_fragment(r, size))),
        ("search: phone fragment (7 digits)", lambda s, r: subscribers.search(s, phone_fragment(r, size))),
        ("search: meter number (DRN)", lambda s, r: subscribers.search(s, drn(r.randrange(who)))),
        ("subscribers: list by name, no text", lambda s, r: subscribers.search(s, "")),
        ("subscriber detail", lambda s, r: subscribers.detail(s, r.randrange(who) + 1)),
        ("dashboard", lambda s, r: dashboard.dashboard(s, now=datetime.now(UTC), zone=ZONE)),
        ("payments: list, newest first", lambda s, r: payments.listing(s)),
        ("payments: held", lambda s, r: payments.listing(s, PaymentFilter(status="held"))),
        ("payments: failed, CDF, last 7 days", lambda s, r: payments.listing(s, _failed_week(now))),
        (
            "payments: one phone",
            lambda s, r: payments.listing(s, PaymentFilter(phone=phone(r.randrange(who)))),
        ),
        (
            "payments: phone fragment (7 digits)",
            lambda s, r: payments.listing(s, PaymentFilter(phone=phone_fragment(r, size))),
        ),
    ]


def _failed_week(now: datetime) -> PaymentFilter:
    return PaymentFilter(status="failed", currency="CDF", since=now - timedelta(days=7))


def query_cases(engine: Engine, size: Size) -> Iterator[Case]:
    for name, call in calls(size):
        yield Case(name, _in_session(engine, call))


def pages(size: Size) -> list[tuple[str, Callable[[random.Random], tuple[str, dict[str, str]]]]]:
    """The same rows as `calls`, as the /admin pages that run them: (path, query parameters) per call."""
    who = size.subscribers
    return [
        ("search: name fragment", lambda r: ("/admin/subscribers", {"q": name_fragment(r)})),
        ("search: rare fragment (digits)", lambda r: ("/admin/subscribers", {"q": rare_fragment(r, size)})),
        (
            "search: phone fragment (7 digits)",
            lambda r: ("/admin/subscribers", {"q": phone_fragment(r, size)}),
        ),
        ("search: meter number (DRN)", lambda r: ("/admin/subscribers", {"q": drn(r.randrange(who))})),
        ("subscribers: list by name, no text", lambda r: ("/admin/subscribers", {})),
        ("subscriber detail", lambda r: (f"/admin/subscribers/{r.randrange(who) + 1}", {})),
        ("dashboard", lambda r: ("/admin/", {})),
        ("payments: list, newest first", lambda r: ("/admin/payments", {})),
        ("payments: held", lambda r: ("/admin/payments", {"status": "held"})),
        (
            "payments: failed, CDF, last 7 days",
            lambda r: (
                "/admin/payments",
                {
                    "status": "failed",
                    "currency": "CDF",
                    "from": (datetime.now(ZONE) - timedelta(days=7)).date().isoformat(),
                },
            ),
        ),
        ("payments: one phone", lambda r: ("/admin/payments", {"phone": phone(r.randrange(who))})),
        (
            "payments: phone fragment (7 digits)",
            lambda r: ("/admin/payments", {"phone": phone_fragment(r, size)}),
        ),
    ]


def page_cases(http: httpx.Client, size: Size) -> Iterator[Case]:
    """Each page fetched over HTTP from the running service (logged in through `http`); a page that
    does not answer 200 stops the benchmark rather than timing an error page."""

    def fetch(
        which: Callable[[random.Random], tuple[str, dict[str, str]]],
    ) -> Callable[[random.Random], object]:
        def run(rng: random.Random) -> object:
            path, params = which(rng)
            answer = http.get(path, params=params)
            if answer.status_code != 200 or 'id="login-form"' in answer.text:
                raise SystemExit(f"GET {path} {params} answered {answer.status_code}")
            return answer

        return run

    for name, which in pages(size):
        yield Case("http " + name, fetch(which))
