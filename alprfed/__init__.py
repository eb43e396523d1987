"""alprfed: federated, warrant-gated license plate reader queries with a verifiable ledger.

The shared library. The two services (agency_node, gateway) import from here and never from
each other. See docs/ARCHITECTURE.md for the map.
"""

__version__ = "0.1.0"
