"""`alprfed node`: operate an agency node's data (seed, import, purge) and run the node (serve).

Exit codes (alprfed.cli.exit_codes): 0 done, 1 refused (bad input, bad configuration, database
refused), 2 usage error, 5 the database cannot be reached.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agency_node.formats import ALL_FORMATS, ALPRFED_CSV
from agency_node.formats.problems import ImportRejected
from alprfed.cli.common import (
    console,
    err_console,
    fail,
    format_time,
    friendly_errors,
    print_new_signing_key,
)
from alprfed.cli.json_output import emit_json, json_option
from alprfed.cli.node_tokens import token
from alprfed.cli.progress import progress, progress_options, wanted
from alprfed.cli.serving import apply_log_format, log_format_option, probes_line
from alprfed.clock import SYSTEM_CLOCK
from alprfed.config import NodeConfig, load_node_config
from alprfed.heap import freeze_startup_heap

if TYPE_CHECKING:
    from agency_node.law_guard import ObservationBounds
    from agency_node.storage import NodeStore

SIGHTINGS_HELP = """\b
Sightings CSV (UTF-8, header row, columns in any order):
  plate          required  as read; spaces and dashes are dropped
  plate_state    required  issuing state, two letters (CA)
  observed_at    required  ISO 8601 with offset or Z, or Unix seconds
  camera_id      required  registered on the node or in --cameras
  latitude       required  decimal degrees (37.338208)
  longitude      required  decimal degrees (-121.886329)
  confidence     required  decimal fraction 0 to 1 (0.93)
  vehicle_make, vehicle_model, vehicle_color, image_uri   optional
\b
Cameras CSV: camera_id, name, latitude, longitude, and optionally
sensitive_site (empty or e.g. health_care, place_of_worship, school,
immigration_services, shelter, reproductive_health_care).
\b
Vendor formats (--format; field mappings in docs/INGEST.md):
  platerecognizer-webhook  Plate Recognizer Stream webhook JSON
  platerecognizer-jsonl    Plate Recognizer Stream JSON Lines
  platerecognizer-csv      Plate Recognizer Stream CSV (with --camera)
  rekor-alpr-group         Rekor Scout / OpenALPR agent alpr_group JSON
  verkada-lpr              Verkada LPR webhook JSON
  mapped-csv               any CSV export, read through --mapping FILE
