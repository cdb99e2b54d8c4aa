"""The Slack emulator and the signed request sender, exercised over real HTTP.

The Web API side is driven with slack_sdk's own WebClient, and the sender's requests are
checked with slack_sdk's SignatureVerifier and dispatched through a real Bolt app, so these
tests fail if the emulator drifts from what the official clients send and expect.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier

from bot.emulator import SlackEmulator, SlackSender

SECRET = "test-signing-secret"
BUTTONS = [
    {"type": "section", "block_id": "ask", "text": {"type": "mrkdwn", "text": "Launch *acme*?"}},
    {"type": "actions", "block_id": "choice", "elements": [
        {"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"},
         "value": "acme"},
        {"type": "button", "action_id": "reject", "text": {"type": "plain_text", "text": "Reject"}},
    ]},
]


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def modal(title: str = "New program", blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "modal", "callback_id": "new_program", "title": {"type": "plain_text", "text": title},
            "submit": {"type": "plain_text", "text": "Create"}, "blocks": blocks or [section("hi")]}


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        emulator.add_user("U1", "jdoe", real_name="Jane Doe", email="jane@example.com")
        emulator.add_user("U2", "rroe")
        emulator.add_user("UX", "partner", external=True)
        emulator.add_channel("C1", "acme-001", members=["U1", "U0CMOBOT"])
        emulator.add_channel("C2", "old-launch", archived=True)
        yield emulator


@pytest.fixture
def client(slack: SlackEmulator) -> WebClient:
    return WebClient(base_url=slack.url, token="xoxb-test")


@dataclass
class Endpoint:
    """Where the sender posts: records every request and, once `app` is set, lets Bolt answer."""

    url: str = ""
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    app: App | None = None

    def last(self) -> tuple[str, dict[str, str]]:
        return self.received[-1]


class _EndpointServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EndpointHandler)
        self.endpoint = Endpoint(f"http://127.0.0.1:{self.server_address[1]}/slack/events")


class _EndpointHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EndpointServer

    def do_POST(self) -> None:
        endpoint = self.server.endpoint
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        headers = dict(self.headers.items())
        endpoint.received.append((body, headers))
        status, text = 200, ""
        if endpoint.app is not None:
            answer = endpoint.app.dispatch(BoltRequest(body=body, headers=headers))
            status, text = answer.status, answer.body
        self.send_response(status)
        self.send_header("Content-Length", str(len(text.encode())))
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = _EndpointServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server.endpoint
    server.shutdown()
    server.server_close()


def interactive_payload(body: str) -> dict[str, Any]:
    return json.loads(parse_qs(body)["payload"][0])


# --- Web API -------------------------------------------------------------------------------------------


def test_post_then_update_changes_the_recorded_message(slack: SlackEmulator, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="Launch acme?", blocks=BUTTONS)
    second = client.chat_postMessage(channel="C1", text="again")
    assert first["channel"] == "C1" and first["message"]["text"] == "Launch acme?"
    assert float(second["ts"]) > float(first["ts"])

    client.chat_update(channel="C1", ts=first["ts"], text="Approved", blocks=[section("Approved by jdoe")])

    current = slack.messages("C1")[0]
    assert current["text"] == "Approved" and current["blocks"][0]["text"]["text"] == "Approved by jdoe"
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel="C1", ts="1.000001", text="nope")
    assert missing.value.response["error"] == "message_not_found"


def test_posting_resolves_dms_and_refuses_archived_or_unknown_channels(slack: SlackEmulator,
                                                                      client: WebClient) -> None:
    dm = client.conversations_open(users="U1")["channel"]["id"]
    assert dm.startswith("D") and client.conversations_open(users="U1")["channel"]["id"] == dm
    assert client.chat_postMessage(channel="U1", text="hello")["channel"] == dm
    for channel, error in (("C2", "is_archived"), ("C404", "channel_not_found")):
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel=channel, text="x")
        assert refused.value.response["error"] == error


def test_membership_is_enforced_only_when_asked() -> None:
    with SlackEmulator(require_membership=True) as strict:
        strict.add_channel("C9", "elsewhere")
        web = WebClient(base_url=strict.url, token="xoxb-test")
        with pytest.raises(SlackApiError) as refused:
            web.chat_postMessage(channel="C9", text="x")
        assert refused.value.response["error"] == "not_in_channel"
        web.conversations_join(channel="C9")
        assert web.chat_postMessage(channel="C9", text="x")["ok"]


@pytest.mark.parametrize("blocks, pointer", [
    ([section(f"n{i}") for i in range(51)], "/blocks]"),
    ([section("a", "same"), section("b", "same")], "/blocks/1/block_id]"),
    ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "/blocks/0/text/text]"),
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}], "/blocks/0/text/type]"),
    ([{"type": "input", "label": {"type": "plain_text", "text": "Name"},
       "element": {"type": "plain_text_input", "action_id": "n"}}], "/blocks/0/type]"),
    ([{"type": "actions", "elements": [{"type": "button", "action_id": "a",
                                        "text": {"type": "plain_text", "text": "b" * 76}}]}],
     "/blocks/0/elements/0/text/text]"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "/blocks/0/fields]"),
    ([{"type": "carousel"}], "/blocks/0/type]"),
])
def test_invalid_message_blocks_are_refused_like_slack(client: WebClient, blocks: list[Any],
                                                       pointer: str) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="fallback", blocks=blocks)
    body = refused.value.response.data
    assert body["error"] == "invalid_blocks"
    assert any(e.endswith(pointer) for e in body["errors"]), body["errors"]
    assert body["response_metadata"]["messages"][0].startswith("[ERROR] ")


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_message_text_rules(client: WebClient) -> None:
    for kwargs, error in (({}, "no_text"), ({"text": "x" * 40_001}, "msg_too_long")):
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel="C1", **kwargs)
        assert refused.value.response["error"] == error


def test_views_are_validated_and_can_be_found_again(slack: SlackEmulator, client: WebClient) -> None:
    slack.register_trigger("1.2.abc", "U1")
    with pytest.raises(SlackApiError) as refused:
        client.views_open(trigger_id="1.2.abc", view=modal(title="x" * 25))
    assert refused.value.response["error"] == "invalid_arguments"
    assert "[json-pointer:/view/title/text]" in refused.value.response["response_metadata"]["messages"][0]
    name_input = {"type": "input", "block_id": "n", "label": {"type": "plain_text", "text": "N"},
                  "element": {"type": "plain_text_input"}}
    no_submit = modal(blocks=[name_input])
    del no_submit["submit"]
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id="1.2.abc", view=no_submit)

    opened = client.views_open(trigger_id="1.2.abc", view=modal())["view"]
    assert opened["id"].startswith("V") and slack.last_view("U1")["id"] == opened["id"]
    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id="1.2.abc", view=modal())
    assert reused.value.response["error"] == "exchanged_trigger_id"
    client.views_update(view_id=opened["id"], view=modal(title="Step 2"))
    assert slack.last_view("U1")["title"]["text"] == "Step 2"
    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())
    assert stale.value.response["error"] == "hash_conflict"
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [section("Home")]})
    assert slack.home_view("U1")["blocks"][0]["text"]["text"] == "Home"


def test_a_trigger_id_expires_three_seconds_after_it_was_issued_even_when_someone_else_issued_it(
        slack: SlackEmulator, client: WebClient) -> None:
    """A trigger the emulator did not hand out (a benchmark's) carries the epoch milliseconds it was stamped
    with; with Slack's TTL set, one five seconds old is refused and a fresh one is not."""
    slack.trigger_ttl = 3.0
    stamped = lambda seconds_ago: f"{int((time.time() - seconds_ago) * 1000)}.7.abc"  # noqa: E731
    with pytest.raises(SlackApiError) as late:
        client.views_open(trigger_id=stamped(5), view=modal())
    assert late.value.response["error"] == "expired_trigger_id"
    assert client.views_open(trigger_id=stamped(0.5), view=modal())["ok"]
    assert client.views_open(trigger_id="1.2.abc", view=modal())["ok"]  # no time in it: issued when first seen


def test_auth_and_unknown_methods(slack: SlackEmulator) -> None:
    assert requests.post(slack.url + "auth.test").json() == {"ok": False, "error": "not_authed"}
    user_token = {"Authorization": "Bearer xoxp-user"}
    assert requests.post(slack.url + "auth.test", headers=user_token).json() == {
        "ok": False, "error": "invalid_auth"}
    with pytest.raises(SlackApiError) as unknown:
        WebClient(base_url=slack.url, token="xoxb-t").api_call("chat.teleport")
    assert unknown.value.response["error"] == "unknown_method"
    assert WebClient(base_url=slack.url, token="xoxb-t").auth_test()["user_id"] == "U0CMOBOT"


@pytest.mark.parametrize("name, error", [
    ("Launch Acme", "invalid_name_specials"),
    ("a" * 81, "invalid_name_maxlength"),
    ("---", "invalid_name_punctuation"),
    ("acme-001", "name_taken"),
])
def test_conversations_create_validates_names(client: WebClient, name: str, error: str) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.conversations_create(name=name)
    assert refused.value.response["error"] == error


def test_create_invite_and_members(slack: SlackEmulator, client: WebClient) -> None:
    created = client.conversations_create(name="acme-002_launch")["channel"]
    assert created["name"] == "acme-002_launch" and created["is_member"]
    client.conversations_invite(channel=created["id"], users="U1,UX")
    assert client.conversations_info(channel=created["id"])["channel"]["is_ext_shared"] is True
    for users, error in (("U1", "already_in_channel"), ("U1,U404", "user_not_found")):
        with pytest.raises(SlackApiError) as refused:
            client.conversations_invite(channel=created["id"], users=users)
        assert refused.value.response["error"] == error
    members = client.conversations_members(channel=created["id"], limit=2)
    assert members["members"] == ["U0CMOBOT", "U1"] and members["response_metadata"]["next_cursor"]
    assert client.users_info(user="UX")["user"]["is_stranger"] is True
    assert client.users_lookupByEmail(email="jane@example.com")["user"]["id"] == "U1"


# --- faults and rate limits --------------------------------------------------------------------------


def test_injected_faults_are_served_in_order(slack: SlackEmulator, client: WebClient) -> None:
    slack.inject("chat.postMessage", {"status": 429, "retry_after": 7}, {"status": 500})
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="1")
    assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"] == "7"
    with pytest.raises(SlackApiError) as broken:
        client.chat_postMessage(channel="C1", text="2")
    assert broken.value.response.status_code == 500
    assert client.chat_postMessage(channel="C1", text="3")["ok"]
    assert [f["fault"].get("status") for f in slack.faults_served()] == [429, 500]
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 500, 200]
    assert [m["text"] for m in slack.messages("C1")] == ["3"]


