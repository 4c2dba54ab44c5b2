/**
 * Celery's event model, shared by the dispatcher, the receiver and the State: what an event is (a flat
 * JSON object whose `type` is `<group>-<subject>`), the exchange it travels on, its routing key, and the
 * small facts every event carries (celery-wire.md §5). Pure but for reading the time zone and load.
 *
 * - Exchange: `celeryev` (`eventExchange`), topic and durable on AMQP; kombu turns it into a fanout on
 *   Redis (Celery's get_exchange), where the routing key still travels in the channel name, so binding
 *   keys filter there too (the broadcast contract says so for fanout with a non-empty binding).
 * - Routing key: the type with '-' → '.' (`task-succeeded` → `task.succeeded`); a batch of task events
 *   is one JSON list under `task.multi`.
 * - `utcoffset`: hours WEST of UTC, floor-divided, DST included (celery.utils.time.utcoffset:
 *   `time.altzone // 3600` in DST, else `time.timezone // 3600`); `getTimezoneOffset()` counts minutes
 *   west with DST applied, so it is `Math.floor(offset / 60)`.
 */
import { readFileSync } from 'node:fs';
import { loadavg, type as osType } from 'node:os';
import type { Exchange } from '../brokers/broadcast.js';

/** One event as it travels: Celery's field names (snake_case), so Python receivers and Flower read it. */
export interface CeleryEvent {
  type: string;
  hostname: string;
  timestamp: number;
  clock?: number;
  utcoffset?: number;
  pid?: number;
  /** Set by a receiver: when it got the event (epoch seconds). */
  local_received?: number;
  [field: string]: unknown;
}

/** The events exchange for a broker of `transport`: fanout on Redis (as kombu), topic elsewhere. */
export function eventExchange(transport: string, name = 'celeryev'): Exchange {
  return { name, type: transport.startsWith('redis') ? 'fanout' : 'topic', durable: true };
}

/** `task-succeeded` → `task.succeeded`. */
export function routingKeyOf(type: string): string {
  return type.replace(/-/g, '.');
}

/** Hours west of UTC now, as Python's celery.utils.time.utcoffset(). */
export function utcoffset(now: Date = new Date()): number {
  return Math.floor(now.getTimezoneOffset() / 60);
}

/**
 * Celery's adjust_timestamp: a sender's timestamp moved by the difference between its offset and ours.
 * Both sides normally send true epoch seconds, so with equal offsets nothing moves.
 */
export function adjustTimestamp(ts: number, offset: number, here: number = utcoffset()): number {
  return ts - (offset - here) * 3600;
}

/** celery.utils.sysinfo.load_average: the 1, 5 and 15 minute load, rounded up to 2 decimals. */
export function loadAverage(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = loadavg();
  const r = (n: number) => Math.ceil(n * 100) / 100;
  return [r(a), r(b), r(c)];
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** Celery's SOFTWARE_INFO: who sends the heartbeats (Flower shows it). */
export const SOFTWARE_INFO = Object.freeze({
  sw_ident: 'celeriac',
  sw_ver: pkg.version,
  // Python's platform.system() spells Windows without the _NT.
  sw_sys: osType() === 'Windows_NT' ? 'Windows' : osType(),
});

/** The group of a type: `task-sent` → `task` (celery.events.event.group_from). */
export function groupOf(type: string): string {
  const i = type.indexOf('-');
  return i < 0 ? type : type.slice(0, i);
}
