"""The try page: the bot in a browser, over the local Slack emulator (`cmo-bot try`)."""
