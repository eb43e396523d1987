"""Enough open files for a channel to every node: a national gateway holds well over 1,024.

The gateway keeps one long-lived channel per node (gateway.fanout), and each is a socket, more
while it reconnects; with 1,024 nodes it held 1,698 descriptors (bench national). A soft limit
of 1,024 -- the default for services under systemd and in many shells -- would make connects
fail with EMFILE in the middle of a query, as UNAVAILABLE nodes the officer cannot explain. So
the gateway raises its soft limit at start, as far as the hard limit allows, and refuses to
start if even the hard limit is too low (fail closed, with what to change).
"""

from __future__ import annotations

import resource

from alprfed.errors import ConfigError

FILES_PER_NODE = 2  # its channel's socket, and room for a reconnect
BASE_FILES = 256  # the ledger database, witnesses, officers' connections, logs, the runtime


def files_needed(nodes: int) -> int:
    return BASE_FILES + FILES_PER_NODE * nodes


def ensure_open_files(nodes: int) -> int:
    """Make sure this process may open ``files_needed(nodes)`` files; return its soft limit.

    Raises:
        ConfigError: the hard limit is lower than that (the service manager must raise it).
    """
    needed = files_needed(nodes)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ConfigError(
            f"the federation has {nodes} nodes and the gateway keeps a channel to each: it "
            f"needs about {needed} open files, but this process may open at most {hard} "
            "(raise the hard limit: LimitNOFILE= in the systemd unit, ulimit -Hn)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
