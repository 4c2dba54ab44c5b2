/**
 * The inspect commands that read the worker (Celery's celery/worker/control.py, same names, arguments
 * and reply shapes; celery-wire.md §6.4): ping, stats, active, reserved, scheduled, registered,
 * active_queues, query_task, conf, clock, report. They only read; the control commands that change the
 * worker are in manage.ts, and those owned by middleware (rate_limit, revoke, enable_events …) in the
 * middleware's own `control` map.
 */
import { readFileSync } from 'node:fs';
import { arch, platform, release } from 'node:os';
import { settingDefaults } from '../../app/config.js';
import type { ControlHandler, TaskRun } from '../../middleware/middleware.js';
import type { AnyTask } from '../../task/task.js';
import { brokerInfo, maskUrl, queueDict, requestInfo, safeInfo, scheduledInfo } from './info.js';
import type { ControlTarget } from './target.js';

const ok = (value: unknown) => ({ ok: value });

const pkgVersion = (): string => {
  try {
    const url = new URL('../../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
};

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Python's str() of a task attribute, for `registered`'s "name [attr=value]". */
function pyStr(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
}

/** kombu's table(): the settings that differ from the defaults (or all), in Celery's snake_case. */
function confTable(t: ControlTarget, withDefaults: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const defaults = settingDefaults as Record<string, unknown>;
  for (const [k, v] of Object.entries(t.conf)) {
    if (!withDefaults && JSON.stringify(v) === JSON.stringify(defaults[k])) continue;
    out[snake(k)] = typeof v === 'string' && /url|backend/i.test(k) ? maskUrl(v) : v;
  }
  return out;
}

function rusage(): Record<string, number> {
  const r = process.resourceUsage();
  return {
    utime: r.userCPUTime / 1e6,
    stime: r.systemCPUTime / 1e6,
    maxrss: r.maxRSS,
    ixrss: r.sharedMemorySize,
    idrss: r.unsharedDataSize,
    isrss: r.unsharedStackSize,
    minflt: r.minorPageFault,
    majflt: r.majorPageFault,
    nswap: r.swappedOut,
    inblock: r.fsRead,
    oublock: r.fsWrite,
    msgsnd: r.ipcSent,
    msgrcv: r.ipcReceived,
    nsignals: r.signalsCount,
    nvcsw: r.voluntaryContextSwitches,
    nivcsw: r.involuntaryContextSwitches,
  };
}

/** Celery's `stats`, with the pool and broker sections Flower reads. */
function stats(t: ControlTarget): Record<string, unknown> {
  const s = t.stats();
  const [main] = t.pools();
  const soft = t.conf.taskSoftTimeLimit;
  const hard = t.conf.taskTimeLimit;
  const pool = {
    'max-tasks-per-child': null,
    'put-guarded-by-semaphore': false,
    timeouts: soft || hard ? [soft ?? 0, hard ?? 0] : [],
    ...(s.pool as Record<string, unknown> | undefined),
  };
  const { autoscaler: _scalers, ...rest } = s;
  return {
    ...rest,
    clock: String(t.clock.value),
    pool,
    ...(main?.autoscaler ? { autoscaler: main.autoscaler.stats() } : {}),
    broker: brokerInfo(t.conf.brokerUrl, t.broker, t.conf.brokerTransportOptions),
    rusage: rusage(),
  };
}

/** `registered`: sorted names (celery.* builtins only with `builtins`), with the asked attributes. */
function registered(t: ControlTarget, items: unknown, builtins: unknown): string[] {
  const fields =
    Array.isArray(items) && items.length ? items.map(String) : ['exchange', 'routing_key', 'rate_limit'];
  const names = [...t.tasks.keys()].filter((n) => builtins === true || !n.startsWith('celery.')).sort();
  return names.map((name) => {
    const task = t.tasks.get(name) as AnyTask;
    const opts = task.options as Record<string, unknown>;
    const parts: string[] = [];
    for (const f of fields) {
      const v = opts[camel(f)];
      if (v !== undefined && v !== null) parts.push(`${f}=${pyStr(v)}`);
    }
    return parts.length ? `${name} [${parts.join(' ')}]` : name;
  });
}

function report(t: ControlTarget): string {
  const conf = confTable(t, false);
  const lines = Object.entries(conf).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return [
    '',
    `software -> celeriac:${pkgVersion()} node:${process.version}`,
    `platform -> system:${platform()} arch:${arch()} kernel version:${release()}`,
    `settings -> transport:${t.broker.transport} results:${maskUrl(t.conf.resultBackend ?? t.conf.brokerUrl)}`,
    '',
    ...lines,
    '',
  ].join('\n');
}

export function inspectCommands(t: ControlTarget): Record<string, ControlHandler> {
  const info = (run: TaskRun) => requestInfo(t.hostname, run);
  return {
    ping: () => ok('pong'),
    stats: () => stats(t),
    clock: () => ({ clock: t.clock.value }),
    active: (a) =>
      t.inventory().active.map((h) => {
        const i = requestInfo(t.hostname, h.run, h);
        return a.safe ? safeInfo(i, h.run) : i;
      }),
    reserved: () => t.inventory().reserved.map(info),
    scheduled: () => t.inventory().scheduled.map((r) => scheduledInfo(t.hostname, r)),
    registered: (a) => registered(t, a.taskinfoitems, a.builtins),
    active_queues: () => t.queues().map(queueDict),
    query_task: (a) => {
      const ids = new Set(
        Array.isArray(a.ids) ? a.ids.map(String) : typeof a.ids === 'string' ? [a.ids] : [],
      );
      const out: Record<string, [string, Record<string, unknown>]> = {};
      const inv = t.inventory();
      for (const h of inv.active)
        if (ids.has(h.run.request.id)) out[h.run.request.id] = ['active', requestInfo(t.hostname, h.run, h)];
      for (const r of [...inv.reserved, ...inv.scheduled])
        if (ids.has(r.request.id)) out[r.request.id] = ['reserved', info(r)];
      return out;
    },
    conf: (a) => confTable(t, a.with_defaults === true || a.with_defaults === 'true'),
    report: () => ok(report(t)),
  };
}
