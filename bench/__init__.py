"""Benchmarks: the federation measured against its performance targets, each beside its floor.

    python -m bench                 # every part at full size (make bench)
    python -m bench --quick         # every part, smaller: a few minutes
    python -m bench node-search     # one part (node-search, ingest, fanout, decision, ledger)

Parts, each a module with ``run(settings, env) -> PartReport``:

    node_search   a real node over mTLS answering signed queries      floor: raw SQL lookup
    ingest        IngestSightings and ``alprfed node import``          floor: store bulk_load
    fanout        federated queries through the gateway, faults       floor: bare fan-out
    decision      Gates.decide with the real Casbin policy and laws   floor: state law alone
    ledger        durable appends, proofs, ``alprfed ledger verify``   floor: raw writes / reads

Support: ``parts`` (sizes per preset), ``report`` (figures, targets, JSON, Markdown),
``stats`` (timing), ``environment`` (scratch, cache, databases), ``datasets`` and
``ledger_data`` (cached big tables), ``hosts`` (services in child processes), ``federation``
and ``fanout_setup`` (a federation on disk and running), ``queries`` (signed queries),
``lookups`` (the raw SQL floor), ``machine`` (what was measured on).

Tools run on their own, not by ``python -m bench``: ``profile_search`` (the node's servicer in
process under cProfile, with Ed25519, canonical and SQL operation counts per query),
``evidence_check`` (the node's evidence check alone, in process, optionally under cProfile)
and ``rpc_servers`` (one unary mTLS call on the thread-pool server beside grpc.aio).

Services always run as themselves (their own ``create_server``, mutual TLS, a real database)
in child processes; the benchmark's clients run in the parent. Every answer is checked, so no
figure comes from wrong answers. docs/PERFORMANCE.md keeps the latest results.
"""
