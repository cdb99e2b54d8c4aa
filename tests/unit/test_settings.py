import pytest

from bot.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SLACK_BOT_TOKEN", "xoxp-user-token", "SLACK_BOT_TOKEN"),
        ("SLACK_APP_TOKEN", "xoxb-wrong-kind", "SLACK_APP_TOKEN"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("CMO_TIMEZONE", "Mars/Olympus", "CMO_TIMEZONE"),
        ("CMO_ADMINS", "U123ABC,bob", "CMO_ADMINS"),
        ("CMO_ALERTS_CHANNEL", "#alerts", "CMO_ALERTS_CHANNEL"),
        ("SLACK_API_URL", "slack.com/api", "SLACK_API_URL"),
        ("CMO_PUBLIC_URL", "cmo-bot.example.com", "CMO_PUBLIC_URL"),
    ],
)
def test_bad_setting_is_one_line_naming_the_variable(monkeypatch, variable, value, named):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{named}:") and "\n" not in message


def test_defaults_and_lists(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CMO_ADMINS", " U01AAA , U02BBB,")
    settings = load_settings()
    assert settings.cmo_admins == {"U01AAA", "U02BBB"}
    assert settings.database_url == "sqlite:///cmo-bot.db"
    assert settings.slack_api_url == "https://slack.com/api/"


def test_dotenv_file_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CMO_TIMEZONE", raising=False)
    (tmp_path / ".env").write_text("CMO_TIMEZONE=Europe/Berlin\n")
    assert load_settings().cmo_timezone == "Europe/Berlin"


def test_required_setting_missing(monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN is not set"):
        load_settings().require("slack_bot_token")
