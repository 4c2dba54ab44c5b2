#!/usr/bin/env bash
# Installs the benchmark anchors; idempotent (does nothing when they are present).
# - Python Celery 5.2 and its pools from Debian (run with /usr/bin/python3: the python3 on PATH may lack them)
# - BullMQ (and the Node fetch stack it runs) from npm, into bench/anchors/node_modules only: a bench-only
#   package, not a dependency of the library. `npm install`, not `npm ci`, for the same reason as .ci/run
#   (the registry here serves only linux-x64 platform builds, which `npm ci` rejects as lock drift).
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

if ! /usr/bin/python3 -c 'import celery, eventlet, gevent, redis, requests' 2>/dev/null; then
  echo "bench/anchors: installing python3-celery python3-eventlet python3-gevent python3-redis python3-requests" >&2
  apt-get update -qq
  apt-get install -y -qq python3-celery python3-eventlet python3-gevent python3-redis python3-requests >/dev/null
fi

if [ ! -f node_modules/bullmq/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bench/anchors: npm install (bullmq)" >&2
  npm install --no-audit --no-fund --loglevel=error >&2
fi
