"""A serving process's start-up heap, kept out of the garbage collector's full passes.

A node, gateway or witness allocates most of its objects once, at start-up: modules, the
generated protobuf classes, gRPC, SQLAlchemy, Casbin's model, the law packs, about 100,000
tracked objects. CPython's full (generation 2) collection walks every one of them each time the
long-lived heap has grown by a quarter, and on the city benchmark a node's full passes took
17-64 ms, idle, in the middle of searches (docs/PERFORMANCE.md, "Idle after this session's
merges"). Frozen objects are never walked again; what the process allocates afterwards is
collected as before. The price: a start-up object that later becomes cyclic garbage stays for
the process's life (the gateway's first policy, say, after a reload replaces it): once, and
bounded by the start-up heap.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what start-up left as garbage, then move every surviving object to the
    permanent generation. Call once, when the service is up; returns how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
