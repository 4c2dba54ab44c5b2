/**
 * `celeriac dead-letter list|show|requeue|purge`: look at what the workers dead-lettered
 * (middleware/dead-letter.ts says what each copy records), send messages back to the queue they came
 * from once the cause is fixed, or drop them. Works on every broker that keeps messages outside the
 * worker's process (sqlite, redis, amqp): it reads through the optional `Broker.browse`, which peeks
 * without consuming (Redis LRANGE, SQLite SELECT, AMQP basic.get held unacked until the snapshot closes).
 * Why an adapter rather than consume + ack of the dead-letter queue: a consume-based peek would have to
 * give every message back, which marks each one redelivered and, on Redis, reverses their order at every
 * `list`; and knowing when the queue has been read through is a timing guess on a consume loop.
 *
 * `requeue` publishes the copy (dead-letter headers stripped) and only then removes it from the
 * dead-letter queue: a crash in between leaves it in both (a duplicate), never in neither.
 */
import type { Command } from 'commander';
import type { App } from '../app/app.js';
import type { Broker, QueueSnapshot } from '../brokers/broker.js';
import { CeleriacError } from '../errors.js';
import { DEAD_HEADERS } from '../middleware/dead-letter.js';
import type { WireMessage } from '../protocol/message.js';
import { confirmed } from './confirm.js';

export interface DeadLetter {
  /** The task id, or the dead letter's own id when the message has none. */
  readonly id: string;
  readonly task: string | null;
  readonly reason: string;
  /** When it was dead-lettered (ISO-8601), when recorded. */
  readonly at: string | null;
  readonly fromQueue: string | null;
  /** Its body is the raw bytes of an envelope the transport could not decode. */
  readonly undecodable: boolean;
  readonly message: WireMessage;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);

export function describeDeadLetter(message: WireMessage): DeadLetter {
  const h = message.headers;
  return {
    id: str(h.id) ?? str(h[DEAD_HEADERS.id]) ?? '?',
    task: str(h.task),
    reason: str(h[DEAD_HEADERS.reason]) ?? '(no reason recorded)',
    at: str(h[DEAD_HEADERS.at]),
    fromQueue: str(h[DEAD_HEADERS.fromQueue]),
    undecodable: h[DEAD_HEADERS.undecodable] === true,
    message,
  };
}

const matches = (d: DeadLetter, id: string): boolean =>
  d.id === id || d.message.headers[DEAD_HEADERS.id] === id;

/** The message as it was before it was dead-lettered: the dead-letter headers removed. */
export function withoutDeadHeaders(message: WireMessage): WireMessage {
  const headers: Record<string, unknown> = { ...message.headers };
  for (const h of Object.values(DEAD_HEADERS)) delete headers[h];
  return { ...message, headers };
}

function browser(broker: Broker): (queue: string, limit: number) => Promise<QueueSnapshot> {
  const browse = broker.browse?.bind(broker);
  if (!browse) {
    throw new CeleriacError(
      'E_USAGE',
      `the ${broker.transport}:// broker cannot be browsed from another process (memory:// keeps its messages in the worker's process); dead letters can be listed on sqlite, redis and amqp`,
    );
  }
  return browse;
}

/** Up to `limit` dead letters, oldest first. */
export async function listDeadLetters(broker: Broker, queue: string, limit: number): Promise<DeadLetter[]> {
  const snap = await browser(broker)(queue, limit);
  try {
    return snap.messages.map(describeDeadLetter);
  } finally {
    await snap.close();
  }
}

export interface RequeueResult {
  requeued: DeadLetter[];
  /** Left in the dead-letter queue, with why. */
  skipped: Array<{ letter: DeadLetter; why: string }>;
}

/**
 * Send dead letters back to their queue (`to` overrides it): those with id `id`, or all when null.
 * Reads `batch` at a time until a read finds nothing more to requeue.
 */
export async function requeueDeadLetters(
  broker: Broker,
  queue: string,
  id: string | null,
  options: { to?: string; batch?: number } = {},
): Promise<RequeueResult> {
  const browse = browser(broker);
  const out: RequeueResult = { requeued: [], skipped: [] };
  const seen = new Set<string>();
  for (;;) {
    const snap = await browse(queue, options.batch ?? 1000);
    let moved = 0;
    try {
      const picked: number[] = [];
      for (const [i, m] of snap.messages.entries()) {
        const d = describeDeadLetter(m);
        if (id !== null && !matches(d, id)) continue;
        const key = String(m.headers[DEAD_HEADERS.id] ?? `${d.id}#${i}`);
        const target = options.to ?? d.fromQueue;
        const why = d.undecodable
          ? 'its envelope could not be decoded: repair it by hand (see `dead-letter show`)'
          : target
            ? null
            : 'it does not say which queue it came from: pass --to <queue>';
        if (why) {
          if (!seen.has(key)) out.skipped.push({ letter: d, why });
          seen.add(key);
          continue;
        }
        await broker.publish(target as string, withoutDeadHeaders(m));
        picked.push(i);
        out.requeued.push(d);
      }
      moved = await snap.remove(picked);
    } finally {
      await snap.close();
    }
    if (moved === 0 || id !== null) return out;
  }
}

