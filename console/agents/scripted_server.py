"""A local OpenAI-compatible chat-completions server that plays scripted conversations (tests, benchmarks, demos).

Each conversation (keyed by the text of its first user message) consumes its own copy of the
script, one entry per HTTP request: a reply (tool calls, text, refusal, empty), an error (status,
body, headers), a raw answer (any bytes, any content type: a proxy's HTML page, JSON of the
wrong shape), a dropped connection, or a callable(request_json) -> entry for dynamic replies.
Entries may delay (real seconds) and advance a fake clock before answering. When a script runs
out the server answers with a `submit` tool call.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Entry:
    """What the server does for one request."""

    status: int = 200
    message: dict[str, Any] | None = None  # the assistant message (200 only)
    body: dict[str, Any] | None = None  # the error body (status != 200)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # real seconds to wait before answering
    advance_s: float = 0.0  # seconds to move the server's clock forward (if it has one)
    drop: bool = False  # close the connection without answering
    usage: dict[str, Any] | None = None  # override the token usage (any values: malformed ones too)
    raw: bytes | None = None  # send these bytes as the whole body, with content_type
    content_type: str = "application/json"


def call(name: str, args: dict | str | None = None, **kw: Any) -> Entry:
    """A reply with one tool call; args is a dict (sent as JSON) or a raw (maybe malformed) string."""
    return calls((name, args), **kw)


def calls(*pairs: tuple[str, dict | str | None], content: str | None = None, **kw: Any) -> Entry:
    """A reply with several tool calls, each (name, args)."""
    tool_calls = []
    for name, args in pairs:
        text = args if isinstance(args, str) else json.dumps(args or {})
        tool_calls.append({"id": "", "type": "function", "function": {"name": name, "arguments": text}})
    return Entry(message={"role": "assistant", "content": content, "tool_calls": tool_calls}, **kw)


def text(content: str, **kw: Any) -> Entry:
    """A reply with text and no tool call."""
    return Entry(message={"role": "assistant", "content": content}, **kw)


def refusal(reason: str = "I can't help with that.", **kw: Any) -> Entry:
    """A reply whose `refusal` field is set."""
    return Entry(message={"role": "assistant", "content": None, "refusal": reason}, **kw)


def empty(**kw: Any) -> Entry:
    """A reply with neither content nor tool calls."""
    return Entry(message={"role": "assistant", "content": None}, **kw)


def error(status: int, message: str = "error", code: str | None = None, retry_after: float | None = None,
          **kw: Any) -> Entry:
    """An error answer in OpenAI's format; retry_after sets the Retry-After header (seconds)."""
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    kind = {429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "server_error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return Entry(status=status, body=body, headers=headers, **kw)


def context_overflow(**kw: Any) -> Entry:
    """The 400 answer of a server whose context window the request exceeded."""
    return error(400, "This model's maximum context length is 128 tokens; your messages were longer.",
                 code="context_length_exceeded", **kw)


def slow(seconds: float, entry: Entry) -> Entry:
    """The same entry answered after `seconds` of real time."""
    entry.delay_s = seconds
    return entry


def raw(body: bytes | str | dict | list, content_type: str = "application/json", status: int = 200,
        **kw: Any) -> Entry:
    """An answer of exactly this body (dicts and lists sent as JSON) and content type."""
    data = json.dumps(body) if isinstance(body, (dict, list)) else body
    return Entry(status=status, raw=data.encode() if isinstance(data, str) else data, content_type=content_type, **kw)


def drop(**kw: Any) -> Entry:
    """Close the connection without an answer (a connection reset)."""
    return Entry(drop=True, **kw)


Script = list  # of Entry or callable(request: dict) -> Entry


class ScriptedServer:
    """The server on 127.0.0.1 (a free port), in a daemon thread; use as a context manager."""

    def __init__(self, script: Script | Callable[[], Script], clock: Any = None):
        self._script = script
        self.clock = clock  # an object with advance(seconds), e.g. the tests' FakeClock
        self.requests: list[dict[str, Any]] = []  # every request body received, in order
        self.conversations: dict[str, list] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True, name="scripted-openai")

    @property
    def base_url(self) -> str:
        """The URL to give the openai client (ends in /v1)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedServer:
        """Start serving."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and free the port."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_entry(self, request: dict[str, Any]) -> Entry:
        """The entry answering this request (the next of its conversation's script)."""
        with self._lock:
            self.requests.append(request)
            key = _conversation_key(request)
            if key not in self.conversations:
                script = self._script() if callable(self._script) else self._script
                self.conversations[key] = list(script)
            queue = self.conversations[key]
            entry = queue.pop(0) if queue else call("submit", {})
        if callable(entry) and not isinstance(entry, Entry):
            entry = entry(request)
        return entry

    def reply_body(self, request: dict[str, Any], entry: Entry) -> dict[str, Any]:
        """The chat.completion JSON for a 200 entry, with usage estimated from text length."""
        message = dict(entry.message or {"role": "assistant", "content": ""})
        if message.get("tool_calls"):
            message["tool_calls"] = [
                {**tc, "id": tc.get("id") or f"call_{next(self._ids)}"} for tc in message["tool_calls"]
            ]
        prompt = sum(len(json.dumps(m.get("content") or "")) for m in request.get("messages", [])) // 4 + 1
        completion = len(json.dumps(message)) // 4 + 1
        usage = entry.usage or {"prompt_tokens": prompt, "completion_tokens": completion}
        counts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
        if "total_tokens" not in usage and all(type(n) is int for n in counts):
            usage = {**usage, "total_tokens": sum(counts)}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        return {"id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": int(time.time()),
                "model": request.get("model", "scripted"), "usage": usage,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}]}


def _conversation_key(request: dict[str, Any]) -> str:
    """A conversation's identity: the text of its first user message."""
    for m in request.get("messages", []):
        if m.get("role") == "user":
            return hashlib.sha256(json.dumps(m.get("content"), sort_keys=True).encode()).hexdigest()
    return ""


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Answers POST .../chat/completions from the server's scripts."""

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            """Stay quiet."""

        def do_POST(self) -> None:
            """One chat-completion request: the next entry of its conversation's script."""
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._send(400, {"error": {"message": "bad JSON", "type": "invalid_request_error"}}, {})
            if not self.path.rstrip("/").endswith("/chat/completions"):
                return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}, {})
            entry = server.next_entry(request)
            if entry.advance_s and server.clock is not None:
                server.clock.advance(entry.advance_s)
            if entry.delay_s:
                time.sleep(entry.delay_s)
            if entry.drop:
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return None
            if entry.raw is not None:
                return self._send_bytes(entry.status, entry.raw, entry.content_type, entry.headers)
            if entry.status != 200:
                return self._send(entry.status, entry.body or {}, entry.headers)
            return self._send(200, server.reply_body(request, entry), entry.headers)

        def _send(self, status: int, body: dict, headers: dict[str, str]) -> None:
            self._send_bytes(status, json.dumps(body).encode(), "application/json", headers)

        def _send_bytes(self, status: int, data: bytes, content_type: str, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout): nothing to answer
                self.close_connection = True

    return Handler
