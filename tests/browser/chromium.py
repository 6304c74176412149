"""The system's Chromium (Debian's ``chromium``) driven by Playwright's Python client, for the
browser tests; a test skips, saying what to install, where there is none. (The Lab's browser
test, issue 17, has the same needs: one module for both once they meet.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches beyond the machine (updates, sync, QUIC probes).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium_page() -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: the browser tests need Debian's Chromium at {CHROMIUM} "
                    "(`apt-get install -y chromium`; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(accept_downloads=True)
        finally:
            browser.close()
