"""Fixed values of the AMC sandbox: accepted credentials, defaults, files in its state dir."""

from __future__ import annotations

import re
from dataclasses import dataclass

SANDBOX_CLIENT_ID = "amc-sandbox-client"
SANDBOX_CLIENT_SECRET = "amc-sandbox-secret"
SANDBOX_REFRESH_TOKEN = "Atzr|sandbox"
DEFAULT_APP = "default"
_APP_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}")


@dataclass(frozen=True, repr=False)
class SandboxApp:
    """A Login-with-Amazon app the sandbox accepts: ``default`` has the credentials above; any
    other name N (a credential profile's name) has them suffixed with ``-N``
    (``amc-sandbox-client-N`` / ``amc-sandbox-secret-N`` / ``Atzr|sandbox-N``)."""

    name: str
    client_id: str
    client_secret: str
    refresh_token: str

    def __repr__(self) -> str:
        return f"SandboxApp({self.name!r}, client_id={self.client_id!r})"


def sandbox_app(name: str = DEFAULT_APP) -> SandboxApp:
    if name == DEFAULT_APP:
        return SandboxApp(name, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_REFRESH_TOKEN)
    if not _APP_NAME.fullmatch(name):
        raise ValueError(f"sandbox app name {name!r} must match {_APP_NAME.pattern}")
    return SandboxApp(
        name,
        f"{SANDBOX_CLIENT_ID}-{name}",
        f"{SANDBOX_CLIENT_SECRET}-{name}",
        f"{SANDBOX_REFRESH_TOKEN}-{name}",
    )


def sandbox_app_of_client(client_id: str) -> SandboxApp | None:
    """The app whose client id this is, or None (an unknown client)."""
    if client_id == SANDBOX_CLIENT_ID:
        return sandbox_app()
    prefix = SANDBOX_CLIENT_ID + "-"
    name = client_id[len(prefix) :] if client_id.startswith(prefix) else ""
    return sandbox_app(name) if _APP_NAME.fullmatch(name) and name != DEFAULT_APP else None


SANDBOX_ADVERTISER_ID = "ENTITYSANDBOX"
SANDBOX_MARKETPLACE_ID = "ATVPDKIKX0DER"
SANDBOX_INSTANCE_ID = "amcsandbox01"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SERVICE_NAME = "amc-sandbox"

TOKEN_PATH = "/auth/o2/token"
HEALTH_PATH = "/_sandbox/health"

# Request bodies larger than this are refused with 413 before they are read whole.
MAX_BODY_BYTES = 1 << 20  # AMC API and admin requests (a workflow's SQL is a few KB)
MAX_TOKEN_BODY_BYTES = 16 << 10  # the token endpoint (no credentials needed to reach it)

# Files inside the state dir.
DB_FILE = "sandbox.db"
LOG_FILE = "sandbox.log"
RUNTIME_FILE = "sandbox.json"  # pid, host, port, url of the running server
PID_FILE = "sandbox.pid"
SERVER_LOCK_FILE = "sandbox.server.lock"  # held by the serving process for its whole life
LAUNCH_LOCK_FILE = "sandbox.launch.lock"  # serialises ensure_sandbox callers
RESULTS_DIR = "results"
CONFIG_FILE_NAMES = ("sandbox.yaml", "sandbox.yml", "config.yaml", "config.yml", "config.json")
