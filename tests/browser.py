"""Headless Chromium for tests: Debian's `chromium` driven by its `chromedriver` (Selenium).

Installed by `make browser` (CI runs it). Where either is missing the browser tests skip with
that reason -- unless ALPRFED_REQUIRE_BROWSER=1 (CI sets it), in which case they fail, so CI can
never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

REQUIRE_BROWSER = os.environ.get("ALPRFED_REQUIRE_BROWSER") == "1"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        reason = f"headless Chromium is not installed ({', '.join(missing)}): run `make browser`"
        if REQUIRE_BROWSER:
            pytest.fail(reason + " (ALPRFED_REQUIRE_BROWSER=1: not skipping)")
        pytest.skip(reason)


@contextmanager
def chromium(download_dir: Path | None = None, *, javascript: bool = True) -> Iterator[Any]:
    """A headless Chromium session whose console messages ``get_log("browser")`` returns."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    prefs: dict[str, Any] = {}
    if download_dir is not None:
        prefs["download.default_directory"] = str(download_dir)
        prefs["download.prompt_for_download"] = False
    if not javascript:
        prefs["profile.managed_default_content_settings.javascript"] = 2
    if prefs:
        options.add_experimental_option("prefs", prefs)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """Run the axe-core accessibility engine (shipped by axe-selenium-python) on the page."""
    script = (
        resources.files("axe_selenium_python")
        .joinpath("node_modules/axe-core/axe.min.js")
        .read_text(encoding="utf-8")
    )
    driver.execute_script(script)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})"
        ".then(r => done(r.violations), e => done([{id: 'axe-error', help: String(e)}]));"
    )
    return list(result)
