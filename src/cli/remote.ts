/**
 * What `celeriac inspect`, `control`, `status` and `revoke` share: Celery's command-line argument
 * tables for each remote-control method (celery/worker/control.py's Panel meta: positional arguments
 * with their types, and the variadic rest), the `-d/-t/-j` options, and Celery's output
 * (celery/bin/base.py): one `->  <node>: OK` (or ERROR) line per reply as it arrives, the reply
 * pretty-printed under it (a list as `* item` lines, `{ok: …}` unwrapped, other objects as sorted JSON),
 * then `N nodes online.` for inspect; with `-j`, the replies as one JSON document instead. Nobody
 * replying prints "Error: No nodes replied within time constraint" and exits 69 (EX_UNAVAILABLE), as
 * Celery does.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { NodeReply } from '../control/client.js';
import { CeleriacError } from '../errors.js';
import { pyRepr } from '../protocol/repr.js';

/** A usage error found inside an action: main() prints "Error: …" and exits 2. */
export const usage = (message: string) => new CeleriacError('E_USAGE', message);

type ArgType = 'str' | 'int' | 'float' | 'bool';
export interface CommandMeta {
  readonly args?: readonly (readonly [string, ArgType])[];
  readonly variadic?: string;
  readonly signature?: string;
}

export const INSPECT_COMMANDS: Readonly<Record<string, CommandMeta>> = {
  active: {},
  active_queues: {},
  clock: {},
  conf: { args: [['with_defaults', 'bool']], signature: '[include_defaults=False]' },
  ping: {},
  query_task: { variadic: 'ids', signature: '[id1 [id2 [... [idN]]]]' },
  registered: { variadic: 'taskinfoitems', signature: '[attr1 [attr2 [... [attrN]]]]' },
  report: {},
  reserved: {},
  revoked: {},
  scheduled: {},
  stats: {},
};

export const CONTROL_COMMANDS: Readonly<Record<string, CommandMeta>> = {
  add_consumer: {
    args: [
      ['queue', 'str'],
      ['exchange', 'str'],
      ['exchange_type', 'str'],
      ['routing_key', 'str'],
    ],
    signature: '<queue> [exchange [type [routing_key]]]',
  },
  autoscale: {
    args: [
      ['max', 'int'],
      ['min', 'int'],
    ],
    signature: '[max [min]]',
  },
  cancel_consumer: { args: [['queue', 'str']], signature: '<queue>' },
  disable_events: {},
  enable_events: {},
  heartbeat: {},
  pool_grow: { args: [['n', 'int']], signature: '[N=1]' },
  pool_shrink: { args: [['n', 'int']], signature: '[N=1]' },
  rate_limit: {
    args: [
      ['task_name', 'str'],
      ['rate_limit', 'str'],
    ],
    signature: '<task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>',
  },
  revoke: { variadic: 'task_id', signature: '[id1 [id2 [... [idN]]]]' },
  shutdown: {},
  terminate: {
    args: [['signal', 'str']],
    variadic: 'task_id',
    signature: '<signal> [id1 [id2 [... [idN]]]]',
  },
  time_limit: {
    args: [
      ['task_name', 'str'],
      ['soft', 'float'],
      ['hard', 'float'],
    ],
    signature: '<task_name> <soft_secs> [hard_secs]',
  },
};

function convert(method: string, name: string, type: ArgType, v: string): unknown {
  if (type === 'str') return v;
  if (type === 'bool') {
    if (/^(y|yes|t|true|on|1)$/i.test(v)) return true;
    if (/^(n|no|f|false|off|0)$/i.test(v)) return false;
    throw usage(`${method}: ${name} must be true or false, got "${v}"`);
  }
  const n = Number(v);
  if (!Number.isFinite(n) || (type === 'int' && !Number.isInteger(n)))
    throw usage(`${method}: ${name} must be ${type === 'int' ? 'a whole number' : 'a number'}, got "${v}"`);
  return n;
}

/** Celery's _compile_arguments: positional arguments by the method's table, the rest as its variadic. */
export function compileArguments(
  method: string,
  meta: CommandMeta,
  given: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const args = meta.args ?? [];
  let i = 0;
  for (; i < given.length && i < args.length; i++) {
    const [name, type] = args[i] as readonly [string, ArgType];
    out[name] = convert(method, name, type, given[i] as string);
  }
  const rest = given.slice(i);
  if (meta.variadic) out[meta.variadic] = rest;
  else if (rest.length) throw usage(`Command '${method}' takes arguments: ${meta.signature ?? '(none)'}`);
  return out;
}

const indent = (text: string, n: number) =>
  text
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

function sortedJson(v: unknown): string {
  const sort = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sort)
      : x && typeof x === 'object'
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, sort((x as Record<string, unknown>)[k])]),
          )
        : x;
  return JSON.stringify(sort(v), null, 4);
}

/** celery/bin/base.py's pretty(): [status, text]. */
export function pretty(n: unknown): ['OK' | 'ERROR', string] {
  if (Array.isArray(n))
    return [
      'OK',
      n.length
        ? n.map((item) => `* ${typeof item === 'string' ? item : pyRepr(item)}`).join('\n')
        : '- empty -',
    ];
  if (n && typeof n === 'object') {
    const o = n as Record<string, unknown>;
    if ('ok' in o) return ['OK', indent(pretty(o.ok)[1], 4)];
    if ('error' in o) return ['ERROR', indent(pretty(o.error)[1], 4)];
    return ['OK', sortedJson(n)];
  }
  if (typeof n === 'string') return ['OK', n];
  return ['OK', pyRepr(n)];
}

/** One reply as Celery prints it: `->  node: OK`, then the reply indented (when `body`). */
export function sayReply(reply: NodeReply, body: boolean): string {
  const [node] = Object.keys(reply);
  if (node === undefined) return '';
  const [status, text] = pretty(reply[node]);
  return `->  ${node}: ${status}\n${body ? `${indent(text, 4)}\n` : ''}`;
}

export interface RemoteOptions {
  destination?: string;
  timeout: number;
  json?: boolean;
}

/** Add Celery's remote-control options to a command. */
export function remoteOptions(cmd: Command): Command {
  return cmd
    .option(
      '-t, --timeout <seconds>',
      'timeout in seconds waiting for replies',
      (v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0)
          throw new InvalidArgumentError('--timeout must be a number of seconds > 0');
        return n;
      },
      1,
    )
    .option('-d, --destination <nodes>', 'comma-separated list of destination node names')
    .option('-j, --json', 'use JSON as output format');
}

export const destinations = (o: RemoteOptions): string[] | null =>
  o.destination
    ? o.destination
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : null;

/** Nobody answered: Celery's message and exit status. */
export function noReplies(): void {
  process.stderr.write('Error: No nodes replied within time constraint\n');
  process.exitCode = 69;
}

export const nodesOnline = (n: number) => `\n${n} ${n === 1 ? 'node' : 'nodes'} online.\n`;
