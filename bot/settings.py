"""Configuration from the environment (and a `.env` file), exactly as the contract's table.

Every field is validated here so that a bad value stops start-up with one line naming the variable,
instead of failing later in the middle of a request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.clock import Clock
from store.storage import Store, check_url, open_store

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class SettingsError(Exception):
    """A setting is missing or malformed; the message is the one line shown to the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///cmo-bot.db"
    cmo_files_url: str | None = None
    cmo_files_dir: str | None = None  # the older name of a local CMO_FILES_URL
    cmo_s3_endpoint_url: str | None = None
    aws_region: str | None = None  # read here for the S3 client; boto3 reads the AWS credentials itself
    cmo_timezone: str = "UTC"
    cmo_admins: Annotated[frozenset[str], NoDecode] = frozenset()
    cmo_alerts_channel: str | None = None
    cmo_public_url: str | None = None  # the bot's public base URL, for links people open outside Slack
    # Keys the audit chain (HMAC-SHA256): a rewrite by someone without it does not verify. Its own key, so
    # that rotating CMO_SECRET_KEY (signing secrets) never touches the chain.
    cmo_audit_key: str | None = None
    cmo_secret_key: str | None = None  # Fernet key encrypting signing secrets at rest
    # Extension (docs/operations.md, "Configuration"): pin the bot's clock to an instant, or to the instant
    # written in a file (`@/path`), so that end-to-end tests and the demo can move time.
    cmo_now: str | None = None
    # Extension: the name under which serve/socket queue acknowledged work and their workers claim it
    # (bot/worker.py). One deployment, one name; deployments configured differently on one database (a test
    # bed) need one each, or a worker would run a request with another deployment's settings.
    cmo_work_queue: str = "main"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return v or None

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return v or None

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return v if v.endswith("/") else v + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str) -> str:
        try:
            url = make_url(v)
        except ArgumentError as exc:
            raise ValueError("is not a SQLAlchemy URL (sqlite:///file.db or postgresql+psycopg://…)") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")
        return v

    @field_validator("cmo_files_url", "cmo_files_dir")
    @classmethod
    def _files_url(cls, v: str | None) -> str | None:
        return check_url(v) if v else None

    @field_validator("cmo_s3_endpoint_url")
    @classmethod
    def _s3_endpoint(cls, v: str | None) -> str | None:
        if v and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http(s) URL such as https://s3.example.com")
        return v or None

    @model_validator(mode="after")
    def _one_files_location(self) -> Settings:
        if self.cmo_files_url and self.cmo_files_dir and self.cmo_files_url != self.cmo_files_dir:
            raise ValueError("CMO_FILES_URL and CMO_FILES_DIR name different places; set only CMO_FILES_URL")
        return self

    @property
    def files_url(self) -> str:
        """Where documents live: CMO_FILES_URL, else its synonym CMO_FILES_DIR, else `program-files`."""
        return self.cmo_files_url or self.cmo_files_dir or "program-files"

    def document_store(self) -> Store:
        """The store of `files_url` (a local folder or an S3 bucket); opening it makes no network call."""
        return open_store(self.files_url, endpoint_url=self.cmo_s3_endpoint_url, region=self.aws_region)

    @field_validator("cmo_work_queue")
    @classmethod
    def _work_queue(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,58}", v):  # store.work.forms_of adds 6 to the column's 64
            raise ValueError("must be 1–58 letters, digits, dots, dashes or underscores")
        return v

    @field_validator("cmo_timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long for a path
            raise ValueError(f"{v!r} is not an IANA time zone name such as Europe/Berlin") from exc
        return v

    @field_validator("cmo_admins", mode="before")
    @classmethod
    def _admins(cls, v: object) -> frozenset[str]:
        if isinstance(v, str):
            v = [part.strip() for part in v.split(",") if part.strip()]
        ids = frozenset(cast(Iterable[str], v or ()))
        bad = sorted(i for i in ids if not _USER_ID.match(i))
        if bad:
            raise ValueError(f"must be Slack user IDs such as U012ABCDEF, not {', '.join(bad)}")
        return ids

    @field_validator("cmo_alerts_channel")
    @classmethod
    def _alerts_channel(cls, v: str | None) -> str | None:
        if v and not _CHANNEL_ID.match(v):
            raise ValueError("must be a Slack channel ID such as C012ABCDEF")
        return v or None

    @field_validator("cmo_public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", v):
            raise ValueError("must be the bot's public http(s) base URL such as https://cmo-bot.example.com")
        return v.rstrip("/") if v else None

    @field_validator("cmo_now")
    @classmethod
    def _now(cls, v: str | None) -> str | None:
        if not v:
            return None
        try:
            Clock(v).now()
        except OSError as exc:
            raise ValueError(f"cannot read the instant from {v[1:]} ({exc.strerror})") from exc
        except ValueError as exc:
            where = f"the file {v[1:]} does not hold" if v.startswith("@") else f"{v!r} is not"
            raise ValueError(f"{where} an ISO-8601 instant such as 2027-01-31T09:00:00Z (or @/path/to/a/file "
                             "holding one)") from exc
        return v

    @field_validator("cmo_audit_key")
    @classmethod
    def _audit_key(cls, v: str | None) -> str | None:
        if v and len(v) < 32:
            raise ValueError("must be at least 32 characters (e.g. the output of `openssl rand -hex 32`)")
        return v or None

    @field_validator("cmo_secret_key")
    @classmethod
    def _secret_key(cls, v: str | None) -> str | None:
        if v:
            try:
                Fernet(v.encode())
            except ValueError as exc:
                raise ValueError("must be a Fernet key: 32 url-safe base64-encoded bytes "
                                 "(python -c 'from cryptography.fernet import Fernet; "
                                 "print(Fernet.generate_key().decode())')") from exc
        return v or None

    def required(self, field: str) -> str:
        """A text setting the chosen command cannot do without (`require`), as text."""
        self.require(field)
        return str(getattr(self, field))

    def require(self, *fields: str) -> None:
        """Fail with one line when a setting needed by the chosen command is absent."""
        for field in fields:
            if not getattr(self, field):
                raise SettingsError(f"{field.upper()} is not set; it is required for this command")


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning pydantic's report into one line that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(problems(exc)[0]) from None


def problems(exc: ValidationError) -> list[str]:
    """One line per malformed setting, each naming its variable."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        lines.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return lines