def test_drop_delay_and_error_faults(slack: SlackEmulator) -> None:
    slack.inject("*", {"drop": True}, {"delay": 0.2}, {"error": "channel_not_found"})
    # Like slack_sdk's default, retry a dropped connection once (here without the backoff wait);
    # the retry is served the delay fault.
    retry = ConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0))
    client = WebClient(base_url=slack.url, token="xoxb-test", retry_handlers=[retry])
    started = time.monotonic()
    assert client.auth_test()["ok"]
    assert time.monotonic() - started >= 0.2
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="x")
    assert (refused.value.response.status_code, refused.value.response["error"]) == (200, "channel_not_found")
    errors = [c.response.get("error") for c in slack.calls()]
    assert errors == ["connection_dropped", None, "channel_not_found"]
    with pytest.raises(ValueError):
        slack.inject("chat.postMessage", {"stauts": 500})


def test_rate_limit_buckets_per_channel(slack: SlackEmulator, client: WebClient) -> None:
    slack.add_channel("C3", "acme-003")
    slack.set_rate_limit("chat.postMessage", per_second=0.5, burst=2, per_channel=True)
    client.chat_postMessage(channel="C1", text="1")
    client.chat_postMessage(channel="C1", text="2")
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="3")
    assert limited.value.response.status_code == 429 and limited.value.response["error"] == "ratelimited"
    assert int(limited.value.response.headers["Retry-After"]) in (1, 2)
    assert client.chat_postMessage(channel="C3", text="other channel")["ok"]
    assert slack.rate_limited_count("chat.postMessage") == 1


