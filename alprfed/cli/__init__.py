"""The `alprfed` command line: one group per role (node, gateway, query, warrant, ledger, ...).

Each group lives in its own module and imports the services lazily, so `alprfed --help` is fast
and a node operator's install never starts gateway code.
"""
