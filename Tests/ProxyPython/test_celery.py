"""Celery with its redis broker and result backend through `spillway proxy`: a real worker (not
eager mode) runs 200 tasks on 8 threads that take the incident's lock keys (built from a ~10 KB payload), and
their results come back through the result backend's pub/sub."""

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker

from conftest import MAX_KEY_BYTES, upstream_keys

TASKS = 200
# Each message carries its ~10 KB payload into the broker's list (the incident's root cause,
# which a proxy cannot shrink: list elements are not keys): sent in batches, to fit 2 MB.
BATCH = 25
# Worker threads: the tasks of a batch run side by side (each on its own proxied connections),
# which keeps the 200 tasks to a few seconds.
THREADS = 8


@pytest.fixture(scope="module")
def app(stack):
    app = Celery("proxy_tests", broker=stack.proxy_url + "/0", backend=stack.proxy_url + "/1")
    app.conf.update(broker_connection_retry_on_startup=True, task_serializer="json", result_serializer="json", result_expires=300)
    lock_client = redis.Redis(port=stack.proxy_port, db=2)

    @app.task(name="proxy_tests.process")
    def process(sale_orders):
        # The incident's base task: two lock keys named after the raw input.
        base_task_id = "sale_orders:" + sale_orders
        lock_client.set(f"{base_task_id}-first_task_at", "0", ex=60, nx=True)
        count = lock_client.incr(f"{base_task_id}-count_tasks")
        lock_client.expire(f"{base_task_id}-count_tasks", 60)
        return {"length": len(sale_orders), "count": count}

    app.process = process
    return app


def test_tasks_round_trip_through_a_real_worker(app, clean):
    with start_worker(app, pool="threads", concurrency=THREADS, perform_ping_check=False, shutdown_timeout=10):
        replies = []
        for start in range(0, TASKS, BATCH):
            results = [app.process.delay(f"{i:04d}" + "o" * 10 * 1024) for i in range(start, start + BATCH)]
            replies += [r.get(timeout=30) for r in results]
    assert [r["length"] for r in replies] == [4 + 10 * 1024] * TASKS
    assert all(r["count"] == 1 for r in replies)
    locks = [k for k in redis.Redis(port=clean.redis_port, db=2).scan_iter(count=1000)]
    assert len(locks) == 2 * TASKS
    assert all(len(k) <= MAX_KEY_BYTES for k in locks)
