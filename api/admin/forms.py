"""From posted forms to use-case inputs, and the dry run behind inline validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from api.db import transaction
from api.errors import FieldErrors
from api.usecases.meters import MeterInput
from api.usecases.subscribers import SubscriberInput

SUBSCRIBER_FIELDS = ("customer_code", "name", "post_name", "phone", "quarter", "cell", "avenue", "language")
METER_FIELDS = (
    "number",
    "vending_key",
    "sgc",
    "ti",
    "krn",
    "kt",
    "ken",
    "base_date",
    "dkga",
    "ea",
    "serial_number",
    "phases",
    "latitude",
    "longitude",
    "connection_date",
    "tariff_name",
    "serial_url",
)


def texts(form: FormData | None) -> dict[str, str]:
    """The text fields of a form, stripped (files and the CSRF token left out)."""
    if form is None:
        return {}
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf"}


def subscriber_input(values: dict[str, str]) -> SubscriberInput:
    return SubscriberInput(**{k: values.get(k, "") for k in SUBSCRIBER_FIELDS})


def meter_input(values: dict[str, str], prefix: str) -> MeterInput:
    """A MeterInput from fields named `<prefix><field>`; empty optional numbers stay empty (None)."""
    got: dict[str, Any] = {k: values.get(prefix + k, "") for k in METER_FIELDS}
    for optional in ("latitude", "longitude", "connection_date"):
        got[optional] = got[optional] or None
    got["connected"] = values.get(prefix + "connected") == "1"
    return MeterInput(**got)


class _RolledBack(Exception):
    """Raised to roll back a dry run that passed every check."""


def dry_run(engine: Engine, action: Callable[[Session], object]) -> dict[str, str]:
    """The field errors `action` would raise, writing nothing whatever happens."""
    try:
        with transaction(engine) as s:
            action(s)
            raise _RolledBack
    except FieldErrors as exc:
        return exc.errors
    except _RolledBack:
        return {}
