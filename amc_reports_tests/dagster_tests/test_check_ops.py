"""How the checks are laid out: one op per report for its weekly checks on every instance, one for
every freshness check; a check that cannot run does not stop the others."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import dagster as dg
import pytest

from amc_reports.config import load_config
from amc_reports.definitions import build_definitions
from amc_reports.environment import build_resources
from amc_reports.orchestration.checks import FRESHNESS_CHECK, WEEKLY_CHECKS, each_selected
from amc_reports.paths import PROJECT_ROOT


def test_an_agency_config_has_one_check_op_per_report_and_one_for_freshness():
    config = load_config(PROJECT_ROOT / "examples" / "agency.yaml")
    defs = build_definitions(config, resources=build_resources({}, config))
    graph = defs.resolve_asset_graph()
    targets = config.targets()
    assert len(graph.asset_check_keys) == len(targets) * (len(WEEKLY_CHECKS) + 1)
    check_ops = {checks.node_def.name for checks in defs.asset_checks}
    assert check_ops == {f"{name}__weekly_checks" for name in config.reports} | {FRESHNESS_CHECK}


def test_a_check_that_cannot_run_is_raised_after_the_others_ran(caplog):
    keys = [dg.AssetCheckKey(dg.AssetKey(["amc", "a", "r"]), name) for name in WEEKLY_CHECKS]
    context = SimpleNamespace(
        selected_asset_check_keys=set(keys), log=logging.getLogger("test_check_ops")
    )

    def evaluate(key: dg.AssetCheckKey) -> dg.AssetCheckResult:
        if key.name == WEEKLY_CHECKS[1]:
            raise RuntimeError("the database went away")
        return dg.AssetCheckResult(asset_key=key.asset_key, check_name=key.name, passed=True)

    results = []
    with pytest.raises(RuntimeError, match="1 check\\(s\\) could not run.*database went away"):
        for result in each_selected(context, evaluate, order=list(WEEKLY_CHECKS)):
            results.append(result.check_name)
    assert results == [name for name in WEEKLY_CHECKS if name != WEEKLY_CHECKS[1]]
