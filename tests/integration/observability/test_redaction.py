"""No plate, warrant id, case number or officer note in any log line, span or metric.

Real federated queries — one that a warrant permits, one refused for want of a warrant, one
citing a warrant that was never registered, one from a person whose role may not query, one
with a malformed plate — with every log record formatted as the JSON line that
``--log-format json`` prints, every span recorded, and every service's /metrics page
scraped. Then the query's secrets are looked for, case-insensitively, everywhere.
"""

from __future__ import annotations

import contextlib
import json
import secrets

import grpc
import pytest
from observed import JsonLines, ObservedFederation
from probe_client import http_get

from agency_node.synthetic import CLINIC_VISITOR, STALE, SUSPECT
from alprfed.models import Purpose
from alprfed.query import QueryInput
from alprfed.wire import gateway as gwire


def _span_text(span: object) -> str:
    """A span as a tracing backend receives it: name, attributes, events, links, status."""
    return span.to_json()  # type: ignore[attr-defined,no-any-return]


def test_no_secret_reaches_logs_spans_or_metrics(observed: ObservedFederation) -> None:
    federation = observed.federation
    case_number = "SJ-REDACT-" + secrets.token_hex(4).upper()
    note = "tipped off by neighbour " + secrets.token_hex(4)
    warrant = federation.warrant(plates=(SUSPECT.plate, CLINIC_VISITOR.plate))
    unregistered = "w-" + secrets.token_hex(5)
    observed.spans.clear()
    with JsonLines() as logs:
        federation.query(
            "sjpd",
            "officer-garcia",
            plate=SUSPECT.plate,
            warrant_id=warrant,
            case_number=case_number,
            purpose_note=note,
        )
        federation.query(
            "sjpd",
            "officer-garcia",
            plate=CLINIC_VISITOR.plate,
            case_number=case_number,
            purpose_note=note,
        )
        for fields in (
            {"warrant_id": unregistered, "plate": STALE.plate},
            {"warrant_id": warrant, "plate": STALE.plate},  # not a plate the warrant names
        ):
            # A refusal at the gateway may be a status; what it logs is what is tested.
            with contextlib.suppress(grpc.RpcError):
                federation.query(
                    "sjpd", "officer-garcia", case_number=case_number, purpose_note=note, **fields
                )
        federation.query("sjpd", "records-clerk", plate=SUSPECT.plate, case_number=case_number)
        # Bytes no client library would send: a plate the gateway must refuse as malformed.
        malformed = gwire.query_to_pb(
            QueryInput.create(
                plate=SUSPECT.plate,
                window_from=federation.now - 86_400,
                window_to=federation.now,
                purpose=Purpose.ROBBERY,
                case_number=case_number,
            )
        )
        malformed.plate = SUSPECT.plate + "#!"
        with pytest.raises(grpc.RpcError) as refused:
            federation.stub("sjpd", "officer-garcia").Query(malformed, timeout=15)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    texts = {"log": "\n".join(logs.lines)}
    texts["spans"] = "\n".join(_span_text(s) for s in observed.spans.get_finished_spans())
    texts["gateway metrics"] = http_get(observed.gateway_metrics_port, "/metrics")[1]
    for agency in federation.nodes:
        texts[f"{agency} metrics"] = http_get(observed.node_metrics_port(agency), "/metrics")[1]

    # The test sees what it greps: lines were logged, spans recorded, metrics served.
    assert len(logs.lines) >= 5
    assert all(json.loads(line) for line in logs.lines)
    assert "alprfed.v1.Gateway/Query" in texts["spans"]
    assert "alprfed_gateway_fanout_outcomes_total" in texts["gateway metrics"]

    secrets_sent = {
        "plate": SUSPECT.plate,
        "second plate": CLINIC_VISITOR.plate,
        "third plate": STALE.plate,
        "warrant id": warrant,
        "unregistered warrant id": unregistered,
        "case number": case_number,
        "officer note": note,
    }
    found = [
        f"{what} in {where}"
        for where, text in texts.items()
        for what, value in secrets_sent.items()
        if value.lower() in text.lower()
    ]
    assert found == []
