"""`alprfed node seed`: fill a node's database with reproducible synthetic sightings."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from agency_node.synthetic.cities import PRESETS
from agency_node.synthetic.generate import DEFAULT_DAYS, MAX_DAYS
from alprfed.cli.common import console, format_time, friendly_errors, parse_time
from alprfed.cli.json_output import emit_json, json_option
from alprfed.cli.node import _load, config_option
from alprfed.cli.progress import progress, progress_options, wanted
from alprfed.clock import SYSTEM_CLOCK


@click.command("seed")
@config_option
@click.option("--sightings", type=click.IntRange(min=0), required=True, help="How many in all.")
@click.option("--seed", "seed_value", type=int, required=True, help="Same seed, same data.")
@click.option(
    "--days",
    type=click.IntRange(1, MAX_DAYS),
    default=DEFAULT_DAYS,
    show_default=True,
    help="Spread the traffic over this many days before --now.",
)
@click.option("--now", "now_text", help="ISO 8601 or Unix seconds [default: the clock].")
@click.option("--city", type=click.Choice(sorted(PRESETS)), help="A city preset, not the state's.")
@click.option("--no-demo", is_flag=True, help="Leave out the demo plates.")
@progress_options
@json_option
@friendly_errors
def seed(
    config_path: Path,
    sightings: int,
    seed_value: int,
    days: int,
    now_text: str | None,
    city: str | None,
    no_demo: bool,
    quiet: bool,
    force_progress: bool,
    as_json: bool,
) -> None:
    """Fill the node's database with realistic, reproducible synthetic sightings.

    Cameras on the street grid of the agency's city (some at clinics, places of worship, a
    school, an immigration law office, a shelter), commuting vehicles, out-of-state plates,
    and the demo plates every seeded node holds. The same --seed and --now give the same data.
    """
    from agency_node.seed import DEMO_PLATES, generate, seed_node
    from agency_node.storage import NodeStore

    config = _load(config_path)
    now = parse_time(now_text) if now_text else SYSTEM_CLOCK.now()
    data = generate(
        agency_id=config.agency_id,
        state=config.state,
        sightings=sightings,
        seed=seed_value,
        now=now,
        days=days,
        city=city,
        demo=not no_demo,
    )
    show = wanted(quiet=quiet, forced=force_progress, as_json=as_json)
    with (
        NodeStore.open(config.database_url) as store,
        progress("seeding", sightings, show=show) as step,
    ):
        summary = seed_node(store, data, on_progress=step)
        held = (
            [(d, len(store.find_sightings(d.plate, 0, now))) for d in DEMO_PLATES]
            if summary.demo_sightings
            else []
        )
    if as_json:
        emit_json(
            {
                "agency_id": config.agency_id,
                "city": summary.city,
                "sightings": summary.sightings,
                "cameras": summary.cameras,
                "sensitive_cameras": summary.sensitive_cameras,
                "window": {"from": summary.window[0], "to": summary.window[1]},
                "demo_plates": [
                    {"plate": d.plate, "state": d.identity.plate_state, "sightings_here": seen}
                    for d, seen in held
                ],
            }
        )
        return
    console.print(
        f"seeded {config.agency_id} ({summary.city}): {summary.sightings:,} sightings from "
        f"{format_time(summary.window[0])} to {format_time(summary.window[1])}, "
        f"{summary.cameras} cameras ({summary.sensitive_cameras} at sensitive sites)",
        soft_wrap=True,
    )
    if held:
        table = Table("demo plate", "state", "sightings here", "story", title="Demo plates")
        for demo, seen in held:
            table.add_row(demo.plate, demo.identity.plate_state, str(seen), demo.story)
        console.print(table)
