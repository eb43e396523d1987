"""The ALPR engines' output formats a node imports, each from its vendor's published format.

    name                      engine and output                  file layout
    platerecognizer-webhook   Plate Recognizer Stream webhook    one JSON body, or an array
    platerecognizer-jsonl     Plate Recognizer Stream jsonlines  one event per line
    platerecognizer-csv       Plate Recognizer Stream csv_file   CSV, one plate per row
    rekor-alpr-group          Rekor Scout / OpenALPR alpr_group  one JSON body, or an array
    verkada-lpr               Verkada LPR webhook                one JSON body, or an array
    mapped-csv                any CSV export + a mapping file    CSV (formats.mapped_csv)

Each module turns one vendor record into ``ReadDraft`` values (agency_node.formats.reads); the
importer (agency_node.formats.importer) and the webhook receiver (agency_node.webhook) store them
through the node's one bulk path. The alprfed CSV format stays in agency_node.csv_import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agency_node.formats import platerecognizer, rekor, verkada
from agency_node.formats.reads import ReadDraft


class Layout(StrEnum):
    """How a file holds a format's records."""

    JSON = "json"  # one JSON body, or a JSON array of bodies
    JSON_LINES = "jsonl"  # one JSON value per line
    CSV = "csv"  # a header row, then one record per row


@dataclass(frozen=True)
class JsonFormat:
    """A JSON format: ``reads`` turns one decoded body into reads (raising InvalidRequest)."""

    name: str
    layout: Layout
    reads: Callable[[Any], list[ReadDraft]]
    webhook: bool  # the vendor posts it, so the webhook receiver accepts it


JSON_FORMATS = {
    fmt.name: fmt
    for fmt in (
        JsonFormat("platerecognizer-webhook", Layout.JSON, platerecognizer.webhook_reads, True),
        JsonFormat("platerecognizer-jsonl", Layout.JSON_LINES, platerecognizer.jsonl_reads, False),
        JsonFormat("rekor-alpr-group", Layout.JSON, rekor.group_reads, True),
        JsonFormat("verkada-lpr", Layout.JSON, verkada.lpr_reads, True),
    )
}
CSV_FORMATS = ("platerecognizer-csv", "mapped-csv")
ALPRFED_CSV = "alprfed-csv"
ALL_FORMATS = (ALPRFED_CSV, *JSON_FORMATS, *CSV_FORMATS)
WEBHOOK_FORMATS = tuple(name for name, fmt in JSON_FORMATS.items() if fmt.webhook)
