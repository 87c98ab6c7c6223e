"""Helpers for the end-to-end tests: the skip-or-fail rule for system tools, polling, free ports, a private tmux
server, PNG pixels, and a small Chrome DevTools Protocol client (over aiohttp's websocket client, which textual-serve already needs)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shlex
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pytest

from testpaths import TEST_ENV_ROOT


def require_tool(name: str, path: str | None = None) -> str:
    """The tool's path; if it is missing, skip the test locally but fail it under CI=true."""
    found = path if path and os.access(path, os.X_OK) else shutil.which(name)
    if found:
        return found
    why = f"{name} is not installed (apt-get install -y {name}; .ci/run installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why}: under CI=true this test must run", pytrace=False)
    pytest.skip(why)


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.25):
    """Poll `predicate` until it returns something truthy (returned) or `timeout` seconds pass (fail)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


async def await_for(predicate, timeout: float, what: str, interval: float = 0.25):
    """`wait_for` for coroutine predicates."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


# -- tmux ------------------------------------------------------------------------------------------------


class Tmux:
    """One private tmux server (its own socket, no config file) with one fixed-size session."""

    def __init__(self, binary: str, env: dict[str, str], width: int = 160, height: int = 48):
        self.binary = binary
        self.width, self.height = width, height
        self.dir = Path(tempfile.mkdtemp(prefix="rearena-tmux-"))  # short: socket paths are limited
        self.socket = self.dir / "sock"
        self.env = env
        self.target = "e2e"

    def __call__(self, *args: str, check: bool = True) -> str:
        out = subprocess.run([self.binary, "-u", "-S", str(self.socket), "-f", "/dev/null", *args], env=self.env,
                             capture_output=True, text=True, timeout=60)
        if check and out.returncode != 0:
            pytest.fail(f"tmux {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out.stdout

    def start(self, shell_argv: list[str]) -> None:
        self("new-session", "-d", "-s", self.target, "-x", str(self.width), "-y", str(self.height),
             shlex.join(shell_argv))

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.target, *keys)

    def type(self, text: str) -> None:
        self("send-keys", "-t", self.target, "-l", text)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.target, check=False)

    def pane(self, fmt: str) -> str:
        return self("list-panes", "-t", self.target, "-F", fmt).strip()

    def close(self) -> None:
        self("kill-server", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def console_env(data: Path) -> dict[str, str]:
    """The environment for a console in tmux: its own data folder, the test environments, no outer tmux."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "REARENA_"))}
    env.update(REARENA_DATA_DIR=str(data), REARENA_ENVIRONMENTS=str(TEST_ENV_ROOT), HISTFILE="/dev/null",
               PS1="$ ", TERM=env.get("TERM") or "xterm-256color")
    return env


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


# -- PNG ---------------------------------------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) to (width, height, bytes per
    pixel, rows of pixels)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
    assert header is not None, "PNG without IHDR"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG format {header}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def distinct_colours(rows: list[bytes], bpp: int) -> int:
    """How many different colours the image holds."""
    return len({row[x:x + bpp] for row in rows for x in range(0, len(row), bpp)})


def changed_fraction(a: list[bytes], b: list[bytes], bpp: int) -> float:
    """The share of pixels that differ between two images of the same size."""
    assert len(a) == len(b) and len(a[0]) == len(b[0]), "screenshots of different sizes"
    total = changed = 0
    for ra, rb in zip(a, b):
        if ra == rb:
            total += len(ra) // bpp
            continue
        for x in range(0, len(ra), bpp):
            total += 1
            changed += ra[x:x + bpp] != rb[x:x + bpp]
    return changed / total


# -- Chrome DevTools Protocol --------------------------------------------------------------------------


class CDPError(RuntimeError):
    """An error answer from the browser."""


class CDP:
    """A minimal Chrome DevTools Protocol client: one browser websocket, one flattened page session."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future] = {}
        self.events: list[dict] = []
        self.reader = asyncio.create_task(self._read())
        self.session: str | None = None

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            else:
                self.events.append(data)
        for future in self.pending.values():
            future.set_exception(CDPError("the browser closed the DevTools connection"))

    async def send(self, method: str, timeout: float = 60, session: bool = True, **params) -> dict:
        """Send a command (to the page session unless session=False) and return its result."""
        msg_id = next(self.ids)
        message = {"id": msg_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        future = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = future
        await self.ws.send_str(json.dumps(message))
        answer = await asyncio.wait_for(future, timeout)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def open_page(self) -> None:
        """Open a new tab and attach to it."""
        target = await self.send("Target.createTarget", session=False, url="about:blank")
        attached = await self.send("Target.attachToTarget", session=False, targetId=target["targetId"], flatten=True)
        self.session = attached["sessionId"]

    async def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CDPError(f"JavaScript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self) -> bytes:
        """A PNG of the page as it is shown."""
        result = await self.send("Page.captureScreenshot", format="png")
        return base64.b64decode(result["data"])

    NAMED_KEYS = {"Enter": (13, "\r"), "Escape": (27, ""), "Tab": (9, "\t"), "ArrowDown": (40, ""),
                  "ArrowUp": (38, "")}

    async def press(self, key: str) -> None:
        """A real key press (keydown, with its text for printable keys, then keyup): a letter or a named key."""
        if key in self.NAMED_KEYS:
            vk, text = self.NAMED_KEYS[key]
            code = key
        else:
            assert len(key) == 1 and key.isalpha(), f"press() takes a letter or one of {list(self.NAMED_KEYS)}"
            vk, text, code = ord(key.upper()), key, f"Key{key.upper()}"
        down = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        if text:
            down.update(text=text, unmodifiedText=text)
        await self.send("Input.dispatchKeyEvent", type="keyDown" if text else "rawKeyDown", **down)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code, windowsVirtualKeyCode=vk,
                        nativeVirtualKeyCode=vk)

    async def type_text(self, text: str) -> None:
        """Type text into the focused element, as an input method would."""
        await self.send("Input.insertText", text=text)

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


def start_chromium(binary: str, profile: Path, width: int = 1400, height: int = 900) -> subprocess.Popen:
    """Headless Chromium with a DevTools port chosen by the system; nothing but loopback resolves."""
    profile.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
            f"--window-size={width},{height}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "about:blank"]
    with open(profile.parent / "chromium.log", "wb") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def devtools_url(profile: Path, proc: subprocess.Popen, timeout: float = 60) -> str:
    """The browser's DevTools websocket URL, from the DevToolsActivePort file Chromium writes."""
    active = profile / "DevToolsActivePort"

    def ready():
        if proc.poll() is not None:
            log = (profile.parent / "chromium.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"chromium exited with status {proc.returncode}:\n{log}")
        try:
            lines = active.read_text().split()
        except OSError:
            return None
        return lines if len(lines) >= 2 else None

    port, path = wait_for(ready, timeout, "chromium's DevToolsActivePort file")
    return f"ws://127.0.0.1:{port}{path}"


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """End a process we started (its whole process group: it was started in a new session)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait(timeout)
