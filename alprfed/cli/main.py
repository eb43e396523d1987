"""Entry point of the `alprfed` command: registers every command group."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import click

from alprfed import __version__

# name -> (module, attribute, one-line help). Loaded only when the command runs.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "node": ("alprfed.cli.node", "node", "Run and operate an agency node."),
    "gateway": ("alprfed.cli.gateway", "gateway", "Run the federation gateway."),
    "query": ("alprfed.cli.query", "query", "Send a plate query through the gateway."),
    "warrant": ("alprfed.cli.warrant", "warrant", "Issue, register, revoke and show warrants."),
    "exigent": ("alprfed.cli.exigent", "exigent", "Approve or review exigent queries."),
    "ledger": ("alprfed.cli.ledger", "ledger", "Read and verify the audit ledger."),
    "law": ("alprfed.cli.law", "law", "Show state law packs; explain a law decision."),
    "report": (
        "alprfed.cli.report",
        "report",
        "Build or serve the public transparency report.",
    ),
    "witness": (
        "alprfed.cli.witness",
        "witness",
        "Run a witness that cosigns the ledger's checkpoints.",
    ),
    "db": ("alprfed.cli.db", "db", "Upgrade a service's database schema, or print its SQL."),
    "pki": ("alprfed.cli.pki", "pki", "Create a development federation PKI."),
    "demo": ("alprfed.cli.demo", "demo", "Run the scripted demo federation and exit."),
    "up": ("alprfed.cli.demo", "up", "Start the demo federation and keep it running."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    def _available(self, name: str) -> bool:
        module = COMMANDS[name][0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not self._available(cmd_name):
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alprfed")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """alprfed: federated, warrant-gated license plate reader queries with a verifiable ledger.

    Each agency runs its own node; a gateway fans a signed query out only when Casbin policy,
    state ALPR law and a warrant all permit it, and records everything in an audit ledger that
    oversight bodies verify on their own.
    """
    from alprfed.observability.logs import configure_logging
    from alprfed.observability.settings import LogFormat

    # Text until a serve command's --log-format or config says otherwise.
    configure_logging(LogFormat.TEXT, logging.WARNING - 10 * min(verbose, 2))


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        from alprfed.cli.exit_codes import ExitCode

        sys.exit(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    main()