Their cameras must be registered (--cameras, or an earlier import).
"""

config_option = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The node's TOML configuration.",
)


@click.group("node")
def node() -> None:
    """Run and operate an agency node: its sightings, cameras and retention purge."""


def _load(config_path: Path) -> NodeConfig:
    # seed, import and purge open no network listener, so the [tls] section is not needed.
    return load_node_config(config_path, insecure=True, environ=os.environ)


@node.command("import", epilog=SIGHTINGS_HELP)
@click.argument("sightings_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
@click.option(
    "--format",
    "file_format",
    type=click.Choice(ALL_FORMATS),
    default=ALPRFED_CSV,
    show_default=True,
    help="The file's format (docs/INGEST.md).",
)
@click.option(
    "--cameras",
    "cameras_csv",
    help="Cameras to register first (CSV).",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--mapping",
    "mapping_file",
    help="mapped-csv: the TOML file naming the export's columns.",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--camera", "camera_id", help="platerecognizer-csv: the camera the file is from.")
@json_option
@progress_options
@friendly_errors
def import_(
    sightings_file: Path,
    config_path: Path,
    file_format: str,
    cameras_csv: Path | None,
    mapping_file: Path | None,
    camera_id: str | None,
    as_json: bool,
    quiet: bool,
    force_progress: bool,
) -> None:
    """Import reads from a file, all or nothing; reads already stored are skipped and counted.

    The file is checked completely first. If any record is bad, nothing is stored: every bad
    record is listed with its line and reason (the first 20, then how many more) and the
    command exits with status 1. Otherwise all records are stored in one transaction. Reads
    from the future, older than the node's retention allows, or from a camera at a sensitive
    site the node's law forbids collecting at, are bad records. A read is identified by its
    camera, time and plate: importing the same file again stores nothing twice. With a vendor
    format, --cameras are registered in the same transaction.
    """
    from agency_node.law_guard import load_node_law
    from agency_node.storage import NodeStore

    config = _load(config_path)
    if mapping_file is not None and file_format != "mapped-csv":
        fail("--mapping is only for --format mapped-csv")
    if camera_id is not None and file_format != "platerecognizer-csv":
        fail("--camera is only for --format platerecognizer-csv")
    bounds = load_node_law(config).ingest_bounds(SYSTEM_CLOCK.now())
    with NodeStore.open(config.database_url) as store:
        try:
            show = wanted(quiet=quiet, forced=force_progress, as_json=as_json)
            if file_format == ALPRFED_CSV:
                offered, stored, cameras = _import_alprfed_csv(
                    store, sightings_file, cameras_csv, bounds, show=show
                )
            else:
                offered, stored, cameras = _import_vendor(
                    store,
                    sightings_file,
                    file_format,
                    cameras_csv,
                    mapping_file,
                    camera_id,
                    bounds,
                    show=show,
                )
        except ImportRejected as rejected:
            for problem in rejected.problems:
                err_console.print(f"  {problem}", highlight=False, markup=False, soft_wrap=True)
            if rejected.total > len(rejected.problems):
                err_console.print(f"  ... and {rejected.total - len(rejected.problems)} more")
            fail(str(rejected))
    if as_json:
        outcome = {
            "agency_id": config.agency_id,
            "format": file_format,
            "file": str(sightings_file),
            "reads": offered,
            "stored": stored,
            "duplicates_skipped": offered - stored,
            "cameras_registered": cameras,
        }
        emit_json(outcome)
        return
    console.print(
        f"imported {stored:,} sightings and {cameras} cameras into {config.agency_id} "
        f"({offered - stored:,} duplicates skipped)",
        soft_wrap=True,
    )


def _import_alprfed_csv(
    store: NodeStore,
    sightings_csv: Path,
    cameras_csv: Path | None,
    bounds: ObservationBounds,
    *,
    show: bool,
) -> tuple[int, int, int]:
    from agency_node.csv_import import check_import, run_import

    checked = check_import(store, sightings_csv, cameras_csv, bounds=bounds)
    with progress("importing", checked.sightings, show=show) as step:
        stored = run_import(store, checked, on_progress=step)
    return checked.sightings, stored, len(checked.cameras)


def _import_vendor(
    store: NodeStore,
    path: Path,
    file_format: str,
    cameras_csv: Path | None,
    mapping_file: Path | None,
    camera_id: str | None,
    bounds: ObservationBounds,
    *,
    show: bool,
) -> tuple[int, int, int]:
    from agency_node.csv_import import read_cameras_file
    from agency_node.formats.importer import ImportSource, check_file, import_file
    from agency_node.formats.mapped_csv import load_mapping

    mapping = load_mapping(mapping_file) if mapping_file is not None else None
    source = ImportSource(path, file_format, camera_id=camera_id, mapping=mapping)
    cameras = read_cameras_file(cameras_csv) if cameras_csv is not None else []
    total = check_file(store, source, bounds, cameras)
    with progress("importing", total, show=show) as step:
        outcome = import_file(store, source, bounds, cameras, on_progress=step)
    return outcome.offered, outcome.stored, len(cameras)


@node.command("purge")
@config_option
@json_option
@friendly_errors
def purge(config_path: Path, as_json: bool) -> None:
    """Delete sightings past the retention period now, and queue the signed purge report.

    The retention is the stricter of the configuration's retention_seconds and the state law
    pack's cap; the command refuses to run when neither sets one.
    """
    from agency_node.law_guard import load_node_law
    from agency_node.retention import RetentionPurger
    from agency_node.storage import NodeStore
    from alprfed.signing import SigningKey

    config = _load(config_path)
    law = load_node_law(config)  # ConfigError when neither law nor config sets a retention
    guard = law.guard
    signer = SigningKey.load(config.signing_key)
    with NodeStore.open(config.database_url) as store:
        purger = RetentionPurger(
            store,
            law.retention_seconds,
            SYSTEM_CLOCK,
            signer=signer,
            node_id=config.agency_id,
            state=config.state,
        )
        report = purger.run_once()
        pending = len(store.pending_purge_reports())
    source = guard.retention_rule.citation if guard.retention_rule else "configuration"
    if as_json:
        emit_json(
            {
                "deleted_sightings": report.deleted_sightings,
                "cutoff": report.cutoff,
                "retention_seconds": report.retention_seconds,
                "retention_source": source,
                "forgotten_nonces": report.forgotten_nonces,
                "reports_awaiting_delivery": pending,
            }
        )
        return
    console.print(
        f"purged {report.deleted_sightings:,} sightings observed before "
        f"{format_time(report.cutoff)} (retention {report.retention_seconds:,} s, {source}); "
        f"forgot {report.forgotten_nonces:,} expired nonces; signed report queued "
        f"({pending} awaiting delivery to the gateway)",
        soft_wrap=True,
    )


@node.command("keygen")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@friendly_errors
def keygen(out: Path, as_json: bool) -> None:
    """Make the node's Ed25519 receipt-signing key; print the public key for the federation."""
    print_new_signing_key(out, as_json=as_json)


# --- serve ---------------------------------------------------------------------------------


@node.command("serve")
@config_option
@click.option("--insecure", is_flag=True, help="Plaintext and unverified identities (warns).")
@log_format_option
@friendly_errors
def serve(config_path: Path, insecure: bool, log_format: str | None) -> None:
    """Serve signed searches and camera ingest until SIGTERM or Ctrl-C.

    With a [webhook] table, also the HTTPS webhook receiver for ALPR engines (docs/INGEST.md).

    Runs the retention purge in the background and delivers its signed reports to the
    gateway's ledger. Shutdown is graceful: health turns NOT_SERVING, in-flight calls finish.
    """
    import signal
    import threading

    from agency_node.server import create_server
    from agency_node.webhook import start_receiver

    config = load_node_config(config_path, insecure=insecure, environ=os.environ)
    apply_log_format(log_format, config.observability)
    server, port = create_server(config)
    # Before it serves: whoever waits for its port or its lines may stop it at once.
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    server.start()
    freeze_startup_heap()
    console.print(
        f"node {config.agency_id} ({config.state}) listening on "
        f"{config.listen.rsplit(':', 1)[0]}:{port}"
    )
    metrics_host = config.observability.metrics_listen.rsplit(":", 1)[0]
    if line := probes_line(metrics_host, server.probes):
        console.print(line)
    try:
        receiver = start_receiver(config, clock=SYSTEM_CLOCK)
    except BaseException:
        server.stop()
        raise
    if receiver is not None and config.webhook is not None:
        host = config.webhook.listen.rsplit(":", 1)[0]
        console.print(f"webhook receiver on https://{host}:{receiver.port}/v1/webhooks/")
    stopping.wait()
    if receiver is not None:
        receiver.stop()
    server.stop()


def _register_commands() -> None:
    from alprfed.cli.node_seed import seed

    node.add_command(seed)
    node.add_command(token)


_register_commands()
