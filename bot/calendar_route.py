"""`GET /calendar/<token>.ics`: a person's deadlines feed, for Outlook, Google Calendar and Apple Calendar.

No Slack signature protects this route (calendar apps fetch it on their own), so the token in the path is
the only credential: an unknown or revoked token gets the same bare 404 as any other unknown path, each
token is rate-limited in the process (a calendar app polls every few minutes to hours; more is refused with
429), and the token is never logged — a use is logged by the feed's id and owner.

ETag is the SHA-256 of the body; a matching If-None-Match gets 304 without the body, and Cache-Control lets
clients and proxies keep the feed for a while but never share it (`private`).

A feed of hundreds of programs takes seconds to gather in a process that has not kept it yet, so `serve` and
`socket` warm their cache in a background thread when they start (`warm`): the first fetch after a restart
finds the feed kept, as a fetch in a running bot does. Not on SQLite: there every transaction takes the
database's one write lock (`store.db`), so warming feed after feed would keep a command that comes in those
seconds waiting, and answer it "busy"; each feed is gathered at its first fetch instead.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from commands.calendar import key
from commands.deps import Deps
from store import feeds
from store.calendar_feed import FeedCache, render
from store.db import is_postgres, transaction

log = logging.getLogger(__name__)

PATH = re.compile(r"^/calendar/([A-Za-z0-9_-]{20,100})\.ics$")
CACHE_CONTROL = "private, max-age=300"
NOT_FOUND = ("404 Not Found", [("Content-Type", "text/plain")], b"not found")


def is_calendar_path(path: str) -> bool:
    return path.startswith("/calendar/")


@dataclass
class Limiter:
    """A token bucket per key: `burst` requests at once, then one every `refill_seconds`. Time is an input
    (monotonic seconds), so tests move it; at most `keys` buckets are kept, the least recently used
    dropped first (a flood of made-up tokens cannot grow the process)."""

    burst: int = 20
    refill_seconds: float = 30.0
    keys: int = 10_000
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, key: str, now: float) -> bool:
        tokens, since = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - since) / self.refill_seconds)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self.keys:
            self._buckets.popitem(last=False)
        return allowed


def warm(deps: Deps, cache: FeedCache) -> int:
    """Render the feeds issued most recently, as many as `cache` keeps, into it; the number rendered. Each in a
    transaction of its own, as a fetch would (a feed whose token the key no longer derives is skipped: its URL
    opens nothing). A feed that fails is logged and the others are still warmed; a database away at start is
    one log line (the error's type only: SQL errors carry their parameters, and a token is one), not a
    traceback."""
    try:
        with transaction(deps.engine) as session:
            tokens = [feeds.token_of(feed, key(deps)) for feed in feeds.latest(session, cache.size)]
    except Exception as exc:  # the database away at start: fetches gather their feeds themselves later
        log.warning("calendar feeds not warmed: %s", type(exc).__name__)
        return 0
    warmed = 0
    for token in tokens:
        try:
            with transaction(deps.engine) as session:
                warmed += render(session, token, deps.clock.now(), cache) is not None
        except Exception as exc:  # one feed's failure must not leave the others cold; its fetch will say more
            log.warning("calendar feed: warming one feed failed: %s", type(exc).__name__)
    log.info("calendar feeds: %d warmed", warmed)
    return warmed


def calendar_route(deps: Deps, limiter: Limiter | None = None, monotonic: Callable[[], float] = time.monotonic,
                   *, warmed: bool = False, cache: FeedCache | None = None) -> Callable:
    """The WSGI handler of `/calendar/…` that `bot.server` mounts next to `/slack/events`, keeping feeds in
    `cache` (default: a new one); with `warmed`, the cache is filled in a background thread (`warm`) while the
    handler already answers — on PostgreSQL; on SQLite one log line says it is not (see the module's note)."""
    limiter = limiter if limiter is not None else Limiter()  # (an empty one is falsy: it has a length)
    cache = cache if cache is not None else FeedCache()
    if warmed and is_postgres(deps.engine):
        threading.Thread(target=warm, args=(deps, cache), name="calendar-warm-up", daemon=True).start()
    elif warmed:
        log.info("calendar feeds not warmed on SQLite: each is gathered at its first fetch")

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, "405 Method Not Allowed", [("Allow", "GET, HEAD")], b"")
        if match is None:
            return _answer(start_response, *NOT_FOUND)
        token = match.group(1)
        if not limiter.allow(hashlib.sha256(token.encode()).hexdigest(), monotonic()):
            return _answer(start_response, "429 Too Many Requests", [("Retry-After", str(int(limiter.refill_seconds)))],
                           b"too many requests")
        with transaction(deps.engine) as session:
            rendered = render(session, token, deps.clock.now(), cache)
        if rendered is None:
            log.info("calendar feed: an unknown or revoked token was asked for")
            return _answer(start_response, *NOT_FOUND)
        etag = rendered.etag
        headers = [("ETag", etag), ("Cache-Control", CACHE_CONTROL)]
        unchanged = etag in [t.strip() for t in environ.get("HTTP_IF_NONE_MATCH", "").split(",")]
        log.info("calendar feed %s of %s: %s (%d events)", rendered.feed_id, rendered.user_id,
                 "not modified" if unchanged else "served", rendered.events)
        if unchanged:
            return _answer(start_response, "304 Not Modified", headers, b"")
        headers += [("Content-Type", "text/calendar; charset=utf-8"),
                    ("Content-Disposition", 'inline; filename="cmo-deadlines.ics"')]
        body = b"" if environ.get("REQUEST_METHOD") == "HEAD" else rendered.body
        return _answer(start_response, "200 OK", headers, body, length=len(rendered.body))

    return application


def _answer(start_response: Callable, status: str, headers: list[tuple[str, str]], body: bytes,
            length: int | None = None) -> Iterable[bytes]:
    start_response(status, [*headers, ("Content-Length", str(len(body) if length is None else length))])
    return [body]
