"""Synthetic, reproducible ALPR data: cities, plates, traffic and the demo plates."""

from agency_node.synthetic.cities import PRESETS, City, city_for
from agency_node.synthetic.demo import CLINIC_VISITOR, DEMO_PLATES, STALE, SUSPECT, DemoPlate
from agency_node.synthetic.generate import DEFAULT_DAYS, SyntheticData, generate

__all__ = [
    "CLINIC_VISITOR",
    "DEFAULT_DAYS",
    "DEMO_PLATES",
    "PRESETS",
    "STALE",
    "SUSPECT",
    "City",
    "DemoPlate",
    "SyntheticData",
    "city_for",
    "generate",
]
