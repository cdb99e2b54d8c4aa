"""Fetching a file someone shared in Slack, with the bot token, so it can be filed in a program folder.

The bot token is only ever sent to Slack: the URL `files.info` gives must be https on Slack's file hosts (or
the scheme and host of `SLACK_API_URL`, which is how the local emulator is reached). External and remote files
(a Google Drive share, a link registered with `files.remote.add`) live elsewhere and are refused by name;
redirects are never followed. Every failure to download reads the same, whatever the cause, so a crafted URL
cannot probe the network. The body is streamed with a running size cap and a total deadline: a 300 MB file is
stopped at 200 MB, not read first and measured after. A file that cannot be fetched is an error the user sees
(`Invalid`), never a silent gap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from store.errors import Invalid

MAX_BYTES = 200 * 1024 * 1024
DEADLINE_SECONDS = 120.0  # the whole download, however slowly the bytes trickle in
CHUNK = 256 * 1024
SLACK_FILE_HOSTS = frozenset({"files.slack.com", "files.slack-gov.com"})
ELSEWHERE = frozenset({"external", "remote"})  # files.info `mode` of files kept outside Slack
UNAVAILABLE = "{name} could not be downloaded from Slack; share it again."

log = logging.getLogger("cmo_bot.downloads")


@dataclass(frozen=True)
class SlackFile:
    id: str
    name: str
    mimetype: str
    content: bytes


def slack_hosted(url: str, api_url: str) -> bool:
    """Whether `url` is on Slack's file hosts (https), or on the same scheme and host as the Web API."""
    try:
        parts, api = urlsplit(url), urlsplit(api_url)
        port = parts.port
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    if (parts.scheme, parts.netloc) == (api.scheme, api.netloc):
        return True
    return parts.scheme == "https" and parts.hostname in SLACK_FILE_HOSTS and port in (None, 443)


def _refuse_elsewhere(info: dict) -> str:
    """The URL to download from, or a refusal naming why the file is not one the bot can fetch."""
    name = str(info.get("name") or info.get("title") or "That file")[:80]
    if info.get("is_external") or info.get("mode") in ELSEWHERE:
        where = info.get("external_type") or "another service"
        raise Invalid(f"{name} is a link to a file kept in {where}, not a file uploaded to Slack; download it "
                      "and upload the file itself to Slack, then share it again.")
    url = info.get("url_private_download") or info.get("url_private")
    if not url:
        raise Invalid(f"{name} has no downloadable content in Slack; upload the file itself and share it again.")
    return str(url)


def fetch(client: WebClient, file_id: str, *, max_bytes: int = MAX_BYTES, deadline: float = DEADLINE_SECONDS,
          clock: Callable[[], float] = time.monotonic) -> SlackFile:
    try:
        info = client.files_info(file=file_id)["file"]
    except SlackApiError as exc:
        raise Invalid(f"Slack would not show the file ({exc.response.get('error')}); share it again.") from None
    url = _refuse_elsewhere(info)
    name = str(info.get("name") or file_id)
    if not slack_hosted(url, client.base_url):
        log.warning("refused to download file %s: its URL is not on Slack's file hosts", file_id)
        raise Invalid(f"{name[:80]} is not stored on Slack's file servers; upload the file itself to Slack and "
                      "share it again.")
    try:
        content = _download(url, client.token or "", file_id, max_bytes, clock() + deadline, clock)
    except _Unavailable:
        raise Invalid(UNAVAILABLE.format(name=name[:80])) from None
    return SlackFile(file_id, name, info.get("mimetype") or "", content)


class _Unavailable(Exception):
    """The download failed; why is logged, never told (every cause reads the same)."""


def _download(url: str, token: str, file_id: str, max_bytes: int, until: float, clock: Callable[[], float]) -> bytes:
    too_large = Invalid(f"That file is larger than {max_bytes // (1024 * 1024)} MB; file it in the document "
                        "system instead.")
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    try:
        with requests.get(url, headers=headers, timeout=(10, 30), allow_redirects=False, stream=True) as response:
            if response.status_code != 200:
                log.warning("file %s: download answered HTTP %s", file_id, response.status_code)
                raise _Unavailable
            declared = response.headers.get("Content-Length") or ""
            if declared.isdecimal() and int(declared) > max_bytes:
                raise too_large
            chunks, size = [], 0
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise too_large
                if clock() > until:
                    log.warning("file %s: download passed its deadline", file_id)
                    raise _Unavailable
                chunks.append(chunk)
    except requests.RequestException as exc:
        log.warning("file %s: download failed (%s)", file_id, type(exc).__name__)
        raise _Unavailable from None
    return b"".join(chunks)
