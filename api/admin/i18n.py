"""The back office's words in French (default), English and Swahili.

The same approach as the USSD screens (api/ussd/texts.py) and the SMS texts (api/messages.py): one
catalogue, key -> {language: text}, every key in every language (a test checks it, and that every key a
template uses exists). The catalogue is split by area under `api/admin/texts/` (each module a `TEXTS`
dict); a key defined twice is an error at start-up. The language comes from `?lang=`, then the
`nguvu_lang` cookie, then NGUVU_LANGUAGE.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import api.admin.texts as texts_package

LANGS = ("fr", "en", "sw")
COOKIE = "nguvu_lang"
log = logging.getLogger("nguvu.admin")


def _load() -> dict[str, dict[str, str]]:
    catalogue: dict[str, dict[str, str]] = {}
    for info in sorted(pkgutil.iter_modules(texts_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{texts_package.__name__}.{info.name}")
        for key, by_lang in module.TEXTS.items():
            if key in catalogue:
                raise ValueError(f"admin text {key!r} is defined twice (api/admin/texts/{info.name}.py)")
            catalogue[key] = by_lang
    return catalogue


CATALOGUE = _load()


def text(lang: str, key: str, **values: Any) -> str:
    """The text of `key` in `lang` (French if that language lacks it), with `{name}` fields filled."""
    entry = CATALOGUE.get(key)
    if entry is None:
        log.error("admin text %r is missing from the catalogue", key)
        return key
    template = entry.get(lang) or entry["fr"]
    return template.format(**values) if values else template


def has(key: str) -> bool:
    return key in CATALOGUE


def done_key(value: str | None) -> str | None:
    """The confirmation a page asked for with `?done=<name>`, only if the catalogue knows `done.<name>`."""
    if value and has(f"done.{value}"):
        return f"done.{value}"
    return None


def pick(request: Request, default: str) -> str:
    for candidate in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        if candidate in LANGS:
            return candidate
    return default if default in LANGS else "fr"


def remember(response: Response, request: Request) -> None:
    chosen = request.query_params.get("lang")
    if chosen in LANGS and chosen != request.cookies.get(COOKIE):
        response.set_cookie(COOKIE, chosen, max_age=365 * 24 * 3600, path="/admin", samesite="lax")
