"""Fixtures of the back office's browser tests: one `nguvu serve` and one Chromium per test session,
a fresh browser context (cookies, viewport) per test.

Chromium is Debian's (`/usr/bin/chromium`, installed by scripts/install-system-deps.sh); Playwright's own
browser download does not work offline, so it is launched by path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browserkit import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, DESKTOP, Served, serve
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from api.keystore import Kek


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    _, kek_hex = Kek.generate()
    with serve(tmp_path_factory.mktemp("admin-browser"), kek_hex) as running:
        yield running
    text = running.log.read_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "serve.log").write_text(text)  # kept with the screenshots (tmp dirs are pruned)
    assert "Traceback" not in text, text[-3000:]


# Module scope, not session: Playwright's sync API keeps an event loop running in the main thread while
# it is open, and tests collected after this package call asyncio.run().
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP, locale="fr-FR", timezone_id="Africa/Lubumbashi")
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
