"""`ioc scenarios`: the shipped incident scenarios, with their titles and incident kinds."""

from __future__ import annotations

import argparse

from ioc.settings import Settings

HELP = "list the shipped incident scenarios"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    from simulators.scenarios import SCENARIOS_DIR, known_scenarios, load_scenario

    for name in known_scenarios():
        scenario = load_scenario(SCENARIOS_DIR / f"{name}.yaml")
        kinds = ", ".join(i.kind for i in scenario.incidents)
        print(f"{name:<26} {scenario.title_vi}\n{'':<26} {scenario.title_en} [{kinds}]")
    return 0