def test_published_limits_follow_the_tiers(slack: SlackEmulator, client: WebClient) -> None:
    slack.apply_published_limits()
    for i in range(20):  # conversations.create is Tier 2: 20 per minute
        client.conversations_create(name=f"tier-{i}")
    with pytest.raises(SlackApiError):
        client.conversations_create(name="tier-20")
    for _ in range(3):  # chat.postMessage: one per second per channel, short burst
        client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="x")
    assert slack.rate_limited_count() == 2 and client.auth_test()["ok"]


# --- files -------------------------------------------------------------------------------------------


def test_external_upload_round_trips_bytes(slack: SlackEmulator, client: WebClient) -> None:
    content = bytes(range(256)) * 4
    result = client.files_upload_v2(channel="C1", content=content, filename="brief.pdf", title="Brief",
                                    initial_comment="Here is the brief")
    uploaded = slack.uploaded_files()
    assert [(f["name"], f["title"], f["channel"], f["initial_comment"]) for f in uploaded] == [
        ("brief.pdf", "Brief", "C1", "Here is the brief")]
    assert uploaded[0]["bytes"] == content
    info = client.files_info(file=result["file"]["id"])["file"]
    download = requests.get(info["url_private_download"], headers={"Authorization": "Bearer xoxb-test"})
    assert download.status_code == 200 and download.content == content
    assert slack.messages("C1")[-1]["files"][0]["id"] == info["id"]


