"""The transparency report in a real headless Chromium (tests/browser.py), served over HTTP as
a host would serve it: every page loads without console errors and passes axe-core's WCAG 2
A/AA rules, the numbers a reader sees equal `alprfed ledger audit --json`, every link and
download works, and the pages work without JavaScript and print."""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import axe_violations, chromium, require_browser
from click.testing import CliRunner
from report_ledger import BuiltLedger, serve_report, tamper_first_decision

from alprfed.ledger.reader import LedgerReader
from alprfed.ledger.verify import verify_ledger
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.report.facts import utc_time
from alprfed.report.site import agency_page

# Where `make report-screenshots` asks for the screenshots of the main pages (docs/images).
SCREENSHOTS_DIR = os.environ.get("ALPRFED_SCREENSHOTS_DIR")
DOWNLOAD_WAIT_S = 20  # the most a download is waited for before the test fails


@pytest.fixture(scope="module")
def site(ledger: BuiltLedger, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The report of the session's ledger, served by `alprfed report serve`'s server."""
    require_browser()
    policy = WitnessPolicy.load(Path(ledger.witness_policy))
    out = tmp_path_factory.mktemp("served") / "site"
    server, reader = serve_report(ledger.url, out, list(policy.logs), policy)
    assert server.failure is None, server.failure
    yield server.url
    server.stop()
    reader.close()


@pytest.fixture(scope="module")
def audit(ledger: BuiltLedger) -> dict[str, Any]:
    from alprfed.cli.main import cli

    result = CliRunner().invoke(
        cli,
        [
            "ledger",
            "--database",
            ledger.url,
            "audit",
            "--witness-policy",
            ledger.witness_policy,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    downloads = tmp_path_factory.mktemp("downloads")
    with chromium(download_dir=downloads) as browser:
        browser.download_dir = downloads
        yield browser


def pages(site: str, driver: Any) -> list[str]:
    """Every HTML page reachable from the index, in the order first linked."""
    from selenium.webdriver.common.by import By

    found, queue = [site + "index.html"], [site + "index.html"]
    while queue:
        driver.get(queue.pop(0))
        for link in driver.find_elements(By.CSS_SELECTOR, "a[href]"):
            href = link.get_attribute("href").split("#")[0]
            if href.startswith(site) and href.endswith(".html") and href not in found:
                found.append(href)
                queue.append(href)
    return found


def text_of(driver: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, element_id).text).strip()


def table_rows(driver: Any, table_id: str) -> dict[str, int]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    cells = [[c.text.strip() for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    return {c[0]: int(c[-1]) for c in cells}


def test_every_page_loads_without_console_errors_and_passes_axe(site: str, driver: Any) -> None:
    every = pages(site, driver)
    assert len(every) >= 3 + 5  # federation, anomalies, downloads and the five agencies
    for url in every:
        driver.get_log("browser")  # drain what earlier pages (or tests) logged
        driver.get(url)
        errors = [m for m in driver.get_log("browser") if m["level"] == "SEVERE"]
        assert errors == [], (url, errors)
        violations = axe_violations(driver)
        assert violations == [], (url, [(v["id"], v.get("help")) for v in violations])


def test_the_numbers_shown_equal_ledger_audit_json(
    site: str, driver: Any, audit: dict[str, Any], ledger: BuiltLedger
) -> None:
    driver.get(site + "index.html")
    assert int(text_of(driver, "metric-entries")) == audit["entries"]
    assert int(text_of(driver, "metric-queries")) == audit["queries"]
    assert int(text_of(driver, "metric-rejected")) == audit["rejected"]
    assert int(text_of(driver, "metric-warrants")) == len(audit["warrants_used"])
    assert int(text_of(driver, "metric-awaiting")) == len(audit["awaiting_review"])
    assert table_rows(driver, "table-purpose") == audit["by_purpose"]
    assert table_rows(driver, "table-requester") == audit["by_requester"]
    assert table_rows(driver, "table-outcome") == audit["by_outcome"]
    for agency in ("sjpd", "ice-ero", "johnson-county-so", "chicago-pd", "norfolk-pd"):
        driver.get(site + agency_page(agency))
        assert int(text_of(driver, "metric-made")) == audit["by_requester"].get(agency, 0)
    driver.get(site + agency_page("sjpd"))
    assert text_of(driver, "list-awaiting").split() == audit["awaiting_review"]
    assert table_rows(driver, "table-warrants") == {"santa-clara-superior": 1}


def test_the_witnesses_shown_are_those_whose_cosignatures_verify(
    site: str, driver: Any, ledger: BuiltLedger
) -> None:
    from selenium.webdriver.common.by import By

    policy = WitnessPolicy.load(Path(ledger.witness_policy))
    reader = LedgerReader.open_readonly(ledger.url)
    try:
        verified = verify_ledger(reader, list(policy.logs), witness_policy=policy)
    finally:
        reader.close()
    driver.get(site + "index.html")
    rows = driver.find_elements(By.CSS_SELECTOR, "#table-witnesses tbody tr")
    cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    shown = {name: cosigned_at for name, cosigned_at in cells}
    assert shown == {name: utc_time(ts) for name, ts in verified.cosigners.items()}
    assert len(shown) >= 2  # the quorum
    assert int(text_of(driver, "metric-size")) == verified.size
    assert text_of(driver, "root-hash") == verified.checkpoint.root.hex()


def test_every_link_and_download_works(site: str, driver: Any) -> None:
    from selenium.webdriver.common.by import By

    for url in pages(site, driver):
        driver.get(url)
        assert "Error response" not in driver.title, url
        for link in driver.find_elements(By.CSS_SELECTOR, "a[href]"):
            href = link.get_attribute("href")
            if href.startswith(site):
                with urllib.request.urlopen(href, timeout=10) as response:
                    assert response.status == 200, (url, href)

    driver.get(site + "downloads.html")
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#downloads a[download]")]
    assert names == ["access-log.csv", "queries.csv", "refusals.csv", "audit.json", "report.json"]
    for name in names:
        driver.find_element(By.LINK_TEXT, name).click()
    for name in names:
        path = Path(driver.download_dir) / name
        deadline = time.monotonic() + DOWNLOAD_WAIT_S
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with urllib.request.urlopen(site + name, timeout=10) as response:
            assert path.read_bytes() == response.read(), name


def test_the_pages_work_without_javascript_and_print(
    site: str, audit: dict[str, Any], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with chromium(javascript=False) as plain:
        plain.get(site + "index.html")
        assert int(text_of(plain, "metric-queries")) == audit["queries"]
        assert plain.find_element(By.ID, "chart-purpose").is_displayed()
        plain.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        assert not plain.find_element(By.TAG_NAME, "nav").is_displayed()
        assert plain.find_element(By.ID, "chart-purpose").is_displayed()
        pdf = base64.b64decode(plain.execute_cdp_cmd("Page.printToPDF", {})["data"])
        assert pdf.startswith(b"%PDF-")
        (tmp_path / "index.pdf").write_bytes(pdf)


def test_a_tampered_ledger_shows_no_report_in_the_browser(
    ledger: BuiltLedger, driver: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    url = ledger.copy(tmp_path)
    index = tamper_first_decision(url)
    policy = WitnessPolicy.load(Path(ledger.witness_policy))
    server, reader = serve_report(url, tmp_path / "site", list(policy.logs), policy)
    try:
        for page in ("index.html", agency_page("sjpd"), "access-log.csv"):
            driver.get(server.url + page)
            text = driver.find_element(By.TAG_NAME, "body").text
            assert "The ledger does not verify; no report is published." in text
            assert f"entry {index}" in text
            assert not driver.find_elements(By.ID, "metric-queries")
        assert not list((tmp_path / "site").iterdir())  # nothing was written either
    finally:
        server.stop()
        reader.close()


def test_markup_that_escaped_escaping_still_could_not_run_script(site: str, driver: Any) -> None:
    """Defence in depth behind autoescaping: the pages' Content-Security-Policy forbids every
    script, so even an injected inline handler does not run (and the browser says why)."""
    driver.get(site + agency_page("chicago-pd"))
    driver.get_log("browser")
    driver.execute_script(
        "document.body.insertAdjacentHTML('beforeend',"
        ' \'<img id="x" src="data:," onload="window.ran = 1">'
        '<div onclick="window.ran = 2" id="y">y</div>\');'
        "document.getElementById('y').click();"
    )
    assert driver.execute_script("return window.ran === undefined")
    messages = [m["message"] for m in driver.get_log("browser")]
    assert any("Content Security Policy" in m for m in messages), messages
    with urllib.request.urlopen(site + "index.html", timeout=10) as response:
        assert "script-src" not in response.headers["Content-Security-Policy"]
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_screenshots_of_the_main_pages(site: str, driver: Any, tmp_path: Path) -> None:
    main = {"report-federation.png": "index.html", "report-agency.png": agency_page("sjpd")}
    main["report-anomalies.png"] = "anomalies.html"
    for name, page in main.items():
        driver.set_window_size(1280, 800)  # the page's height, not the last one's, is measured
        driver.get(site + page)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(int(height) + 20, 4000))
        assert driver.save_screenshot(str(tmp_path / name))
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
        if SCREENSHOTS_DIR:
            Path(SCREENSHOTS_DIR).mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / name, Path(SCREENSHOTS_DIR) / name)
    driver.set_window_size(1280, 1000)
