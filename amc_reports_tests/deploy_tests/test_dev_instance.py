"""`make dev`'s instance: copied into DAGSTER_HOME from deploy/dev/, never left at the project
root, where `dagster dev` (run from the root) would find it and warn that it is not used."""

import re

from amc_reports.paths import PROJECT_ROOT

DEV_INSTANCE = PROJECT_ROOT / "deploy" / "dev" / "dagster.yaml"


def test_make_dev_copies_the_dev_instance_and_the_root_has_none():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    dev_recipe = re.search(r"^dev:.*?\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert dev_recipe is not None, "the Makefile has no dev target"
    assert 'cp deploy/dev/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"' in dev_recipe.group(1)
    assert DEV_INSTANCE.is_file()
    for name in ("dagster.yaml", "dagster.yml"):
        assert not (PROJECT_ROOT / name).exists(), f"{name} at the project root: dagster dev warns"