def test_file_download_needs_the_bot_token(slack: SlackEmulator, client: WebClient) -> None:
    slack.add_file("F1", "plan.txt", b"secret plan", mimetype="text/plain")
    url = client.files_info(file="F1")["file"]["url_private"]
    assert requests.get(url, headers={"Authorization": "Bearer xoxb-test"}).content == b"secret plan"
    assert requests.get(url, allow_redirects=False).status_code == 302
    assert b"secret" not in requests.get(url).content  # the redirect lands on a sign-in page
    assert requests.get(url, headers={"Authorization": "Bearer nope"}).status_code == 403
    missing = requests.get(slack.base + "/files/F404/x", headers={"Authorization": "Bearer xoxb-t"})
    assert missing.status_code == 404
    with pytest.raises(SlackApiError):
        client.files_info(file="F404")


# --- recording and control ---------------------------------------------------------------------------


def test_wait_for_returns_matches_or_explains_what_it_saw(slack: SlackEmulator, client: WebClient) -> None:
    threading.Timer(0.05, lambda: client.chat_postMessage(channel="C1", text="late")).start()
    found = slack.wait_for("chat.postMessage", lambda c: c.args["text"] == "late", timeout=2)
    assert found[0].token == "xoxb-test" and found[0].response["ok"]
    with pytest.raises(AssertionError, match="#acme-001 ← bot: late"):
        slack.wait_for("views.open", timeout=0.05)


def test_transcript_is_readable(slack: SlackEmulator, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="fallback", blocks=BUTTONS)
    client.chat_postMessage(channel="U1", text="psst")
    slack.register_trigger("3.4.def", "U1")
    client.views_open(trigger_id="3.4.def", view=modal())
    lines = [slack.transcript(c) for c in slack.calls()]
    assert lines == ["#acme-001 ← bot: Launch *acme*?\n    [Approve] [Reject]", "DM @jdoe ← bot: psst",
                     'views.open modal "New program" → @jdoe: hi']


def test_control_endpoints_let_another_process_drive_it(slack: SlackEmulator, client: WebClient) -> None:
    seen: list[str] = []
    slack.on_call = lambda call: seen.append(call.method)
    requests.post(slack.base + "/_emulator/users", json=[{"id": "U7", "name": "sam"}]).raise_for_status()
    requests.post(slack.base + "/_emulator/faults",
                  json={"method": "users.info", "faults": [{"status": 503}]}).raise_for_status()
    with pytest.raises(SlackApiError):
        client.users_info(user="U7")
    assert client.users_info(user="U7")["user"]["name"] == "sam"
    calls = requests.get(slack.base + "/_emulator/calls", params={"method": "users.info"}).json()["calls"]
    assert [c["status"] for c in calls] == [503, 200] and seen == ["users.info", "users.info"]
    requests.post(slack.base + "/_emulator/reset").raise_for_status()
    assert slack.calls() == [] and slack.user("U7") is None


