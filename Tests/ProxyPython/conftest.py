"""Fixtures for the proof with real clients: a real redis-server (2 MB maxmemory, noeviction)
and `spillway proxy` in front of it, on free 127.0.0.1 ports, started once for the session and
stopped afterwards (also when a test fails). Nothing here skips: a missing binary fails."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
POLICIES = """\
version: 1
defaults:
  maxKeyBytes: 256
  keyOverflow: hash
  spillAbove: 64KiB
  onOOM: shed
prefixes:
  "lock:":
    onOOM: fail
"""
MAX_KEY_BYTES = 256
ROOM = 2 * 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, process, what):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if redis.Redis(port=port, socket_timeout=1).ping():
                return
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer PING on 127.0.0.1:{port} within 30 s")


class Stack:
    """The running servers and clients to them."""

    def __init__(self, spillway, redis_port, proxy_port, status_port, workdir):
        self.spillway = spillway
        self.redis_port = redis_port
        self.proxy_port = proxy_port
        self.status_port = status_port
        self.workdir = workdir
        self.direct = redis.Redis(port=redis_port)
        self.proxy = redis.Redis(port=proxy_port)
        self.proxy_url = f"redis://127.0.0.1:{proxy_port}"
        self.redis_url = f"redis://127.0.0.1:{redis_port}"

    def fill(self):
        """Fills redis (directly) until it refuses even a small write with OOM. A big write can
        be refused while its own query buffer counts against maxmemory, and a small one then
        still fits: the payload shrinks until nothing fits."""
        size, i = 8192, 0
        while i < 100000:
            try:
                self.direct.set(f"fill:{i}", b"f" * size)
                i += 1
            except redis.exceptions.OutOfMemoryError:
                if size <= 8:
                    break
                size //= 4
        try:
            self.direct.set("fill:probe", "x")
        except redis.exceptions.OutOfMemoryError:
            pass
        else:
            raise AssertionError("redis still accepts writes after the fill")
        # Idle clients' buffers shrink a little later (redis's clientsCron) and would let a few
        # writes in again: the limit goes a margin below what redis now holds, so it stays full.
        used = self.direct.info("memory")["used_memory"]
        self.direct.config_set("maxmemory", max(1, used - 256 * 1024))

    def empty(self):
        """Flushes redis and gives it ROOM bytes above what it uses now. The server starts with
        `--maxmemory 2mb`, but every open client connection costs redis memory too (the proxy
        opens one upstream connection per client), so a fixed 2 MB would leave a test that runs
        after many others with little room; the room is what the tests get."""
        self.direct.flushall()
        used = self.direct.info("memory")["used_memory"]
        self.direct.config_set("maxmemory", used + ROOM)


@pytest.fixture(scope="session")
def stack():
    spillway = Path(os.environ.get("SPILLWAY_BIN", ROOT / ".build" / "debug" / "spillway"))
    if not spillway.is_file():
        pytest.fail(f"{spillway} is missing: build the package first (swift build), then run scripts/test.sh", pytrace=False)
    redis_server = shutil.which(os.environ.get("SPILLWAY_REDIS_SERVER", "redis-server"))
    if redis_server is None:
        pytest.fail("redis-server is missing: scripts/deps.sh redis-server", pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="spillway-proxy-py-"))
    (workdir / "spillway.yml").write_text(POLICIES)
    processes = []
    try:
        redis_port = free_port()
        server = subprocess.Popen(
            [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--maxmemory", "2mb", "--maxmemory-policy", "noeviction", "--dir", str(workdir)],
            stdout=open(workdir / "redis.log", "w"), stderr=subprocess.STDOUT,
        )
        processes.append(server)
        wait_for(redis_port, server, "redis-server")
        proxy_port, status_port = free_port(), free_port()
        proxy = subprocess.Popen(
            [str(spillway), "proxy", "--listen", f"127.0.0.1:{proxy_port}", "--upstream", f"redis://127.0.0.1:{redis_port}",
             "--policies", str(workdir / "spillway.yml"), "--blob-dir", str(workdir / "blobs"), "--status-port", str(status_port)],
            stdout=open(workdir / "proxy.log", "w"), stderr=subprocess.STDOUT,
            env={**os.environ, "SPILLWAY_KEY_SECRET": "proxy-python-tests"},
        )
        processes.append(proxy)
        wait_for(proxy_port, proxy, "spillway proxy")
        yield Stack(spillway, redis_port, proxy_port, status_port, workdir)
        # The proxy stops gracefully on SIGTERM.
        proxy.terminate()
        assert proxy.wait(timeout=20) == 0, (workdir / "proxy.log").read_text()[-2000:]
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture()
def clean(stack):
    """An empty redis with room, before and after the test."""
    stack.empty()
    yield stack
    stack.empty()


def upstream_keys(stack, pattern="*"):
    return [k for k in stack.direct.scan_iter(match=pattern, count=1000)]
