"""Client side of the Celery anchor: enqueues tasks with Celery's own client and waits for results.

Run by bench/run.ts with /usr/bin/python3; every command prints one JSON object on stdout.

  enqueue   --queue Q --n N [--task noop] [--ids-out F]   one by one with apply_async (Celery has no
                                                          batched publish: group() still publishes one
                                                          message at a time and adds a group result)
  wait      --ids F [--timeout S]                         waits for every result, reads date_done
  run       --queue Q --n N --task T [--urls F]           enqueue + wait (feeds, in-flight)
  roundtrip --queue Q --n N [--warmup W]                  sequential apply_async().get()
  purge     --queue Q                                     Redis: deletes the queue's keys; RabbitMQ:
                                                          purges, then deletes the queue and its exchange

Results (always in Redis, BENCH_BACKEND_URL) are awaited by polling ``EXISTS`` on
``celery-task-meta-<id>`` in chunks (cheap, in order), then read once with ``MGET`` for
``status``/``date_done``; the keys are deleted afterwards.
"""

import argparse
import json
import sys
import time
from datetime import datetime, timezone

import redis

from celery_app import BACKEND_URL, BROKER_URL, app

PREFIX = "celery-task-meta-"
CHUNK = 500


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def to_epoch(text):
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    d = datetime.fromisoformat(text)
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def enqueue(queue, n, task_name, args_list=None):
    task = app.tasks[task_name]
    ids = []
    t0 = time.time()
    p0 = time.perf_counter()
    for i in range(n):
        args = [args_list[i]] if args_list is not None else []
        ids.append(task.apply_async(args, queue=queue).id)
    return ids, time.perf_counter() - p0, t0


def wait(ids, timeout):
    r = redis.Redis.from_url(BACKEND_URL)
    deadline = time.time() + timeout
    idx = 0
    while idx < len(ids):
        chunk = ids[idx : idx + CHUNK]
        if r.exists(*[PREFIX + i for i in chunk]) == len(chunk):
            idx += len(chunk)
            continue
        if time.time() > deadline:
            raise SystemExit("timed out: %d of %d results" % (idx, len(ids)))
        time.sleep(0.02)
    end = time.time()
    first = last = None
    failed = 0
    sample = None
    for k in range(0, len(ids), 1000):
        keys = [PREFIX + i for i in ids[k : k + 1000]]
        for raw in r.mget(keys):
            meta = json.loads(raw)
            if meta.get("status") != "SUCCESS":
                failed += 1
            if sample is None:
                sample = meta.get("result")
            done = to_epoch(meta["date_done"])
            first = done if first is None or done < first else first
            last = done if last is None or done > last else last
        r.delete(*keys)
    r.close()
    return {"end": end, "first_done": first, "last_done": last, "failed": failed, "sample": sample}


def purge(queue):
    if BROKER_URL.startswith("amqp"):
        return purge_amqp(queue)
    r = redis.Redis.from_url(BROKER_URL)
    keys = [queue] + [k for k in r.scan_iter(match=queue + "\x06\x16*")] + ["_kombu.binding." + queue]
    removed = r.delete(*keys)
    r.close()
    return removed


def purge_amqp(queue):
    """Purge through kombu, then delete the queue and its direct exchange (Celery declared both durable,
    so each case would otherwise leave them on the server)."""
    with app.connection_for_write() as conn:
        channel = conn.channel()
        try:
            removed = channel.queue_purge(queue) or 0
        except conn.channel_errors:  # NOT_FOUND: nothing was ever published there; the channel is closed
            removed = 0
            channel = conn.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(queue)
        channel.close()
    return removed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("--queue")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--task", default="noop")
    ap.add_argument("--mode", default="one", choices=["one"])  # Celery has no batched publish
    ap.add_argument("--ids")
    ap.add_argument("--ids-out")
    ap.add_argument("--urls")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=600)
    a = ap.parse_args()
    task_name = "bench." + a.task

    if a.cmd == "enqueue":
        ids, secs, _t0 = enqueue(a.queue, a.n, task_name)
        if a.ids_out:
            with open(a.ids_out, "w") as f:
                json.dump(ids, f)
        out({"n": a.n, "seconds": secs, "rate": a.n / secs})
    elif a.cmd == "wait":
        with open(a.ids) as f:
            ids = json.load(f)
        res = wait(ids, a.timeout)
        res["n"] = len(ids)
        out(res)
    elif a.cmd == "run":
        urls = None
        if a.urls:
            with open(a.urls) as f:
                urls = json.load(f)
            a.n = len(urls)
        ids, secs, t0 = enqueue(a.queue, a.n, task_name, urls)
        res = wait(ids, a.timeout)
        res.update({"n": a.n, "start": t0, "enqueue_seconds": secs, "wall": res["end"] - t0})
        out(res)
    elif a.cmd == "roundtrip":
        task = app.tasks[task_name]
        lat = []
        ids = []
        for i in range(a.warmup + a.n):
            p0 = time.perf_counter()
            res = task.apply_async(queue=a.queue)
            res.get(timeout=30)
            if i >= a.warmup:
                lat.append((time.perf_counter() - p0) * 1000.0)
            ids.append(res.id)
        r = redis.Redis.from_url(BACKEND_URL)
        r.delete(*[PREFIX + i for i in ids])
        r.close()
        out({"n": a.n, "latencies_ms": lat})
    elif a.cmd == "purge":
        out({"removed": purge(a.queue)})
    else:
        raise SystemExit("unknown command " + a.cmd)


if __name__ == "__main__":
    main()
