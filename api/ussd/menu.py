"""The USSD menu as a pure function of the inputs so far.

Africa's Talking sends every input of the session joined by `*` on each request, so the server replays
the whole path each time: `run(inputs, catalog)` walks the screens and returns the one to show. `0` goes
back one screen, `00` returns to the main menu, bad input re-shows the same screen with a polite line on
top. Only lookups go through `Catalog`; writing (queueing the payment) is the handler's job, on the final
screen only, so bad input never changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from api.errors import AmountOutOfLimits, InvalidInput
from api.pricing import Quote, parse_amount, plain
from api.ussd.texts import LANGS, text

MAX_SCREEN = 160
CURRENCY_CHOICES = {"1": "CDF", "2": "USD"}
LANG_CHOICES = {"1": "fr", "2": "en", "3": "sw"}


@dataclass(frozen=True)
class Account:
    meter_id: int
    meter: str  # DRN, as printed on the meter
    holder: str  # masked name
    limits: dict[str, tuple[Decimal, Decimal]]  # currency -> (min, max)


class Catalog(Protocol):
    def account(self, number: str) -> Account | None: ...

    def quote(self, meter_id: int, currency: str, amount: Decimal) -> Quote: ...


@dataclass(frozen=True)
class State:
    screen: str  # lang | main | currency | account | amount | confirm | resend | END screens
    lang: str
    currency: str = ""
    account: Account | None = None
    quote: Quote | None = None
    error: str = ""  # key of the error line shown above the screen

    @property
    def final(self) -> bool:
        return self.screen in ("queued", "cancelled", "help", "resent", "resend_limited")


def run(inputs: list[str], catalog: Catalog, default_lang: str = "fr") -> State:
    state = State("lang", default_lang if default_lang in LANGS else "fr")
    history: list[State] = []
    for raw in inputs:
        value = raw.strip()
        if state.final:
            break
        if value == "00":
            history = [State("lang", state.lang)]
            state = State("main", state.lang)
        elif value == "0" and history:
            state = history.pop()
        else:
            nxt = step(replace(state, error=""), value, catalog)
            if nxt.error:
                state = nxt
            else:
                history.append(replace(state, error=""))
                state = nxt
    return state


def step(state: State, value: str, catalog: Catalog) -> State:
    """One input on one screen: the next state, or the same state with `error` set."""
    s = state.screen
    if s == "lang":
        lang = LANG_CHOICES.get(value)
        return State("main", lang) if lang else replace(state, error="err_choice")
    if s == "main":
        target = {"1": "currency", "2": "resend", "3": "help"}.get(value)
        return State(target, state.lang) if target else replace(state, error="err_choice")
    if s == "currency":
        currency = CURRENCY_CHOICES.get(value)
        return (
            replace(state, screen="account", currency=currency)
            if currency
            else replace(state, error="err_choice")
        )
    if s in ("account", "resend"):
        account = catalog.account(value) if 0 < len(value) <= 20 else None
        if account is None:
            return replace(state, error="err_account")
        if s == "resend":
            return replace(state, screen="resent", account=account)
        if state.currency not in account.limits:
            return replace(state, error="err_tariff")
        return replace(state, screen="amount", account=account)
    if s == "amount":
        return _amount(state, value, catalog)
    if s == "confirm":
        target = {"1": "queued", "2": "cancelled"}.get(value)
        return replace(state, screen=target) if target else replace(state, error="err_choice")
    return replace(state, error="err_choice")


def _amount(state: State, value: str, catalog: Catalog) -> State:
    assert state.account is not None
    if not value.isdigit():  # the keypad has no decimal point; whole CDF or USD
        return replace(state, error="err_amount")
    try:
        q = catalog.quote(state.account.meter_id, state.currency, parse_amount(value, state.currency))
    except AmountOutOfLimits:
        return replace(state, error="err_limits")
    except InvalidInput:
        return replace(state, error="err_amount")
    if q.units <= 0:
        return replace(state, error="err_limits")
    return replace(state, screen="confirm", quote=q)


def render(state: State) -> str:
    """The reply body: `CON ...` to wait for input, `END ...` to close the session."""
    lang = state.lang
    if state.final:
        values = {"meter": state.account.meter} if state.account else {}
        return "END " + text(state.screen, lang, **values)
    body = _screen(state)
    if state.screen not in ("lang", "main"):
        body += "\n" + text("nav", lang)
    if state.error:
        body = text(state.error, lang) + "\n" + body
    return "CON " + body


def _screen(state: State) -> str:
    lang = state.lang
    if state.screen == "amount":
        assert state.account is not None
        lo, hi = state.account.limits[state.currency]
        return text(
            "amount",
            lang,
            meter=state.account.meter,
            holder=state.account.holder,
            currency=state.currency,
            min=plain(lo),
            max=plain(hi),
        )
    if state.screen == "confirm":
        assert state.account is not None and state.quote is not None
        return text(
            "confirm",
            lang,
            amount=plain(state.quote.amount),
            currency=state.currency,
            units=plain(state.quote.units),
            meter=state.account.meter,
        )
    if state.screen == "resend":
        return text("account", lang)
    return text(state.screen, lang)


def split_text(raw: str) -> list[str]:
    """AT's `text`: empty on the first request, then every input joined by `*`."""
    return [] if raw == "" else raw.split("*")


def mask_name(name: str, post_name: str) -> str:
    """`Kahindo Masika` -> `K***** M*****`: enough for the payer to recognise, not to learn."""
    parts = [p for p in (name.strip(), post_name.strip()) if p]
    return " ".join(p[0] + "*" * min(len(p) - 1, 8) for p in parts)[:30] or "-"