# --- the sender --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sign, secret, valid", [
    ("valid", None, True), ("wrong", None, False), ("stale", None, False), ("valid", "other-secret", False),
])
def test_sender_signatures_verify_only_when_valid(slack: SlackEmulator, endpoint: Endpoint, sign: str,
                                                  secret: str | None, valid: bool) -> None:
    sender = SlackSender(endpoint.url, SECRET, slack)
    sender.command("launch acme", "U1", "C1", sign=sign, secret=secret)
    body, headers = endpoint.last()
    assert SignatureVerifier(SECRET).is_valid_request(body, headers) is valid


def test_unsigned_request_has_no_signature_headers(slack: SlackEmulator, endpoint: Endpoint) -> None:
    SlackSender(endpoint.url, SECRET, slack).event({"type": "app_mention", "text": "hi", "user": "U1",
                                                    "channel": "C1"}, sign="none")
    body, headers = endpoint.last()
    assert "X-Slack-Signature" not in headers
    assert not SignatureVerifier(SECRET).is_valid_request(body, headers)
    envelope = json.loads(body)
    assert envelope["type"] == "event_callback" and envelope["authorizations"][0]["user_id"] == "U0CMOBOT"
    person = slack.messages("C1", include_user_messages=True)
    assert [(m["user"], m["ts"]) for m in person] == [("U1", envelope["event"]["ts"])]


def test_command_carries_every_slack_field(slack: SlackEmulator, endpoint: Endpoint) -> None:
    response = SlackSender(endpoint.url, SECRET, slack).command("launch acme", "U1", "C1")
    form = {k: v[0] for k, v in parse_qs(endpoint.last()[0], keep_blank_values=True).items()}
    assert list(form) == ["token", "team_id", "team_domain", "channel_id", "channel_name", "user_id",
                          "user_name", "command", "text", "api_app_id", "is_enterprise_install",
                          "response_url", "trigger_id"]
    assert (form["channel_name"], form["user_name"], form["command"]) == ("acme-001", "jdoe", "/cmo")
    assert form["response_url"].endswith("/respond/" + response.response_url_tag)


def test_block_action_uses_the_clicked_element(slack: SlackEmulator, client: WebClient,
                                              endpoint: Endpoint) -> None:
    sender = SlackSender(endpoint.url, SECRET, slack)
    posted = client.chat_postMessage(channel="C1", text="Launch acme?", blocks=BUTTONS)
    click = sender.block_action("U1", "approve", channel_id="C1").payload
    assert click["container"] == {"type": "message", "message_ts": posted["ts"], "channel_id": "C1",
                                  "is_ephemeral": False}
    assert (click["actions"][0]["block_id"], click["actions"][0]["value"]) == ("choice", "acme")
    invalid = requests.post(click["response_url"], json={"blocks": [{"type": "carousel"}]})
    assert (invalid.status_code, invalid.text) == (400, "invalid_blocks")

    picker = {"type": "static_select", "action_id": "pick",
              "options": [{"text": {"type": "plain_text", "text": "Alpha"}, "value": "a"}]}
    home = {"type": "home", "blocks": [{"type": "actions", "elements": [picker]}]}
    client.views_publish(user_id="U1", view=home)
    pick = sender.block_action("U1", "pick", "a").payload
    assert pick["container"]["type"] == "view" and pick["view"]["type"] == "home"
    assert pick["actions"][0]["selected_option"]["text"]["text"] == "Alpha"


