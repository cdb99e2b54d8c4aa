from tests.e2e.conftest import _serve, bot, slack  # noqa: F401  (the same real serve + emulator)
