"""Render a compiled report as a static site and write it whole, or not at all.

The site is plain files (HTML, one stylesheet, CSV and JSON): any web server or CDN can host
it, and it works without JavaScript. Pages come from the Jinja2 templates in
``alprfed/report/templates`` with autoescaping on, so nothing a ledger entry says (an officer's
note, a case number) can inject markup.

``write_site`` renders into a fresh directory beside ``out`` and swaps it into place only when
every file is written, so a failed build leaves the previous report untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from alprfed.errors import ConfigError
from alprfed.report.charts import bar_chart
from alprfed.report.compile import TransparencyReport
from alprfed.report.downloads import downloads
from alprfed.report.facts import AgencyFacts, utc_time

PAGES = ("index.html", "anomalies.html", "downloads.html")
# Marks a directory as a report this code wrote, so that only such a directory is replaced.
MARKER = ".alprfed-report"
_SAFE_NAME = re.compile(r"[^a-z0-9-]")


def agency_page(agency_id: str) -> str:
    """The file name of an agency's page (agency ids are lower-case identifiers)."""
    return "agency-" + _SAFE_NAME.sub("-", agency_id.lower()) + ".html"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("alprfed.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = utc_time
    env.globals.update(bar_chart=bar_chart, agency_page=agency_page, by=_by)
    return env


def _by(counter: Counter[tuple[str, str, str]], part: int) -> list[tuple[str, int]]:
    """Totals of a (purpose, outcome, month) counter by one part, largest first (months in
    calendar order)."""
    totals: Counter[str] = Counter()
    for key, count in counter.items():
        totals[key[part]] += count
    if part == 2:
        return sorted(totals.items())
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def render_site(report: TransparencyReport) -> dict[str, str]:
    """File name -> content of every file of the site."""
    env = _environment()
    data = downloads(report)
    context: dict[str, Any] = {
        "report": report,
        "verified": report.verified,
        "audit": report.audit,
        "agencies": report.agencies,
    }
    files = {name: env.get_template(name + ".j2").render(context) for name in PAGES}
    for agency in report.agencies:
        files[agency_page(agency.agency)] = env.get_template("agency.html.j2").render(
            context, agency=agency, awaiting=_awaiting(report, agency)
        )
    files.update(data)
    files["style.css"] = resources.files("alprfed.report").joinpath("static/style.css").read_text()
    return files


def _awaiting(report: TransparencyReport, agency: AgencyFacts) -> list[str]:
    mine = {r.query_id for r in report.access if r.agency == agency.agency}
    return [q for q in report.audit.awaiting_review if q in mine]


def write_site(files: dict[str, str], out: Path) -> None:
    """Write ``files`` as the directory ``out``, replacing what it held only once all are written.

    Raises:
        ConfigError: ``out`` exists, is not empty and is not a report this code wrote (it has
            no MARKER file), so it is not replaced: say, a web root with a site of its own.
    """
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise ConfigError(
            f"--out {out}: exists and is not a report directory; give a new or empty directory"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        (staging / MARKER).write_text(
            "written by alprfed report; the whole directory is replaced by the next build\n"
        )
        staging.chmod(0o755)
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, out: Path) -> None:
    if not out.exists():
        os.replace(staging, out)
        return
    # Two renames: the old report stays whole until the new one takes its name.
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    retired.rmdir()
    os.replace(out, retired)
    os.replace(staging, out)
    shutil.rmtree(retired, ignore_errors=True)
