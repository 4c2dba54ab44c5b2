"""The no-queue ceiling in Python: the Celery task code (requests + ElementTree, feed.py) run on an eventlet
GreenPool of the same size as the worker's -c, with no queue at all.

  /usr/bin/python3 noqueue_eventlet.py --urls F --concurrency 1000 [--warmup 50]

Prints {n, wall, cpu_s, failed} for the measured run only (after a warm-up).
"""

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from feed import fetch_feed  # noqa: E402


def run_all(urls, concurrency):
    pool = eventlet.GreenPool(concurrency)
    failed = 0

    def one(url):
        try:
            fetch_feed(url)
            return True
        except Exception:
            return False

    for ok in pool.imap(one, urls):
        if not ok:
            failed += 1
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--urls", required=True)
    ap.add_argument("--concurrency", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    a = ap.parse_args()
    with open(a.urls) as f:
        urls = json.load(f)
    run_all(urls[: a.warmup], a.concurrency)
    c0 = time.process_time()
    t0 = time.perf_counter()
    failed = run_all(urls, a.concurrency)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    sys.stdout.write(json.dumps({"n": len(urls), "wall": wall, "cpu_s": cpu, "failed": failed}) + "\n")


if __name__ == "__main__":
    main()
