"""`cmo-bot config`: the effective settings, where each came from, and whether each works.

An operator installing the bot wants to know in one look why it will not start or not talk to Slack, before
Slack's own errors say it less clearly. Every setting is listed (secrets masked) with its source, then each
thing the bot depends on is checked, one line each: the database, the bot token (Slack's `auth.test`), the
signing secret, the files store. Nothing is created or changed, except a probe file written to the files store
and removed again.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.settings import Settings
from store.storage import LocalStore, StoreUnavailable

SECRET = re.compile(r"token|secret|password|_key$")
TOKEN_KIND = re.compile(r"^(xox[a-z]-|xapp-)")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def shown(name: str, value: object) -> str:
    """A setting as it may be printed: secrets masked (a token keeps its kind), URLs without a password."""
    if value is None or value == "" or value == frozenset():
        return "(not set)"
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    if name == "database_url":
        return safe_url(str(value))
    if SECRET.search(name):
        kind = TOKEN_KIND.match(str(value))
        return f"{kind.group(1) if kind else ''}•••• ({len(str(value))} characters)"
    return str(value)


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def sources() -> dict[str, str]:
    """Where each setting that is not a default came from (the environment wins over `.env`, as in Settings)."""
    found = dict.fromkeys(DotEnvSettingsSource(Settings)(), ".env")
    found.update(dict.fromkeys(EnvSettingsSource(Settings)(), "environment"))
    return found


def settings_lines(settings: Settings) -> Iterator[str]:
    origin = sources()
    names = list(Settings.model_fields)
    width = max(len(n) for n in names)
    for name in names:
        yield f"{name.upper():<{width}}  {shown(name, getattr(settings, name)):<40}  {origin.get(name, 'default')}"


def database(settings: Settings) -> Check:
    from store.migrate import current, latest, sqlite_file

    url = safe_url(settings.database_url)
    path = sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        return Check("database", False, f"{url} does not exist (`cmo-bot migrate` creates it)")
    try:
        from store.db import make_engine

        engine = make_engine(settings.database_url)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        at, newest = current(settings.database_url), latest()
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        return Check("database", False, f"{url} is not reachable ({type(reason).__name__}: "
                                        f"{str(reason).strip().splitlines()[0][:160]})")
    if at != newest:
        have = ", ".join(at) or "no schema"
        return Check("database", False, f"{url} is reachable but its schema is not up to date ({have}; run "
                                        "`cmo-bot migrate`)")
    return Check("database", True, f"{url} is reachable, schema up to date ({', '.join(at)})")


def slack_token(settings: Settings) -> Check:
    if not settings.slack_bot_token:
        return Check("SLACK_BOT_TOKEN", False, "not set (serve, socket and tick need it)")
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10)
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        return Check("SLACK_BOT_TOKEN", False, f"refused by Slack at {settings.slack_api_url} "
                                               f"({exc.response.get('error') or exc.response.status_code})")
    except (SlackClientError, OSError) as exc:
        return Check("SLACK_BOT_TOKEN", False, f"Slack is not reachable at {settings.slack_api_url} "
                                               f"({type(exc).__name__}: {exc})"[:240])
    return Check("SLACK_BOT_TOKEN", True, f"accepted by Slack: the bot @{answer.get('user')} in workspace "
                                          f"{answer.get('team')} ({answer.get('team_id')})")


def signing_secret(settings: Settings) -> Check:
    if settings.slack_signing_secret:
        return Check("SLACK_SIGNING_SECRET", True, "set (serve verifies every request from Slack with it)")
    if settings.slack_app_token:
        return Check("SLACK_SIGNING_SECRET", True, "not set, and not needed by socket (SLACK_APP_TOKEN is set)")
    return Check("SLACK_SIGNING_SECRET", False, "not set (serve needs it to verify every request from Slack)")


def files_store(settings: Settings) -> Check:
    """A local folder must be writable (or creatable); a bucket must answer a listing."""
    store = settings.document_store()
    if not isinstance(store, LocalStore):
        try:
            next(iter(store.keys()), None)
        except StoreUnavailable as exc:
            return Check("files store", False, str(exc))
        return Check("files store", True, f"{store} answers")
    folder = store.root
    existing = next((p for p in (folder, *folder.absolute().parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return Check("files store", False, f"{folder} cannot be created ({existing} is not a folder)")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".cmo-bot-probe-"):
            pass
    except OSError as exc:
        return Check("files store", False, f"{existing} is not writable ({exc.strerror})")
    if existing != folder and existing != folder.absolute():
        return Check("files store", True, f"{folder} does not exist yet; it will be created in {existing} "
                                          "(writable)")
    return Check("files store", True, f"{folder} is writable")


CHECKS: list[Callable[[Settings], Check]] = [database, slack_token, signing_secret, files_store]


def run(settings: Settings, out: Callable[[str], None] = print) -> bool:
    """Print the settings and every check; true when every check passed."""
    out(f"settings (from the environment, {os.path.abspath('.env')} or the default):")
    for line in settings_lines(settings):
        out("  " + line)
    out("checks:")
    results = [check(settings) for check in CHECKS]
    for result in results:
        out("  " + result.line())
    return all(r.ok for r in results)
