"""The demo federation: a realistic local federation built, run and narrated in one command.

spec       who takes part: agencies, courts, oversight, people, seeded sightings
layout     writes keys, PKI, federation file and every service's config into a directory
processes  starts the nodes and the gateway as separate processes and stops them
story      the scripted story `alprfed demo` tells
"""
