"""Operational telemetry shared by the gateway, the nodes and the witness (docs/OPERATIONS.md).

    settings      the observability keys of every service's config (one frozen dataclass)
    telemetry     one service's metric registry, tracer and RPC metrics, built from settings
    context       the request id and trace context carried gateway -> node in gRPC metadata
    interceptors  gRPC server interceptors: RPC metrics, a server span, the request id
    metrics       the gateway's, node's and witness's own metrics (refusals, ledger, sightings)
    probes        the HTTP server of /metrics, /healthz and /readyz
    logs          text or JSON log lines, each with the request id and trace id
    grpc_services grpc.health.v1 and (opt-in) server reflection

Nothing here sees a plate, warrant id, case number or officer free text: spans, log fields
and metric labels are built only from method names, status codes, agency ids and rule ids.
tests/integration/observability/test_redaction.py holds that to account.
"""
