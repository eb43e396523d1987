"""The oversight portal: a transparency report built only from a ledger that verifies.

``compile_report`` verifies the ledger (entries, checkpoints, witness quorum) and replays its
decisions with the audit code of ``alprfed ledger audit``, refusing a ledger that fails either;
``render_site`` turns the result into static pages and downloads; ``write_site`` writes them
whole or not at all; ``serve`` keeps a live copy, rebuilt as the log grows. docs/REPORT.md
describes every page and number.
"""

from __future__ import annotations

from alprfed.report.compile import ReportSettings, TransparencyReport, compile_report
from alprfed.report.site import render_site, write_site

__all__ = ["ReportSettings", "TransparencyReport", "compile_report", "render_site", "write_site"]
