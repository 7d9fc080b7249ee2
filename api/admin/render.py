"""Templates of the back office: one Jinja2 environment, autoescaping everything, and the filters that
write money, energy, dates and tokens the way people in Beni read them.

Conventions (one home for them, used by every page and receipt):
- Congolese francs: `12 500 FC` (groups of three with a no-break space, no centimes unless there are
  some, then `12 500,50 FC` with a decimal comma as French writes it).
- US dollars: `USD 12.50` (always two decimals with a point, as dollar prices are written in the shops of
  North Kivu; thousands grouped the same way: `USD 1 250.00`).
- Energy: `12.5 kWh`; dates and times in NGUVU_TIMEZONE: `03/12/2026 14:05`.
- Tokens in groups of four: `1234 5678 9012 3456 7890`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import compile_path

from api.admin import i18n

NBSP = "\u00a0"


def _grouped(digits: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return NBSP.join(parts)


def money(value: Decimal | int | str | None, currency: str = "CDF") -> str:
    """`12 500 FC`, `USD 12.50` (see the module docstring); empty for None."""
    if value is None or value == "":
        return ""
    amount = Decimal(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if currency.upper() == "USD":
        whole, cents = f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):f}".split(".")
        return f"USD{NBSP}{sign}{_grouped(whole)}.{cents}"
    rounded = amount.quantize(Decimal("0.01"), ROUND_HALF_UP)
    whole, cents = f"{rounded:f}".split(".")
    text = _grouped(whole) + ("" if cents == "00" else f",{cents}")
    suffix = "FC" if currency.upper() == "CDF" else currency.upper()
    return f"{sign}{text}{NBSP}{suffix}"


def units(value: Decimal | float | str | None) -> str:
    """`12.5 kWh` (one decimal, as STS credits energy)."""
    if value is None or value == "":
        return ""
    return f"{Decimal(value).quantize(Decimal('0.1'), ROUND_HALF_UP):f}{NBSP}kWh"


def group4(token: str | None) -> str:
    """A token in groups of four digits (the way the meter's keypad is read)."""
    digits = (token or "").replace(" ", "")
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def local_time(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def local_date(value: date | datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone).date()
    return value.strftime("%d/%m/%Y")


@pass_context
def _when(ctx: Context, value: datetime | None) -> str:
    return local_time(value, ctx["zone"])


@pass_context
def _day(ctx: Context, value: date | datetime | None) -> str:
    return local_date(value, ctx["zone"])


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("api.admin", "templates"),
        autoescape=True,  # every template, whatever its name: a subscriber named <script> stays text
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, units=units, token=group4, when=_when, day=_day)
    return env


ENV = _environment()


def nav_for(request: Request) -> list[tuple[str, str]]:
    """(url, text key) of the menu entries the current account may open, in menu order."""
    admin = getattr(request.state, "admin", None)
    if admin is None:
        return []
    routes = getattr(request.app.state, "admin_routes", ())
    entries = [r for r in routes if r.menu and admin.role in r.roles]
    entries.sort(key=lambda r: r.order)
    return [("/admin" + r.path, r.menu) for r in entries]


def page_to_reload(request: Request) -> str:
    """The page the language links reload: this one for a GET; for a page a POST rendered (a sale's
    preview, an engineering review, a reprint, a form with errors) the nearest page above it that
    answers GET, since the POST itself cannot be repeated by a link."""
    path = request.url.path
    if request.method == "GET":
        return path
    routes = getattr(request.app.state, "admin_routes", ())
    pages = [compile_path("/admin" + r.path)[0] for r in routes if "GET" in r.methods]
    while path.count("/") > 1:
        if any(page.fullmatch(path) for page in pages):
            return path
        path = path.rsplit("/", 1)[0]
    return "/admin/"


def lang_link(request: Request, code: str) -> str:
    """This page in language `code`, keeping a GET page's filters and position (not its notice)."""
    keep = [] if request.method != "GET" else request.query_params.multi_items()
    params = [(k, v) for k, v in keep if k not in ("lang", "done")]
    return page_to_reload(request) + "?" + urlencode([*params, ("lang", code)])


def context(request: Request, extra: Mapping[str, Any]) -> dict[str, Any]:
    lang: str = getattr(request.state, "lang", "fr")
    settings = request.app.state.service.settings

    def t(key: str, **values: Any) -> str:
        return i18n.text(lang, key, **values)

    def field_error(key: str) -> str:
        return t(f"field.{key}") if i18n.has(f"field.{key}") else key

    base: dict[str, Any] = {
        "request": request,
        "admin": getattr(request.state, "admin", None),
        "csrf": getattr(request.state, "csrf", ""),
        "lang": lang,
        "langs": i18n.LANGS,
        "lang_link": lambda code: lang_link(request, code),
        "t": t,
        "field_error": field_error,
        "zone": settings.zone,
        "nav": nav_for(request),
        "path": request.url.path,
        "done": i18n.done_key(request.query_params.get("done")),
    }
    base.update(extra)
    return base


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **ctx: Any,
) -> HTMLResponse:
    """Render `template` (under api/admin/templates) with the base context and `ctx`."""
    html = ENV.get_template(template).render(context(request, ctx))
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    # Pages show personal data: never cached by a shared computer's browser or a proxy.
    response.headers.setdefault("Cache-Control", "no-store")
    return response
