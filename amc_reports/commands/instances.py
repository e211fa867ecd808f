"""`amc-reports instances [--profile P]`: the AMC instances a credential profile can see, as
`instances:` entries to paste into reports.yaml."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import yaml

from amc_reports.amc.discovery import DiscoveredInstance
from amc_reports.commands import add_command

_NOT_ALIAS = re.compile(r"[^a-z0-9]+")
MAX_ALIAS = 60


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "instances",
        run_instances,
        "list the AMC instances a credential profile can see, as reports.yaml entries",
        reads_config=True,
        description=(
            "Lists the AMC accounts and instances the credentials of a profile can see (live AMC "
            "when its variables are set, else the sandbox) and prints an `instances:` block for "
            "reports.yaml. Instances the reports file already has are listed as comments."
        ),
    )
    parser.add_argument("--profile", default="default", help="credential profile (default)")
    parser.add_argument(
        "--region", default="NA", type=str.upper, choices=["NA", "EU", "FE"], help="AMC region"
    )


def suggest_alias(instance: DiscoveredInstance, taken: set[str]) -> str:
    """A valid, unused alias from the instance's name (else its id)."""
    base = _NOT_ALIAS.sub("_", (instance.instance_name or instance.instance_id).lower()).strip("_")
    if not base or not base[0].isalpha():
        base = f"amc_{base}".rstrip("_")
    base = base[:MAX_ALIAS].rstrip("_")
    alias, n = base, 2
    while alias in taken:
        suffix = f"_{n}"
        alias, n = base[: MAX_ALIAS - len(suffix)] + suffix, n + 1
    taken.add(alias)
    return alias


def config_entries(
    found: list[DiscoveredInstance],
    *,
    profile: str,
    region: str,
    configured: dict[str, str],
) -> str:
    """The `instances:` block for `found`; `configured` maps instance ids already in the reports
    file to their alias (those become comments, as do instances AMC has not finished creating)."""
    taken = set(configured.values())
    entries: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for instance in found:
        if instance.instance_id in configured:
            notes.append(
                f"{instance.instance_id} is configured as {configured[instance.instance_id]}"
            )
            continue
        if not instance.usable:
            notes.append(
                f"{instance.instance_id} is {instance.creation_status} in AMC (not usable yet)"
            )
            continue
        entry: dict[str, Any] = {
            "instance_id": instance.instance_id,
            "advertiser_id": instance.advertiser_id,
            "marketplace_id": instance.marketplace_id,
            "region": region,
        }
        if profile != "default":
            entry["profile"] = profile
        label = instance.instance_name or instance.instance_id
        entry["description"] = (
            f"{label} ({instance.account_name})" if instance.account_name else label
        )
        entries[suggest_alias(instance, taken)] = entry
    if not entries:
        return "".join(f"# {note}\n" for note in ["no instance to add", *notes])
    text = yaml.safe_dump({"instances": entries}, sort_keys=False, allow_unicode=True)
    return text + "".join(f"  # {note}\n" for note in notes)


def run_instances(args: argparse.Namespace) -> int:
    from amc_reports.amc import AmcError
    from amc_reports.amc.discovery import discover_instances
    from amc_reports.config import ConfigError, config_path, load_config, profile_env_vars
    from amc_reports.environment import build_amc_resource, resolved

    try:
        profile_env_vars(args.profile)
        amc = resolved(build_amc_resource(profiles=(args.profile,)))
    except ValueError as exc:  # a bad profile name, or the environment (EnvironmentConfigError)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configured: dict[str, str] = {}
    path = args.config or config_path()
    if args.config is not None or path.exists():
        try:
            config = load_config(path)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
        configured = {i.instance_id: alias for alias, i in config.instances.items()}
    try:
        found = discover_instances(
            lambda advertiser, marketplace: amc.account_client(
                args.profile, args.region, advertiser, marketplace
            )
        )
    except AmcError as exc:
        print(f"error: listing AMC instances for profile {args.profile!r}: {exc}", file=sys.stderr)
        return 1
    accounts = len({i.advertiser_id for i in found})
    print(
        f"# {len(found)} AMC instance(s) in {accounts} account(s) visible to credential profile "
        f"{args.profile!r} on {amc.describe_target()}, region {args.region}."
    )
    print("# Paste the entries under `instances:` in reports.yaml (the aliases are suggestions).")
    sys.stdout.write(
        config_entries(found, profile=args.profile, region=args.region, configured=configured)
    )
    return 0
