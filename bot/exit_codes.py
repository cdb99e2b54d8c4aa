"""The exit codes of `cmo-bot` (docs/cli.md), in a module of their own so that every command's module (the CLI
itself, the try page's server) can use them without importing the CLI."""

OK = 0
FOUND_PROBLEMS = 1  # the command ran and found something wrong: a broken chain, refused rows, undelivered
#                     notifications, a failed check
CANNOT_RUN = 2  # a bad setting, argument, file, folder or port, a missing database: nothing was changed
DATABASE_AWAY = 3  # the database did not answer: nothing was changed
READER_GONE = 141  # whoever read the output stopped reading (`cmo-bot demo | head`), as a shell reports SIGPIPE
INTERRUPTED = 130