def test_view_submission_builds_slack_state_shapes(slack: SlackEmulator, endpoint: Endpoint) -> None:
    slack.add_file("F9", "logo.png", b"png", mimetype="image/png")
    options = [{"text": {"type": "plain_text", "text": t}, "value": t.lower()} for t in ("Email", "Ads")]

    def field(block_id: str, element: dict[str, Any]) -> dict[str, Any]:
        return {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": block_id},
                "element": {"action_id": block_id + "_a", **element}}

    view = {**modal(blocks=[
        field("name", {"type": "plain_text_input", "initial_value": "Acme"}),
        field("budget", {"type": "number_input", "is_decimal_allowed": False}),
        field("start", {"type": "datepicker"}),
        field("at", {"type": "datetimepicker"}),
        field("channel", {"type": "static_select", "options": options}),
        field("extras", {"type": "checkboxes", "options": options}),
        field("owner", {"type": "users_select"}),
        field("team", {"type": "multi_users_select"}),
        field("where", {"type": "conversations_select"}),
        field("logo", {"type": "file_input"}),
        field("notes", {"type": "plain_text_input"}),
    ]), "id": "V1"}
    SlackSender(endpoint.url, SECRET, slack).view_submission("U1", view, {
        "budget": 5000, "start": "2025-03-01", "at": 1740000000, "channel": "email",
        "extras": ["ads", "bogus"], "owner": "U2", "team": ["U1", "U2"], "where": "C1", "logo": ["F9"]})
    payload = interactive_payload(endpoint.last()[0])
    values = payload["view"]["state"]["values"]
    assert payload["type"] == "view_submission" and payload["user"]["id"] == "U1"
    assert values["name"]["name_a"] == {"type": "plain_text_input", "value": "Acme"}
    assert values["budget"]["budget_a"] == {"type": "number_input", "value": "5000"}
    assert values["start"]["start_a"]["selected_date"] == "2025-03-01"
    assert values["at"]["at_a"]["selected_date_time"] == 1740000000
    assert values["channel"]["channel_a"]["selected_option"] == options[0]
    assert [o["value"] for o in values["extras"]["extras_a"]["selected_options"]] == ["ads", "bogus"]
    assert values["owner"]["owner_a"]["selected_user"] == "U2"
    assert values["team"]["team_a"]["selected_users"] == ["U1", "U2"]
    assert values["where"]["where_a"]["selected_conversation"] == "C1"
    assert values["logo"]["logo_a"]["files"][0]["name"] == "logo.png"
    assert values["notes"]["notes_a"] == {"type": "plain_text_input", "value": None}
    with pytest.raises(KeyError):
        SlackSender(endpoint.url, SECRET).view_submission("U1", view, {"invented": "x"})


def test_a_bolt_app_round_trips_through_sender_and_emulator(slack: SlackEmulator,
                                                           endpoint: Endpoint) -> None:
    app = App(signing_secret=SECRET, client=WebClient(base_url=slack.url, token="xoxb-test"))
    submitted: list[dict[str, Any]] = []

    @app.command("/cmo")
    def open_form(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        respond(text="Opening the form…")
        client.views_open(trigger_id=body["trigger_id"], view=modal(blocks=[
            {"type": "input", "block_id": "name", "label": {"type": "plain_text", "text": "Name"},
             "element": {"type": "plain_text_input", "action_id": "value"}}]))

    @app.view("new_program")
    def create(ack: Ack, view: dict[str, Any], client: WebClient) -> None:
        ack()
        submitted.append(view["state"]["values"])
        client.chat_postMessage(channel="C1", text="Approve?", blocks=BUTTONS)

    @app.action("approve")
    def approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        respond(replace_original=True, text=f"Approved by <@{body['user']['id']}>")

    endpoint.app = app
    sender = SlackSender(endpoint.url, SECRET, slack)
    command = sender.command("new", "U1", "C1")
    assert command.status_code == 200
    slack.wait_for("views.open")
    slack.wait_for("response_url", lambda c: c.args["tag"] == command.response_url_tag)

    assert sender.submit_last_view("U1", {"name": "Acme"}).status_code == 200
    slack.wait_for("chat.postMessage")
    assert submitted == [{"name": {"value": {"type": "plain_text_input", "value": "Acme"}}}]

    assert sender.block_action("U2", "approve", channel_id="C1").status_code == 200
    slack.wait_for("response_url", lambda c: c.args.get("replace_original") is True)
    assert slack.messages("C1")[-1]["text"] == "Approved by <@U2>"
    assert sender.command("x", "U1", "C1", sign="wrong").status_code == 401