function table(rows: DeadLetter[]): string {
  const cells = rows.map((d) => [d.id, d.task ?? '-', d.at ?? '-', d.fromQueue ?? '-', d.reason]);
  const head = ['ID', 'TASK', 'DEAD AT', 'FROM', 'REASON'];
  const widths = head.map((h, c) =>
    Math.min(48, Math.max(h.length, ...cells.map((r) => (r[c] ?? '').length))),
  );
  const line = (r: string[]) =>
    r.map((v, c) => (c === r.length - 1 ? v : v.slice(0, widths[c]).padEnd(widths[c] ?? 0))).join('  ');
  return `${[line(head), ...cells.map(line)].join('\n')}\n`;
}

/** The whole message, for `show`: the body as text when it is UTF-8, else base64. */
export function showable(d: DeadLetter): Record<string, unknown> {
  const text = d.message.body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(d.message.body);
  return {
    id: d.id,
    task: d.task,
    reason: d.reason,
    at: d.at,
    fromQueue: d.fromQueue,
    undecodable: d.undecodable,
    contentType: d.message.contentType,
    contentEncoding: d.message.contentEncoding,
    headers: d.message.headers,
    properties: d.message.properties,
    bodyEncoding: isText ? 'utf-8' : 'base64',
    body: isText ? text : d.message.body.toString('base64'),
  };
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export function addDeadLetterCommand(program: Command, appFor: (cmd: Command) => Promise<App>): void {
  const dl = program
    .command('dead-letter')
    .description('list, show, requeue or purge dead-lettered messages (workerDeadLetterQueue)');
  const withQueue = (c: Command) =>
    c
      .option('-A, --app <module>', 'module exporting the app')
      .option('--queue <name>', 'the dead-letter queue (default: the workerDeadLetterQueue setting)');
  async function open(cmd: Command): Promise<{ app: App; broker: Broker; queue: string }> {
    const app = await appFor(cmd);
    const given = (cmd.opts() as { queue?: string }).queue;
    const queue = given ?? app.conf.workerDeadLetterQueue;
    if (!queue) {
      await app.close();
      throw new CeleriacError(
        'E_USAGE',
        'workerDeadLetterQueue is null (dead-lettering is off): pass --queue <name>',
      );
    }
    return { app, broker: await app.broker(), queue };
  }
  const run =
    (fn: (ctx: { app: App; broker: Broker; queue: string }) => Promise<void>) => async (cmd: Command) => {
      const ctx = await open(cmd);
      try {
        await fn(ctx);
      } finally {
        await ctx.app.close();
      }
    };

  withQueue(dl.command('list').description('list dead letters: id, task, time, origin queue and reason'))
    .option('--limit <n>', 'at most this many (oldest first)', (v) => Number.parseInt(v, 10), 100)
    .option('--json', 'one JSON object per line instead of a table')
    .action((o: { limit: number; json?: boolean }, cmd: Command) =>
      run(async ({ broker, queue }) => {
        const letters = await listDeadLetters(broker, queue, o.limit);
        if (o.json) {
          for (const d of letters) {
            const { message: _m, ...row } = d;
            process.stdout.write(`${JSON.stringify(row)}\n`);
          }
        } else if (!letters.length) process.stdout.write(`No dead letters in ${queue}.\n`);
        else process.stdout.write(table(letters));
      })(cmd),
    );

  withQueue(
    dl.command('show <id>').description('print a dead letter whole (headers, properties, body) as JSON'),
  )
    .option('--limit <n>', 'look at most this many', (v) => Number.parseInt(v, 10), 10_000)
    .action((id: string, o: { limit: number }, cmd: Command) =>
      run(async ({ broker, queue }) => {
        const found = (await listDeadLetters(broker, queue, o.limit)).filter((d) => matches(d, id));
        if (!found.length) throw new CeleriacError('E_NOT_FOUND', `no dead letter with id ${id} in ${queue}`);
        for (const d of found) process.stdout.write(`${JSON.stringify(showable(d), null, 2)}\n`);
      })(cmd),
    );

  withQueue(dl.command('requeue [id]').description('send dead letters back to the queue they came from'))
    .option('--all', 'every dead letter')
    .option('--to <queue>', 'send them to this queue instead')
    .action((id: string | undefined, o: { all?: boolean; to?: string }, cmd: Command) =>
      run(async ({ broker, queue }) => {
        if (!id && !o.all) throw new CeleriacError('E_USAGE', 'requeue needs an id, or --all');
        if (id && o.all) throw new CeleriacError('E_USAGE', 'requeue takes an id or --all, not both');
        const r = await requeueDeadLetters(broker, queue, id ?? null, o.to ? { to: o.to } : {});
        for (const s of r.skipped) process.stderr.write(`Skipped ${s.letter.id}: ${s.why}\n`);
        if (id && !r.requeued.length && !r.skipped.length)
          throw new CeleriacError('E_NOT_FOUND', `no dead letter with id ${id} in ${queue}`);
        process.stdout.write(`Requeued ${plural(r.requeued.length, 'message')}.\n`);
        if (r.skipped.length) process.exitCode = 1;
      })(cmd),
    );

  withQueue(dl.command('purge').description('delete every dead letter'))
    .option('-f, --force', 'do not ask for confirmation')
    .action((o: { force?: boolean }, cmd: Command) =>
      run(async ({ broker, queue }) => {
        if (!(await confirmed(`Delete every dead letter in ${queue}?`, o.force))) return;
        const n = await broker.purge(queue);
        process.stdout.write(`Purged ${plural(n, 'dead letter')} from ${queue}.\n`);
      })(cmd),
    );
}
