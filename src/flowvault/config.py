"""Settings, read from the environment (prefix ``FLOWVAULT_``) and passed in explicitly.

Master keys never come from the database: they come from ``FLOWVAULT_MASTER_KEYS`` or from a key
file outside it (``FLOWVAULT_MASTER_KEY_FILE``, by default ``<data dir>/master.key``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_POOL_SIZE = 20


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWVAULT_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    master_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated 'key_id:base64key' entries, oldest first; the last one encrypts.",
    )
    master_key_file: Path | None = None
    executor: Literal["embedded", "celery"] = "embedded"
    redis_url: str | None = None
    run_lease_seconds: float = Field(
        default=60.0, gt=0, description="Celery: a running run whose worker has not renewed it this long is retried"
    )
    max_run_attempts: int = Field(default=3, ge=1, description="Attempts of an interrupted run before it fails")
    allow_private_hosts: str = ""
    session_ttl_hours: int = 24 * 14
    secure_cookies: bool = False
    workspace_key_cache_seconds: float = 300.0
    embedded_workers: int = Field(default=8, ge=1, le=256, description="Runs executed at once by `serve`")
    worker_runs_per_process: int = Field(
        default=8, ge=1, le=256, description="Celery: runs each `flowvault worker` pool process executes at once"
    )
    index_warm_workspaces: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Workspaces (saved most recently) whose secrets index `serve` builds in the background at start",
    )
    database_pool_size: int = Field(
        default=DEFAULT_DATABASE_POOL_SIZE,
        ge=1,
        le=1000,
        description="PostgreSQL: connections each process keeps open (as many more at peaks)",
    )
    public_url: str | None = Field(
        default=None, description="Base URL senders reach the server at (webhook URLs); default: the request's"
    )

    slack_api_url: str = "https://slack.com/api"
    sendgrid_api_url: str = "https://api.sendgrid.com"
    mailgun_api_url: str = "https://api.mailgun.net"
    ses_api_url: str = "https://email.{region}.amazonaws.com"
    teams_api_url: str = "https://outlook.office.com"
    google_chat_api_url: str = "https://chat.googleapis.com"

    def service_url(self, service: str) -> str:
        """The configured base URL of a service (``slack`` → ``FLOWVAULT_SLACK_API_URL``)."""
        value: str = getattr(self, f"{service}_api_url")
        return value.rstrip("/")

    @property
    def private_host_exemptions(self) -> frozenset[str]:
        from flowvault.egress import parse_host_list

        return parse_host_list(self.allow_private_hosts)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'flowvault.db').resolve()}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
