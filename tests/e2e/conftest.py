"""One local Spark session for the whole run (start-up costs 5–8 s): local[2], no UI, Arrow on.

The browser tests' fixtures follow (one ``b12 serve --demo``, one chromium, a fresh context per test).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pytest.importorskip("pyspark", reason="the Spark extra is not installed (uv sync --all-extras)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("b12-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


# --- the browser tests (test_web_browser.py; helpers in browser.py). Playwright is imported only when they run. ---


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``b12 serve --demo`` on a free loopback port with a temporary SQLite database, ready (/healthz 200)."""
    from browser import start_server, stop_server

    server = start_server(tmp_path_factory.mktemp("web"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One Debian chromium per test module (sync Playwright). Not per session: between its calls the sync API
    leaves its event loop marked as running in the main thread, which would break ``asyncio.run`` in the tests
    that run after the browser tests."""
    from browser import launch_chromium
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, web_server: Any) -> Iterator[Any]:
    """A page in a fresh browser context (its own cookies), at desktop size. The test fails at teardown if the
    page reported a script error, a CSP refusal, a failed request or a server error."""
    from browser import browsing

    with browsing(chromium, web_server.base_url) as page:
        yield page
