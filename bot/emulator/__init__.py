"""A local Slack (Web API, response URLs, file hosting) and a sender of Slack's signed requests.

Tests, the demo and benchmarks run the real bot against `SlackEmulator` and drive it with
`SlackSender`, so nothing Slack-facing is mocked.
"""

from bot.emulator.client import SlackSender, SocketModeSender
from bot.emulator.server import Call, SlackEmulator

__all__ = ["Call", "SlackEmulator", "SlackSender", "SocketModeSender"]
