"""The reports configuration (`reports.yaml`): one typed model, its JSON schema, and its loader.

    schema.py       the file as frozen pydantic models (types, defaults, rules), which the code
                    reads: InstanceConfig, ReportConfig, ReportsConfig, targets; `json_schema()`
    yaml_source.py  the YAML, parsed with bounds (aliases, depth, size) and without date guessing
    messages.py     validation errors as "report 'x': field 'y' ..." lines
    templates.py    `{{week_start - 28d}}` / `{{instance.brand_id}}` placeholders in parameters
    profiles.py     a credential profile's environment variable names
    loader.py       load_config(): file -> validated model

Every problem of a file is reported at once, each naming the file, the report (or instance) and
the field, so an analyst fixes a config in one pass.
"""

from amc_reports.config.errors import ConfigError
from amc_reports.config.loader import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_PATH,
    config_path,
    load_config,
    parse_config,
)
from amc_reports.config.profiles import ProfileEnvVars, profile_env_vars
from amc_reports.config.rules import (
    AMC_MAX_RUNNING_PER_ACCOUNT,
    AMC_MAX_RUNNING_PER_INSTANCE,
    DEFAULT_PROFILE,
    EARLIEST_START,
    LATEST_START,
    REGIONS,
    SAFE_NAME,
    WEEK_STARTS,
)
from amc_reports.config.schema import (
    InstanceConfig,
    MultipleInstancesError,
    ReportConfig,
    ReportsConfig,
    ReportTarget,
    json_schema,
    resolve_parameters,
)

__all__ = [
    "AMC_MAX_RUNNING_PER_ACCOUNT",
    "AMC_MAX_RUNNING_PER_INSTANCE",
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_PROFILE",
    "EARLIEST_START",
    "LATEST_START",
    "REGIONS",
    "SAFE_NAME",
    "WEEK_STARTS",
    "ConfigError",
    "InstanceConfig",
    "MultipleInstancesError",
    "ProfileEnvVars",
    "ReportConfig",
    "ReportTarget",
    "ReportsConfig",
    "config_path",
    "json_schema",
    "load_config",
    "parse_config",
    "profile_env_vars",
    "resolve_parameters",
]
