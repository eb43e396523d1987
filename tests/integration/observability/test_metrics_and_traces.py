"""Real gateway and nodes over mTLS, read the way an operator's tools read them: Prometheus
scrapes /metrics, a tracing backend receives spans, a log shipper parses JSON lines."""

from __future__ import annotations

import time

import grpc
import pytest
from federations import SUSPECT
from observed import JsonLines, ObservedFederation, sample, scrape
from probe_client import http_get

from alprfed.config import load_federation
from alprfed.messages import Outcome
from alprfed.rpc.tls import secure_channel
from alprfed.v1 import common_pb2, gateway_pb2, node_pb2, node_pb2_grpc

QUERY = "alprfed_rpc_server_handled_total"


def test_a_query_moves_the_gateway_and_node_counters(observed: ObservedFederation) -> None:
    federation = observed.federation
    warrant = federation.warrant()
    gateway_before = scrape(observed.gateway_metrics_port)
    node_before = scrape(observed.node_metrics_port("sjpd"))

    answer = federation.query("sjpd", "officer-garcia", warrant_id=warrant)

    gateway_after = scrape(observed.gateway_metrics_port)
    node_after = scrape(observed.node_metrics_port("sjpd"))

    def moved(before: dict, after: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
        return sample(after, name, **labels) - sample(before, name, **labels)

    query = {"service": "alprfed.v1.Gateway", "method": "Query", "code": "OK"}
    assert moved(gateway_before, gateway_after, QUERY, **query) == 1
    timed = "alprfed_rpc_server_duration_seconds_count"
    assert moved(gateway_before, gateway_after, timed, **query) == 1
    for outcome in answer.outcomes:
        assert (
            moved(
                gateway_before,
                gateway_after,
                "alprfed_gateway_fanout_outcomes_total",
                agency=outcome.agency_id,
                outcome=outcome.outcome.value,
            )
            >= 1
        )
        for reason in outcome.reasons:
            assert (
                moved(
                    gateway_before,
                    gateway_after,
                    "alprfed_gateway_refusals_total",
                    rule=reason.rule_id,
                )
                >= 1
            )
    # The decision and the outcome: at least two entries appended, each in a timed batch.
    assert moved(gateway_before, gateway_after, "alprfed_ledger_appended_entries_total") >= 2
    assert moved(gateway_before, gateway_after, "alprfed_ledger_append_seconds_count") >= 1

    sjpd = next(o for o in answer.outcomes if o.agency_id == "sjpd")
    assert sjpd.outcome is Outcome.RESULTS
    search = {"service": "alprfed.v1.AgencyNode", "method": "Search", "code": "OK"}
    assert moved(node_before, node_after, QUERY, **search) == 1
    assert moved(node_before, node_after, "alprfed_node_searches_total", result="results") == 1
    # Its evidence check timed, within the histogram's top bucket and above nothing.
    checks = "alprfed_node_evidence_check_seconds"
    assert moved(node_before, node_after, f"{checks}_count", outcome="verified") == 1
    assert moved(node_before, node_after, f"{checks}_bucket", outcome="verified", le="+Inf") == 1
    assert moved(node_before, node_after, f"{checks}_sum", outcome="verified") > 0


def test_sampled_gauges_show_what_the_node_holds(observed: ObservedFederation) -> None:
    samples = scrape(observed.node_metrics_port("chicago-pd"))
    store = observed.federation.nodes["chicago-pd"]._store
    assert sample(samples, "alprfed_node_sightings") == store.count_sightings()
    assert sample(samples, "alprfed_node_retention_seconds") > 0
    assert ("alprfed_node_purge_lag_seconds", ()) in samples
    gateway = scrape(observed.gateway_metrics_port)
    assert sample(gateway, "alprfed_ledger_entries") >= 1


def test_a_traced_query_is_one_trace_across_gateway_and_node(
    observed: ObservedFederation,
) -> None:
    federation = observed.federation
    warrant = federation.warrant()
    observed.spans.clear()

    federation.query("sjpd", "officer-garcia", warrant_id=warrant)

    spans = observed.spans.get_finished_spans()
    query = next(s for s in spans if s.name == "alprfed.v1.Gateway/Query")
    searches = [s for s in spans if s.name == "alprfed.v1.AgencyNode/Search"]
    servers = [s for s in searches if s.resource.attributes["service.name"] == "alprfed-node"]
    clients = [s for s in searches if s.resource.attributes["service.name"] == "alprfed-gateway"]
    assert servers
    assert len(servers) == len(clients)
    assert query.parent is None  # the officer's client sent no trace: the gateway starts one
    for span in (*servers, *clients):
        assert span.context.trace_id == query.context.trace_id
    client_ids = {c.context.span_id for c in clients}
    assert all(s.parent is not None and s.parent.span_id in client_ids for s in servers)
    assert all(c.parent is not None and c.parent.span_id == query.context.span_id for c in clients)
    assert query.attributes["rpc.grpc.status_code"] == 0


def test_json_log_lines_parse_and_share_the_request_id(observed: ObservedFederation) -> None:
    federation = observed.federation
    warrant = federation.warrant()
    with JsonLines() as logs:
        federation.query("sjpd", "officer-garcia", warrant_id=warrant)
    events = logs.events()  # every line is one JSON object, or this raises
    answered = next(e for e in events if e["message"].startswith("query "))
    request_id = answered["request_id"]
    node_lines = [e for e in events if e["logger"] == "alprfed.node"]
    assert node_lines
    assert all(e["request_id"] == request_id for e in node_lines)
    assert {e["trace_id"] for e in node_lines} == {answered["trace_id"]}


def test_a_request_id_that_could_carry_data_is_replaced(observed: ObservedFederation) -> None:
    federation = observed.federation
    with JsonLines() as logs:
        federation.query("sjpd", "officer-garcia", metadata=(("x-request-id", f"plate-{SUSPECT}"),))
    ids = {e.get("request_id", "") for e in logs.events()}
    assert not any(SUSPECT in i for i in ids)


def test_probes_report_health_and_readiness(observed: ObservedFederation) -> None:
    assert http_get(observed.gateway_metrics_port, "/healthz") == (200, "ok\n")
    status, body = http_get(observed.gateway_metrics_port, "/readyz")
    assert status == 200
    assert body.splitlines() == ["database: ok", "ledger_writer: ok", "witness_quorum: ok"]
    assert http_get(observed.node_metrics_port("norfolk-pd"), "/readyz") == (200, "database: ok\n")
    assert http_get(observed.gateway_metrics_port, "/secrets")[0] == 404


def test_refused_calls_are_counted_by_their_status_code(observed: ObservedFederation) -> None:
    """The code label is the status the error mapping chose, on the aio gateway and on the
    threaded node alike."""
    federation = observed.federation
    gateway_before = scrape(observed.gateway_metrics_port)
    node_before = scrape(observed.node_metrics_port("sjpd"))

    malformed = gateway_pb2.QueryRequest(plate="NOT A PLATE!", purpose="robbery")
    with pytest.raises(grpc.RpcError) as at_gateway:
        federation.stub("sjpd", "officer-garcia").Query(malformed, timeout=15)
    officer = federation.tls("sjpd", "officer-garcia")
    with (
        secure_channel(_node_address(observed, "sjpd"), officer) as channel,
        pytest.raises(grpc.RpcError) as at_node,
    ):
        node_pb2_grpc.AgencyNodeStub(channel).Search(node_pb2.SearchRequest(), timeout=15)

    gateway_after = scrape(observed.gateway_metrics_port)
    node_after = scrape(observed.node_metrics_port("sjpd"))
    query = {"service": "alprfed.v1.Gateway", "method": "Query"}
    code = at_gateway.value.code().name
    assert code == "INVALID_ARGUMENT"
    assert (
        sample(gateway_after, QUERY, **query, code=code)
        - sample(gateway_before, QUERY, **query, code=code)
        == 1
    )
    search = {"service": "alprfed.v1.AgencyNode", "method": "Search"}
    code = at_node.value.code().name
    assert code == "PERMISSION_DENIED"  # only the gateway's certificate may search
    assert (
        sample(node_after, QUERY, **search, code=code)
        - sample(node_before, QUERY, **search, code=code)
        == 1
    )


def _node_address(observed: ObservedFederation, agency: str) -> str:
    federation = load_federation(observed.federation.layout.federation_file)
    return federation.agencies[agency].node_address


def test_ingest_moves_the_ingest_counter_and_the_sightings_held(
    observed: ObservedFederation,
) -> None:
    federation = observed.federation
    port = observed.node_metrics_port("norfolk-pd")
    before = scrape(port)
    camera = common_pb2.Camera(
        camera_id="cam-metrics",
        name="Granby St & Brambleton Ave",
        position=common_pb2.Position(latitude_e6=36_853_000, longitude_e6=-76_287_000),
    )
    sightings = [
        common_pb2.Sighting(
            plate=f"MTR{n:04d}",
            plate_state="va",
            observed_at=int(time.time()) - 60 - n,
            camera_id="cam-metrics",
            position=common_pb2.Position(latitude_e6=36_853_010, longitude_e6=-76_287_020),
            confidence_per_mille=900,
        )
        for n in range(5)
    ]
    batch = node_pb2.IngestBatch(sequence=1, cameras=[camera], sightings=sightings)
    tooling = federation.tls("norfolk-pd", "node")  # the agency's own node tooling
    with secure_channel(_node_address(observed, "norfolk-pd"), tooling) as channel:
        summary = node_pb2_grpc.AgencyNodeStub(channel).IngestSightings(iter([batch]), timeout=15)
    after = scrape(port)
    assert summary.sightings == 5
    ingested = "alprfed_node_ingested_sightings_total"
    assert sample(after, ingested) - sample(before, ingested) == summary.sightings
    ingest = {"service": "alprfed.v1.AgencyNode", "method": "IngestSightings", "code": "OK"}
    assert sample(after, QUERY, **ingest) - sample(before, QUERY, **ingest) == 1
