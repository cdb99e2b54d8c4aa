"""Servers sharing one port (`serve --reuse-port`, bot/server.py): the kernel hands each new connection to one
of them, so both answer; a server that did not ask to share cannot take the port."""

from __future__ import annotations

import http.client
import threading

import pytest

from bot.server import run_until_closed, serve_wsgi


def answering(name: str):
    def application(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]

    return application


def test_two_servers_on_one_port_each_take_connections():
    first = serve_wsgi(answering("first"), "127.0.0.1", 0, 2, reuse_port=True)
    port = first.effective_port
    second = serve_wsgi(answering("second"), "127.0.0.1", port, 2, reuse_port=True)
    threads = [threading.Thread(target=run_until_closed, args=(s,), daemon=True) for s in (first, second)]
    for thread in threads:
        thread.start()
    try:
        seen = []
        for _ in range(40):  # a new connection each: a different source port, hashed to either listener
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/")
            seen.append(connection.getresponse().read().decode())
            connection.close()
        assert set(seen) == {"first", "second"}  # all to one of them: 2 × 2^-40
    finally:
        for server in (first, second):
            server.close()


def test_a_server_that_does_not_share_cannot_take_a_shared_port():
    shared = serve_wsgi(answering("shared"), "127.0.0.1", 0, 2, reuse_port=True)
    try:
        with pytest.raises(OSError):
            serve_wsgi(answering("alone"), "127.0.0.1", shared.effective_port, 2)
    finally:
        shared.close()
