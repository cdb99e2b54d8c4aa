"""Fetching a file someone shared in Slack, with the bot token, so it can be filed in a program folder.

A file that cannot be fetched is an error the user sees (`Invalid`), never a silent gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from store.errors import Invalid

MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class SlackFile:
    id: str
    name: str
    mimetype: str
    content: bytes


def fetch(client: WebClient, file_id: str, timeout: float = 60) -> SlackFile:
    try:
        info = client.files_info(file=file_id)["file"]
    except SlackApiError as exc:
        raise Invalid(f"Slack would not show the file ({exc.response.get('error')}); share it again.") from None
    url = info.get("url_private_download") or info.get("url_private")
    if not url:
        raise Invalid("That file has no downloadable content (is it an external link?).")
    try:
        response = requests.get(url, headers={"Authorization": f"Bearer {client.token}"}, timeout=timeout,
                                allow_redirects=False)
    except requests.RequestException as exc:
        raise Invalid(f"The file could not be downloaded ({type(exc).__name__}); try again.") from None
    if response.status_code != 200:
        raise Invalid(f"The file could not be downloaded (HTTP {response.status_code}); share it again.")
    if len(response.content) > MAX_BYTES:
        raise Invalid("That file is larger than 200 MB; file it in the document system instead.")
    return SlackFile(file_id, info.get("name") or file_id, info.get("mimetype") or "", response.content)
