"""redis-py through `spillway proxy`: the protocol survives the proxy, and the guards apply."""

import hashlib
import os
import json
import subprocess
import threading
import time
import urllib.request

import pytest
import redis

from conftest import MAX_KEY_BYTES, upstream_keys


def test_plain_commands_and_pipelines(clean):
    r = clean.proxy
    assert r.ping()
    assert r.set("a", "1") and r.get("a") == b"1"
    assert r.incr("n") == 1 and r.hset("h", mapping={"f": "v"}) == 1 and r.hgetall("h") == {b"f": b"v"}
    with r.pipeline(transaction=False) as p:
        for i in range(100):
            p.set(f"k{i}", i)
            p.get(f"k{i}")
        replies = p.execute()
    assert replies == [x for i in range(100) for x in (True, str(i).encode())]


def test_transactions_and_watch(clean):
    r = clean.proxy
    with r.pipeline() as p:
        p.incr("t").incr("t").get("t")
        assert p.execute() == [1, 2, b"2"]
    other = redis.Redis(port=clean.proxy_port)
    with r.pipeline() as p:
        p.watch("w")
        other.set("w", "changed")
        p.multi()
        p.set("w", "mine")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("w") == b"changed"


def test_blocking_pop_with_a_hashed_key_names_the_clients_key(clean):
    r = clean.proxy
    queue = "queue:" + "j" * 1000
    threading.Timer(0.2, lambda: redis.Redis(port=clean.proxy_port).rpush(queue, "job")).start()
    assert r.blpop([queue], timeout=5) == (queue.encode(), b"job")
    assert r.brpop(["empty"], timeout=1) is None


def test_pub_sub(clean):
    p = clean.proxy.pubsub()
    p.subscribe("news")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    assert clean.proxy.publish("news", "hello") == 1
    message = p.get_message(timeout=2)
    assert message["type"] == "message" and message["data"] == b"hello"
    p.close()


def test_ten_kilobyte_keys_arrive_hashed_and_round_trip(clean):
    r = clean.proxy
    key = "throttle_" + "x" * 10 * 1024
    assert r.set(key, "history", ex=60)
    assert r.get(key) == b"history" and r.ttl(key) > 0 and r.exists(key) == 1
    stored = upstream_keys(clean, "throttle_*")
    assert len(stored) == 1 and len(stored[0]) <= MAX_KEY_BYTES and b"#v1:" in stored[0]
    assert clean.direct.strlen(stored[0]) == 7
    # Lua scripts see the hashed key through KEYS.
    assert r.eval("return redis.call('GET', KEYS[1])", 1, key) == b"history"
    assert r.delete(key) == 1 and upstream_keys(clean, "throttle_*") == []


def test_lock_with_a_ten_kilobyte_name(clean):
    lock = clean.proxy.lock("lock:" + "l" * 10 * 1024, timeout=10)
    assert lock.acquire(blocking=False)
    assert not clean.proxy.lock("lock:" + "l" * 10 * 1024).acquire(blocking=False)
    lock.release()
    assert all(len(k) <= MAX_KEY_BYTES for k in upstream_keys(clean))


def test_one_megabyte_values_round_trip_byte_for_byte(clean):
    r = clean.proxy
    values = {f"blob:{i}": os.urandom(1 << 20) for i in range(3)}
    for key, value in values.items():
        assert r.set(key, value)
    for key, value in values.items():
        got = r.get(key)
        assert hashlib.sha256(got).digest() == hashlib.sha256(value).digest()
        assert clean.direct.strlen(key) < 200  # redis holds a pointer, not the megabyte
    assert r.mget(list(values)) == list(values.values())
    assert r.getdel("blob:0") == values["blob:0"] and r.get("blob:0") is None


def test_oom_sheds_cache_writes_refuses_locks_and_reads_flow(clean):
    r = clean.proxy
    r.set("before", "kept")
    clean.fill()
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        clean.direct.set("direct", "x")
    assert r.set("cache:x", "y", ex=10) is True  # shed: answered OK, counted
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        r.set("lock:x", "y", nx=True, px=1000)  # a lock never pretends
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        r.incr("counter")
    assert r.get("before") == b"kept"
    status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{clean.status_port}/", timeout=5))
    assert status["writes_shed"] >= 1 and status["oom_passed"] >= 1
    # The same counters from the command line: `spillway proxy status --json`.
    printed = subprocess.run(
        [str(clean.spillway), "proxy", "status", "--port", str(clean.status_port), "--json"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    assert json.loads(printed)["writes_shed"] >= status["writes_shed"]


def test_proxy_status_without_a_proxy_exits_1(stack):
    from conftest import free_port

    done = subprocess.run([str(stack.spillway), "proxy", "status", "--port", str(free_port())], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "no proxy status" in done.stderr


def test_scan_and_keys_show_hashed_names_a_documented_limitation(clean):
    """Hashes cannot be reversed: SCAN and KEYS through the proxy name the upstream's (hashed)
    keys, with the readable prefix kept, so `SCAN MATCH throttle_*` still finds them."""
    r = clean.proxy
    key = "throttle_" + "k" * 10 * 1024
    r.set(key, "v")
    scanned = list(r.scan_iter(match="throttle_*", count=1000))
    assert scanned == upstream_keys(clean, "throttle_*") and len(scanned) == 1
    assert scanned[0] != key.encode() and len(scanned[0]) <= MAX_KEY_BYTES
    assert r.keys("throttle_*") == scanned
    # The hashed name is not a name a client can use: shaped like a hashed key, it is hashed again.
    assert r.get(scanned[0]) is None
    assert r.get(key) == b"v"


def test_garbage_gets_an_error_and_a_closed_connection(stack):
    import socket

    with socket.create_connection(("127.0.0.1", stack.proxy_port), timeout=5) as s:
        s.sendall(b"*1\r\n$4\r\nPING\r\n*x\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"+PONG\r\n-ERR") and data.endswith(b"\r\n")
    assert stack.proxy.ping()


def test_resp3_clients_speak_resp3_through_the_proxy(clean):
    r = redis.Redis(port=clean.proxy_port, protocol=3)
    assert r.client_info()["resp"] == "3"  # HELLO 3 passed through
    assert r.set("k", "v") and r.get("k") == b"v"
    r.hset("h", mapping={"a": "1"})
    assert r.hgetall("h") == {b"a": b"1"}
    assert r.zadd("z", {"m": 1.5}) == 1 and r.zscore("z", "m") == 1.5
    big = os.urandom(300 * 1024)
    assert r.set("big3", big) and r.get("big3") == big
    p = r.pubsub()
    p.subscribe("resp3")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    assert r.publish("resp3", "pushed") == 1
    message = p.get_message(timeout=2)
    assert message["type"] == "message" and message["data"] == b"pushed"
    p.close()
