"""Credential profiles: which environment variables hold a Login-with-Amazon app's secrets (pure).

An instance names a profile (`profile: agency_b`; default `default`). The config never reads or
stores secret values: it only names the variables, derived from the profile's name:

    default   -> AMC_CLIENT_ID,         AMC_CLIENT_SECRET,         AMC_REFRESH_TOKEN
    agency_b  -> AMC_AGENCY_B_CLIENT_ID, AMC_AGENCY_B_CLIENT_SECRET, AMC_AGENCY_B_REFRESH_TOKEN

Two profiles never share a variable: the suffixes differ, and so do the prefixes of two names.
"""

from __future__ import annotations

from dataclasses import dataclass

from amc_reports.config.rules import DEFAULT_PROFILE, SAFE_NAME


@dataclass(frozen=True)
class ProfileEnvVars:
    """The names (never the values) of one profile's three credential variables."""

    profile: str
    client_id: str
    client_secret: str
    refresh_token: str

    @property
    def names(self) -> tuple[str, str, str]:
        return (self.client_id, self.client_secret, self.refresh_token)


def profile_env_vars(profile: str = DEFAULT_PROFILE) -> ProfileEnvVars:
    """The variable names of `profile`; raises ValueError for a name a config could not hold."""
    if not isinstance(profile, str) or not SAFE_NAME.fullmatch(profile):
        raise ValueError(f"profile {profile!r} must match {SAFE_NAME.pattern}")
    prefix = "AMC_" if profile == DEFAULT_PROFILE else f"AMC_{profile.upper()}_"
    return ProfileEnvVars(
        profile=profile,
        client_id=f"{prefix}CLIENT_ID",
        client_secret=f"{prefix}CLIENT_SECRET",
        refresh_token=f"{prefix}REFRESH_TOKEN",
    )
