"""Fixed values of the AMC sandbox: accepted credentials, defaults, files in its state dir."""

from __future__ import annotations

SANDBOX_CLIENT_ID = "amc-sandbox-client"
SANDBOX_CLIENT_SECRET = "amc-sandbox-secret"
SANDBOX_REFRESH_TOKEN = "Atzr|sandbox"

SANDBOX_ADVERTISER_ID = "ENTITYSANDBOX"
SANDBOX_MARKETPLACE_ID = "ATVPDKIKX0DER"
SANDBOX_INSTANCE_ID = "amcsandbox01"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SERVICE_NAME = "amc-sandbox"

TOKEN_PATH = "/auth/o2/token"
HEALTH_PATH = "/_sandbox/health"

# Files inside the state dir.
DB_FILE = "sandbox.db"
LOG_FILE = "sandbox.log"
RUNTIME_FILE = "sandbox.json"  # pid, host, port, url of the running server
PID_FILE = "sandbox.pid"
SERVER_LOCK_FILE = "sandbox.server.lock"  # held by the serving process for its whole life
LAUNCH_LOCK_FILE = "sandbox.launch.lock"  # serialises ensure_sandbox callers
RESULTS_DIR = "results"
CONFIG_FILE_NAMES = ("sandbox.yaml", "sandbox.yml", "config.yaml", "config.yml", "config.json")
