/**
 * The worker's start-up banner (Celery's): who is starting, where it connects, how it runs and which
 * tasks it knows. It goes to stderr at every log level, always the same text, so a person can check at a
 * glance that the worker found their tasks and the broker they meant. Passwords in URLs are masked as
 * Celery does (`redis://:**@host`). Its last line is the ready line (`… ready: pool=… queues=…`), which
 * scripts and the examples wait for.
 */
import type { App } from '../app/app.js';
import type { Worker } from '../worker/worker.js';

/** `redis://:secret@host/0` → `redis://:**@host/0`; anything that is not a URL is shown as it is. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '**';
    return u.toString();
  } catch {
    return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1**@');
  }
}

function poolLine(name: string | undefined, concurrency: number | undefined): string {
  return `${name ?? '?'} (concurrency ${concurrency ?? '?'})`;
}

export function workerBanner(
  app: App,
  worker: Worker,
  o: { version: string; appModule: string; beat: boolean },
): string {
  const tasks = [...app.tasks.keys()].filter((n) => !n.startsWith('celery.')).sort();
  const backend = app.conf.resultBackend ?? `${app.conf.brokerUrl} (the broker's store)`;
  const cpu = worker.cpuPool
    ? `; CPU pool ${poolLine(worker.cpuPool.implementation, worker.cpuPool.concurrency)}`
    : '';
  const lines = [
    `celeriac v${o.version} ${worker.hostname}`,
    '[config]',
    `  .> app:         ${o.appModule}`,
    `  .> transport:   ${maskUrl(app.conf.brokerUrl)}`,
    `  .> results:     ${maskUrl(backend)}`,
    `  .> pool:        ${poolLine(worker.pool?.implementation, worker.pool?.concurrency)}${cpu}`,
    `  .> queues:      ${worker.queues.join(', ')}`,
    ...(o.beat ? ['  .> beat:        on (embedded)'] : []),
    '[tasks]',
    ...(tasks.length ? tasks.map((t) => `  . ${t}`) : ['  (none: the app module defines no tasks)']),
    `celeriac ${worker.hostname} ready: pool=${worker.pool?.implementation} concurrency=${worker.pool?.concurrency}${worker.cpuPool ? ` cpu-pool=${worker.cpuPool.implementation}:${worker.cpuPool.concurrency}` : ''} queues=${worker.queues.join(',')}${o.beat ? ' beat=on' : ''}`,
  ];
  return `${lines.join('\n')}\n`;
}
