"""The web page in a real headless Chromium (Debian's), driven by Playwright.

Skipped when Chromium or Playwright is missing, unless FUSIONREC_REQUIRE_BROWSER=1 (as CI sets
it), which turns that into a failure so a broken browser setup never passes silently.
Playwright never downloads a browser here: it launches the system Chromium.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("FUSIONREC_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _chromium() -> str | None:
    named = os.environ.get("FUSIONREC_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("playwright is not installed (pip install -e '.[test]')")
    executable = _chromium()
    if executable is None:
        _skip_or_fail("no Chromium found (apt-get install chromium, or set FUSIONREC_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    try:
        yield page
    finally:
        context.close()


def test_new_user_recommendations_then_similar_items(
    page: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "faiss" in page.inner_text("[data-testid=model-summary]")
    page.select_option("#field-age", label="25-34")
    page.select_option("#field-gender", value="F")
    page.select_option("#field-occupation", label="college/grad student")
    page.fill("#k", "8")
    page.click("[data-testid=recommend]")
    rows = page.locator("#recommendation-list li[data-movie-id]")
    rows.first.wait_for()
    assert rows.count() == 8
    assert page.inner_text("#recommendations-title") == "Top 8 for a new user"
    first = rows.first.inner_text()
    assert "score" in first
    assert page.locator("#similar").is_hidden()

    title = rows.first.locator(".title").inner_text()
    rows.first.locator(".title").click()
    similar = page.locator("#similar-list li[data-movie-id]")
    similar.first.wait_for()
    assert similar.count() == 8
    assert page.inner_text("#similar-title") == f"Similar to {title}"
    picked = rows.first.get_attribute("data-movie-id")
    assert picked not in [similar.nth(i).get_attribute("data-movie-id") for i in range(8)]
    assert page.locator("[data-testid=error]").is_hidden()

    shot = Path(tempfile.mkdtemp(prefix="fusionrec-page-")) / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    with capsys.disabled():  # shown even when pytest captures output
        print(f"\nscreenshot of the page: {shot}")
    assert shot.stat().st_size > 10_000


def test_known_user_genre_filter_and_an_error(page: Any) -> None:
    page.check("input[name=mode][value=known]")
    page.fill("#user-id", "3")
    page.click("[data-testid=genres] label:has-text('Documentary')")
    page.click("[data-testid=recommend]")
    rows = page.locator("#recommendation-list li[data-movie-id]")
    rows.first.wait_for()
    assert page.inner_text("#recommendations-title") == "Top 10 for user 3"
    assert all("Documentary" in rows.nth(i).inner_text() for i in range(rows.count()))

    page.fill("#user-id", "99999")
    page.click("[data-testid=recommend]")
    error = page.locator("[data-testid=error]")
    error.wait_for()
    assert "unknown user id 99999" in error.inner_text()
