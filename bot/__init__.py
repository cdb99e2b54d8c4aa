"""The Slack side of the CMO bot: settings, the Bolt app, the CLI, Slack delivery and the local emulator."""
