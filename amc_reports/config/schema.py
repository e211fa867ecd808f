"""The reports file as one typed model (pydantic v2): types, defaults, rules and the JSON schema.

`ReportsConfig` is exactly what an analyst writes in `reports.yaml`, and what the code reads: the
models are frozen, and a field is added in one place. `reports.schema.json` (what editors use) is
generated from them, and every description below is what an editor shows on hover.
Checks that need more than one field, or the disk (`sql_file`), or the rest of the file
(instance aliases, tags, instance parameters) read a `ValidationContext`, so that one call of
`ReportsConfig.validate_document` reports every problem of the file at once, each at its location.

What a file implies beyond its fields is filled in once the file is valid: an instance's alias
and a report's name (their keys), a report's instances (its selection, resolved) and its `sql`
(the text of its `sql_file`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from amc_reports.amc_sql import selected_names
from amc_reports.config import templates
from amc_reports.config.context import OutsideProject, ValidationContext, context_of
from amc_reports.config.errors import Must, problem
from amc_reports.config.files import UnreadableFile
from amc_reports.config.rules import (
    AMC_ID,
    AMC_ID_RULE,
    DEFAULT_PROFILE,
    EARLIEST_START,
    IDENTIFIER,
    LATEST_START,
    OWNER,
    OWNER_RULE,
    REGIONS,
    SAFE_NAME,
    SAFE_NAME_RULE,
    WEEK_STARTS,
    is_time_zone,
    time_zones,
)
from amc_reports.config.values import (
    checked_sql,
    detail,
    json_parameters,
    lower,
    name_check,
    raise_all,
    start_date_value,
    unique,
    unstorable_values,
    upper,
    validated_together,
)
from amc_reports.weeks import DAYS_PER_WEEK, WeekWindow, hidden_weeks, newest_offered_week

QUERY_FIELDS = ("sql", "sql_file", "workflow_id")
_SAFE_PATTERN = f"^{SAFE_NAME.pattern}$"


# -- small typed values ------------------------------------------------------------------------


# The pattern first: pydantic puts it in the JSON schema only when it is the inner constraint.
ReportName = Annotated[str, Field(pattern=_SAFE_PATTERN), name_check("name")]
InstanceAlias = Annotated[str, Field(pattern=_SAFE_PATTERN), name_check("alias")]
Name = Annotated[str, Field(pattern=_SAFE_PATTERN)]
AmcId = Annotated[str, Field(pattern=f"^{AMC_ID.pattern}$")]


def _as_tuple(value: Any) -> Any:
    """A written list, held as a tuple (anything else is left to the field's own check)."""
    return tuple(value) if isinstance(value, list) else value


AsTuple = BeforeValidator(_as_tuple)
# A list of result column names (key columns, measures), or unset.
ColumnNames = Annotated[
    Annotated[
        tuple[Annotated[str, Field(pattern=f"^{IDENTIFIER.pattern}$")], ...],
        Field(min_length=1),
    ]
    | None,
    AsTuple,
    Must("a non-empty list of column names (letters, digits, _)"),
]
Stripped = AfterValidator(str.strip)


class _Entry(BaseModel):
    # Strict: `lag_days: "14"` or `schedule: "yes"` is a mistake to point at, not to guess at.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TagSelector(_Entry):
    """`instances: {tag: <tag>}`: every instance whose `tags` include this tag."""

    tag: Annotated[str, Field(pattern=_SAFE_PATTERN, description="The tag to select by.")]


# -- instances -----------------------------------------------------------------------------------


class InstanceConfig(_Entry):
    """One AMC instance, under a short alias used in asset keys, groups and pools."""

    _alias: str = PrivateAttr("")

    instance_id: Annotated[
        AmcId, Must(AMC_ID_RULE), Field(description="The AMC instance id (in AMC's API paths).")
    ]
    advertiser_id: Annotated[
        AmcId,
        Must(AMC_ID_RULE),
        Field(description="The AMC account's advertiser entity id (ENTITY...)."),
    ]
    marketplace_id: Annotated[
        AmcId,
        Must(AMC_ID_RULE),
        Field(description="The marketplace id, e.g. ATVPDKIKX0DER (US) or A1PA6795UKMFR9 (DE)."),
    ]
    region: Annotated[
        Literal["NA", "EU", "FE"],
        BeforeValidator(upper),
        Must(f"one of {', '.join(REGIONS)}"),
        Field(description="AMC API region: NA, EU or FE (picks the API and token hosts)."),
    ] = "NA"
    description: Annotated[
        str, Stripped, Must("text"), Field(description="What this instance is, shown in the UI.")
    ] = ""
    profile: Annotated[
        Name,
        Must(f"a profile name matching {SAFE_NAME_RULE}"),
        Field(
            description=(
                "Credential profile: its Login-with-Amazon app's variables are named after it. "
                "'default' reads AMC_CLIENT_ID, AMC_CLIENT_SECRET, AMC_REFRESH_TOKEN; a profile "
                "'agency_b' reads AMC_AGENCY_B_CLIENT_ID, AMC_AGENCY_B_CLIENT_SECRET, "
                "AMC_AGENCY_B_REFRESH_TOKEN."
            )
        ),
    ] = DEFAULT_PROFILE
    tags: Annotated[
        tuple[Name, ...],
        AsTuple,
        Must(f"a list of tags, each matching {SAFE_NAME_RULE}"),
        Field(description="Tags for selecting instances in a report: `instances: {tag: ...}`."),
    ] = []
    parameters: Annotated[
        dict[str, Any],
        Must("a mapping of parameter name -> value"),
        Field(
            description=(
                "Values of this instance that report parameters use as "
                "'{{instance.<name>}}' (e.g. a brand id). Names are identifiers; values are plain "
                "(no placeholders)."
            )
        ),
    ] = {}

    @field_validator("tags")
    @classmethod
    def _tags_once(cls, tags: list[str]) -> list[str]:
        return unique(tags, "tag")

    @field_validator("parameters")
    @classmethod
    def _plain_parameters(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        errors: list[tuple[tuple[Any, ...], str]] = []
        parameters = json_parameters(parameters, errors)
        for name, value in parameters.items():
            if not IDENTIFIER.fullmatch(name):
                errors.append(
                    (
                        (name,),
                        "the name must be an identifier (letters, digits, _), as in "
                        "'{{instance.brand_id}}'",
                    )
                )
            elif templates.is_templated(value) or "{{" in str(value):
                errors.append(((name,), "instance parameters are plain values, not templates"))
        raise_all(errors, parameters)
        return parameters

    def named(self, alias: str) -> InstanceConfig:
        """This instance under `alias` (its key under `instances`)."""
        instance = self.model_copy()
        instance._alias = alias
        return instance

    @property
    def alias(self) -> str:
        return self._alias

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool shared by every report of this instance."""
        return f"amc_{self.alias}"

    def __hash__(self) -> int:
        # The parameters (a mapping) are not hashable; aliases are unique in a config.
        return hash((self._alias, self.instance_id))


class MultipleInstancesError(ValueError):
    """`report.instance` of a report that runs on several instances."""


# -- reports -------------------------------------------------------------------------------------


InstanceSelection = Literal["all"] | list[InstanceAlias] | TagSelector
_SELECTION_RULE = "'all', a list of instance aliases, or {tag: <tag>}"


class ReportConfig(_Entry):
    """One report: an AMC query collected week by week from one or more instances."""

    # `instance` / `instances` as written are `instance_alias` / `instance_selection`; the code
    # reads `instances` (the InstanceConfigs selected) and `instance` (the one of them).

    _name: str = PrivateAttr("")
    _instances: tuple[InstanceConfig, ...] = PrivateAttr(())

    instance_alias: Annotated[
        str | None,
        Must("the alias of one of the instances"),
        Field(
            alias="instance",
            description="The instance to collect from (an alias under `instances`).",
        ),
    ] = None
    instance_selection: Annotated[
        InstanceSelection | None,
        Must(_SELECTION_RULE),
        Field(
            alias="instances",
            description=(
                "Several instances instead of `instance`: a list of aliases, `all`, or "
                "`{tag: <tag>}`. Each (instance, report) is its own asset amc/<instance>/<report>."
            ),
        ),
    ] = None
    sql: Annotated[
        str | None,
        Must("the SQL text of one statement"),
        Field(description="The AMC SQL query (one statement; a trailing ';' is dropped)."),
    ] = None
    sql_file: Annotated[
        str | None,
        Must("a path to a .sql file"),
        Field(
            description=(
                "A file holding the query, relative to this file's folder. Files outside that "
                "folder are refused unless their folder is listed under `sql_folders`."
            )
        ),
    ] = None
    workflow_id: Annotated[
        AmcId | None,
        Must("an AMC saved workflow id (letters, digits, '.', '_' or '-')"),
        Field(description="An AMC saved workflow to run instead of `sql` / `sql_file`."),
    ] = None
    week_starts_on: Annotated[
        Literal["sunday", "monday"],
        BeforeValidator(lower),
        Must("'sunday' or 'monday'"),
        Field(description="The first day of each collected week."),
    ] = "sunday"
    start_date: Annotated[
        date,
        BeforeValidator(start_date_value),
        Must("a date like 2026-01-04"),
        Field(
            description=(
                f"The first week to collect: a `week_starts_on` day from {EARLIEST_START} to "
                f"{LATEST_START} (AMC keeps 13 months of data)."
            )
        ),
    ]
    timezone: Annotated[
        str,
        Must("an IANA time zone name such as America/New_York"),
        Field(
            description="The IANA time zone of the weeks' windows (e.g. America/New_York).",
            json_schema_extra={"examples": ["UTC", "America/New_York", "Europe/Berlin"]},
        ),
    ] = "UTC"
    lag_days: Annotated[
        int,
        Field(
            ge=0,
            le=90,
            description="Days after a week ends before it is final (AMC "
            "attributes conversions up to 14 days late).",
        ),
        Must("a whole number of days from 0 to 90"),
    ] = 14
    parameters: Annotated[
        dict[Annotated[str, Field(min_length=1)], Any],
        Must("a mapping of parameter name -> value"),
        Field(
            description=(
                "Values for the query's CUSTOM_PARAMETER('name')s. Text may use "
                "'{{week_start}}', '{{week_end}}' (the week's first and last day, YYYY-MM-DD), "
                "offsets such as '{{week_start - 28d}}' or '{{week_end + 1w}}', and "
                "'{{instance.<name>}}' (a parameter of the instance collected). Quote values "
                "holding '{{'. Unquoted dates are kept as their text."
            )
        ),
    ] = {}
    description: Annotated[
        str,
        Stripped,
        Must("text"),
        Field(description="What the report measures, shown in the UI."),
    ] = ""
    owners: Annotated[
        tuple[str, ...] | str,
        AsTuple,
        Must(f"a list of owners, each {OWNER_RULE}"),
        Field(description=f"Who owns the report: each {OWNER_RULE}."),
    ] = ()
    schedule: Annotated[
        bool,
        Must("true or false"),
        Field(description="Collect each new final week automatically."),
    ] = True
    ignore_data_gaps: Annotated[
        bool,
        Must("true or false"),
        Field(description="Ask AMC to run even when its data has gaps (ignoreDataGaps)."),
    ] = False
    timeout_seconds: Annotated[
        Annotated[int, Field(ge=60, le=86400)] | None,
        Must("a whole number from 60 to 86400"),
        Field(description="AMC's execution timeout in seconds (AMC's default is 21600)."),
    ] = None
    backfill_weeks_per_run: Annotated[
        int,
        Field(
            ge=1,
            le=10,
            description="Weeks collected by one backfill run (then re-run "
            "`amc-reports init-pools`).",
        ),
        Must("a whole number from 1 to 10"),
    ] = 1
    max_attempts: Annotated[
        int,
        Field(
            ge=1,
            le=10,
            description="Attempts of a week on transient AMC failures (internal "
            "errors, timeouts); query errors are never retried.",
        ),
        Must("a whole number from 1 to 10"),
    ] = 3
    provisional_weeks: Annotated[
        Literal["skip", "collect"],
        BeforeValidator(lower),
        Must("'skip' or 'collect'"),
        Field(
            description="Weeks not yet final: `skip` them, or `collect` them marked "
            "provisional and collect them again once final."
        ),
    ] = "skip"
    campaign_kpis: Annotated[
        bool,
        Must("true or false"),
        Field(
            description="Compute the weekly campaign KPIs (asset amc/<instance>/campaign_kpis) "
            "from this report's weeks; its SQL must select campaign_id, campaign_name, "
            "impressions, clicks, spend, purchases, new_to_brand_purchases and sales."
        ),
    ] = False
    key_columns: Annotated[
        ColumnNames,
        Field(
            description="The result columns that identify a row (to compare re-collections); "
            "default: decided from the result's columns."
        ),
    ] = None
    measures: Annotated[
        ColumnNames,
        Field(
            description="The additive numeric result columns whose weekly sums a re-collection "
            "is compared by (`restatement_tolerance`); default: the numeric columns that are "
            "not key columns, not ids (`id`, `*_id`) and not ratios (names with rate, ratio, "
            "ctr, cpc, cpm, cpa, roas, acos, share, pct, percent, avg, average, mean, per, "
            "or return_on_)."
        ),
    ] = None
    restatement_tolerance: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="How much a re-collected week's metric may move before it "
            "counts as restated: a fraction of the earlier value (0.01 = 1 %).",
        ),
        Must("a fraction from 0 to 1 (0.01 = 1 %)"),
    ] = 0.01
    history_retention: Annotated[
        Literal["keep"] | Annotated[int, Field(ge=1, le=3650)],
        Must("'keep' or a whole number of days from 1 to 3650"),
        Field(
            description="How long rows replaced by a re-collection stay readable in history: "
            "`keep` (forever) or a number of days."
        ),
    ] = "keep"

    # -- checks of more than one field, or of the file around the report -----------------------

    @model_validator(mode="wrap")
    @classmethod
    def _one_query_and_one_selection(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> ReportConfig:
        """Exactly one of sql / sql_file / workflow_id, and of instance / instances.

        Decided from what is written, and reported together with the fields' own problems.
        A valid report with an `sql_file` holds the file's text as its `sql`.
        """
        errors: list[InitErrorDetails] = []
        if isinstance(data, dict):
            given = [key for key in QUERY_FIELDS if data.get(key) is not None]
            if len(given) != 1:
                found = f" (found {', '.join(given)})" if given else ""
                errors.append(
                    detail(
                        (),
                        f"exactly one of 'sql', 'sql_file' or 'workflow_id' is required{found}",
                        data,
                    )
                )
            chosen = [key for key in ("instance", "instances") if data.get(key) is not None]
            if not chosen:
                errors.append(
                    detail(
                        ("instance",),
                        "is required (one of the aliases under "
                        "instances; or 'instances' for several)",
                        data,
                    )
                )
            elif len(chosen) == 2:
                errors.append(detail((), "use either 'instance' or 'instances', not both", data))
        entry = validated_together(handler, data, errors)
        if entry.sql_file is not None and info.context is not None:
            # Read and checked by `_readable_sql_file`; the text is the report's query.
            sql = checked_sql(context_of(info).read_sql(entry.sql_file))
            entry = entry.model_copy(update={"sql": sql})
        entry._measures_selected()
        return entry

    def _measures_selected(self) -> None:
        """The named `measures` are columns the query selects (when its text names them all;
        else the load refuses a week whose result lacks one)."""
        selected = selected_names(self.sql) if self.measures and self.sql else None
        if selected is None or self.measures is None:
            return
        missing = [name for name in self.measures if name not in selected]
        if missing:
            message = (
                f"names {', '.join(map(repr, missing))}, which the query does not select "
                f"(it selects: {', '.join(selected)})"
            )
            raise ValidationError.from_exception_data(
                "reports file", [detail(("measures",), message, list(self.measures))]
            )

    @field_validator("instance_alias")
    @classmethod
    def _known_instance(cls, alias: str | None, info: ValidationInfo) -> str | None:
        declared = context_of(info).instances
        if alias is not None and alias not in declared:
            known = ", ".join(sorted(declared)) or "none defined"
            raise problem(f"names unknown instance {alias!r} (known: {known})")
        return alias

    @field_validator("instance_selection", mode="wrap")
    @classmethod
    def _known_instances(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        try:
            selection = handler(value)
        except ValidationError:
            raise problem(f"must be {_SELECTION_RULE} (got {value!r})") from None
        declared = context_of(info).instances
        if isinstance(selection, list):
            if not selection:
                raise problem("must list at least one instance")
            unique(selection, "instance")
            unknown = [alias for alias in selection if alias not in declared]
            if unknown:
                known = ", ".join(sorted(declared)) or "none defined"
                raise problem(
                    f"names unknown instance(s) {', '.join(map(repr, unknown))} (known: {known})"
                )
        elif isinstance(selection, TagSelector) and not any(
            selection.tag in instance.tags for instance in declared.values()
        ):
            tags = sorted({tag for instance in declared.values() for tag in instance.tags})
            raise problem(
                f"selects tag {selection.tag!r}, which no instance has "
                f"(tags: {', '.join(tags) or 'none'})"
            )
        return selection

    @field_validator("sql")
    @classmethod
    def _one_statement(cls, sql: str | None) -> str | None:
        return None if sql is None else checked_sql(sql)

    @field_validator("sql_file")
    @classmethod
    def _readable_sql_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise problem("is empty (a path to a .sql file)")
        context = context_of(info)
        try:
            checked_sql(context.read_sql(value))
        except OutsideProject as exc:
            raise problem(str(exc)) from None
        except UnreadableFile as exc:
            shown = context.sql_path(value) if "\0" not in value else repr(value)
            raise problem(f"cannot be read: {shown} {exc}") from None
        return value

    @field_validator("start_date")
    @classmethod
    def _week_start_in_range(cls, start: date, info: ValidationInfo) -> date:
        if not EARLIEST_START <= start <= LATEST_START:
            raise problem(
                f"{start.isoformat()} is out of range: from {EARLIEST_START} (AMC keeps 13 months "
                f"of data) to {LATEST_START}"
            )
        week_starts_on = info.data.get("week_starts_on")
        if week_starts_on is None:  # its own problem is reported on its field
            return start
        if start.weekday() != WEEK_STARTS[week_starts_on]:
            offset = (start.weekday() - WEEK_STARTS[week_starts_on]) % 7
            before = start.toordinal() - offset
            raise problem(
                f"{start.isoformat()} is not a {week_starts_on}; weeks start on "
                f"{week_starts_on}s (use {date.fromordinal(before).isoformat()} or "
                f"{date.fromordinal(before + 7).isoformat()})"
            )
        return start

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, zone: str) -> str:
        if is_time_zone(zone):
            return zone
        if any(name.startswith(zone.rstrip("/") + "/") for name in time_zones()):
            example = min(n for n in time_zones() if n.startswith(zone.rstrip("/") + "/"))
            raise problem(
                f"{zone!r} is a group of time zones, not one: name a zone in it, such as {example}"
            )
        raise problem(f"{zone!r} is not an IANA time zone (such as America/New_York)")

    @field_validator("owners", mode="wrap")
    @classmethod
    def _owners(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> tuple[str, ...]:
        try:
            owners = handler(value)
        except ValidationError:
            raise problem(f"must be a list of owners, each {OWNER_RULE}") from None
        owners = (owners,) if isinstance(owners, str) else owners
        raise_all(
            [
                ((index,), f"owner {owner!r} must be an email address or 'team:<name>'")
                for index, owner in enumerate(owners)
                if not OWNER.fullmatch(owner)
            ],
            owners,
        )
        return owners

    @field_validator("key_columns", "measures")
    @classmethod
    def _columns_once(cls, columns: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if columns is None else unique(columns, "column")

    @field_validator("parameters")
    @classmethod
    def _templates_resolve(cls, parameters: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Placeholders are known, offsets are sane, and every instance collected fills them."""
        declared = context_of(info).instances
        targets = selected_aliases(
            info.data.get("instance_alias"), info.data.get("instance_selection"), declared
        )
        errors: list[tuple[tuple[Any, ...], str]] = []
        parameters = json_parameters(parameters, errors)
        for name, value in parameters.items():
            try:
                for use in templates.parse(value):
                    for alias in targets:
                        templates.check_instance_value(use, alias, declared[alias].parameters)
            except templates.TemplateError as exc:
                errors.append(((name,), str(exc)))
        raise_all(errors, parameters)
        return parameters

    # -- what the code reads -----------------------------------------------------------------

    def resolved(self, name: str, instances: tuple[InstanceConfig, ...]) -> ReportConfig:
        """This report under `name` (its key under `reports`), collected from `instances`."""
        report = self.model_copy()
        report._name = name
        report._instances = instances
        return report

    @property
    def name(self) -> str:
        return self._name

    @property
    def instances(self) -> tuple[InstanceConfig, ...]:
        """The instances the report is collected from, in the order it selects them."""
        return self._instances

    @property
    def instance(self) -> InstanceConfig:
        """The report's one instance; MultipleInstancesError when it fans out over several."""
        if len(self._instances) != 1:
            aliases = ", ".join(i.alias for i in self._instances)
            raise MultipleInstancesError(
                f"report {self.name!r} runs on {len(self._instances)} instances ({aliases}): "
                "use report.instances or config.targets()"
            )
        return self._instances[0]

    @property
    def week_start_weekday(self) -> int:
        return WEEK_STARTS[self.week_starts_on]

    @property
    def collects_provisional(self) -> bool:
        """Whether the report collects weeks before they are final (`provisional_weeks: collect`):
        then it offers every week that ended, else a week once final (`weeks.hidden_weeks`)."""
        return self.provisional_weeks == "collect"

    def newest_week(self, now: datetime, *, collects_provisional: bool | None = None) -> date:
        """The newest week the report offers at `now` (its newest partition): the newest final
        week, or with `collects_provisional` (default: the report's setting) the week that just
        ended."""
        if collects_provisional is None:
            collects_provisional = self.collects_provisional
        return newest_offered_week(
            now,
            week_start_weekday=self.week_start_weekday,
            time_zone=self.timezone,
            lag_days=self.lag_days,
            collects_provisional=collects_provisional,
        )

    def offered_at(self, week: date) -> datetime:
        """When the week becomes a partition: the day after it ends for a report collecting
        provisional weeks, else once final (its lag rounded up to whole weeks)."""
        hidden = hidden_weeks(self.lag_days, self.collects_provisional)
        # The end of the week `hidden` weeks later (final_at with no lag: the day after it ends).
        later = week + timedelta(days=DAYS_PER_WEEK * hidden)
        return WeekWindow(later, self.timezone).final_at(0)

    @property
    def is_templated(self) -> bool:
        """True when a parameter depends on the week or the instance (`{{...}}`)."""
        return any(templates.is_templated(value) for value in self.parameters.values())

    @property
    def history_retention_days(self) -> int | None:
        """Days replaced rows stay in history; None keeps them forever."""
        return None if self.history_retention == "keep" else int(self.history_retention)

    def fingerprint_for(self, resolved_parameters: Mapping[str, Any]) -> str:
        """A hash of what AMC runs for one (instance, week): SQL or workflow, resolved parameters.

        The resume key: an execution is only resumed or adopted when its fingerprint is this.
        """
        payload = {
            "sql": (self.sql or "").strip(),
            "workflow_id": self.workflow_id,
            "parameters": dict(resolved_parameters),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    @property
    def query_fingerprint(self) -> str:
        """The fingerprint of the query as written (parameters unresolved).

        Without placeholders this is the fingerprint of every execution of the report, on every
        instance and week (the same hash as before templates existed). With placeholders it
        identifies the definition (a code version); executions use `fingerprint_for(
        resolve_parameters(...))`.
        """
        return self.fingerprint_for(self.parameters)


def resolve_parameters(
    report: ReportConfig, instance: InstanceConfig, week_start: date, week_end: date
) -> dict[str, Any]:
    """The report's parameter values for one instance and week, placeholders filled in.

    `week_end` is the week's last day (inclusive), as `WeekWindow.week_end`. Pure: the same
    inputs give the same values, so their fingerprint is a stable resume key.
    """
    if instance.alias not in {i.alias for i in report.instances}:
        raise ValueError(f"report {report.name!r} does not run on instance {instance.alias!r}")
    return {
        name: templates.render(
            value,
            week_start=week_start,
            week_end=week_end,
            instance_parameters=instance.parameters,
        )
        for name, value in report.parameters.items()
    }


def selected_aliases(
    instance: str | None, instances: Any, declared: Mapping[str, Any]
) -> list[str]:
    """The aliases a report's `instance` / `instances` select, in order (file order for all/tag)."""
    if instance is not None:
        return [instance] if instance in declared else []
    if instances == "all":
        return list(declared)
    if isinstance(instances, TagSelector):
        return [a for a, d in declared.items() if instances.tag in getattr(d, "tags", ())]
    if isinstance(instances, list | tuple):
        return [alias for alias in instances if alias in declared]
    return []


# -- the file ------------------------------------------------------------------------------------


class ReportTarget(NamedTuple):
    """One asset: a report collected from one instance (`amc/<instance>/<report>`)."""

    report: ReportConfig
    instance: InstanceConfig


class ReportsConfig(_Entry):
    """amc_reports: AMC instances and the reports collected from them, week by week."""

    _path: Path = PrivateAttr(Path())

    model_config = ConfigDict(
        title="amc_reports reports file",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            # `x-...` keys hold YAML anchors shared by several entries; they are ignored.
            "patternProperties": {"^x-": {}},
        },
    )

    sql_folders: Annotated[
        list[Annotated[str, Field(min_length=1)]],
        Must("a list of folder paths"),
        Field(
            description=(
                "Folders outside this file's folder from which `sql_file` may also be read "
                "(relative to this file, or absolute). This file's folder is always allowed."
            )
        ),
    ] = []
    instances: Annotated[
        dict[InstanceAlias, InstanceConfig],
        Field(
            min_length=1,
            description="AMC instances by alias (the alias is used in asset keys "
            "amc/<alias>/<report>, groups and pools amc_<alias>).",
        ),
        Must("a non-empty mapping of alias -> instance settings"),
    ]
    reports: Annotated[
        dict[ReportName, ReportConfig],
        Field(
            min_length=1,
            description="Reports by name (the name is used in the table "
            "amc_results.<name> and asset keys).",
        ),
        Must("a non-empty mapping of report name -> report settings"),
    ]

    @model_validator(mode="wrap")
    @classmethod
    def _storable_text(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> ReportsConfig:
        """Text Postgres cannot store (a NUL written as "\\0" in a parameter, a template, any
        value or key) is refused where it is written, together with the file's other problems:
        it would otherwise fail every run that records it."""
        errors = []
        if isinstance(data, dict):
            errors = [
                detail(loc, message, data)
                for loc, message in unstorable_values(data)
                if not (isinstance(loc[0], str) and loc[0].startswith("x-"))
            ]
        return validated_together(handler, data, errors)

    @model_validator(mode="before")
    @classmethod
    def _drop_extension_keys(cls, data: Any) -> Any:
        """Top-level keys starting with `x-` are for anchors (`x-defaults: &defaults {...}`)."""
        if isinstance(data, dict):
            return {
                k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))
            }
        return data

    @field_validator("sql_folders")
    @classmethod
    def _folders_exist(cls, folders: list[str], info: ValidationInfo) -> list[str]:
        base_dir = context_of(info).base_dir
        errors = [
            ((index,), f"{folder!r} is not a folder")
            for index, folder in enumerate(folders)
            if "\0" in folder or not (base_dir / folder).is_dir()
        ]
        raise_all(errors, folders)
        return folders

    @model_validator(mode="after")
    def _keys_and_selections(self) -> ReportsConfig:
        """Each instance knows its alias, each report its name and the instances it selects."""
        instances = {alias: entry.named(alias) for alias, entry in self.instances.items()}
        self.instances.update(instances)
        for name, entry in self.reports.items():
            aliases = selected_aliases(
                entry.instance_alias, entry.instance_selection, self.instances
            )
            self.reports[name] = entry.resolved(name, tuple(instances[a] for a in aliases))
        return self

    @classmethod
    def validate_document(cls, document: Mapping[str, Any], path: Path) -> ReportsConfig:
        """Validate a parsed reports file; raises pydantic's ValidationError with every problem."""
        context = ValidationContext.from_document(document, path)
        config = cls.model_validate(document, context=context)
        config._path = path
        return config

    @property
    def path(self) -> Path:
        """The reports file this configuration was read from."""
        return self._path

    def targets(self) -> tuple[ReportTarget, ...]:
        """Every (report, instance) pair, one per asset: reports in file order, then each
        report's instances in the order it selects them (listed order; file order for `all`
        and tags)."""
        return tuple(
            ReportTarget(report, instance)
            for report in self.reports.values()
            for instance in report.instances
        )

    @property
    def profiles(self) -> tuple[str, ...]:
        """The credential profiles the instances use, in file order."""
        return tuple(dict.fromkeys(i.profile for i in self.instances.values()))


def json_schema() -> dict[str, Any]:
    """The JSON schema of reports files (draft 2020-12)."""
    schema = ReportsConfig.model_json_schema()
    _close_pattern_properties(schema)
    return {"$schema": schema.pop("$schema"), **schema}


def _close_pattern_properties(node: Any) -> None:
    """Report names and aliases must match their pattern: other keys are errors in the editor."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_pattern_properties(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_properties(value)


def json_schema_text() -> str:
    """The schema as shipped in `reports.schema.json` (`amc-reports config-schema` prints it)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
