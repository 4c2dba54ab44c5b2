/**
 * The dashboard's actions, each through the public API and each answering with what the workers
 * replied: remote control (`app.control`: revoke, rate_limit, time_limit, pool_grow/shrink, shutdown),
 * a re-send (`app.sendTask`) for retry, and the dead-letter calls `celeriac dead-letter` makes.
 *
 * retry re-sends the task under a new id with the same name, args, kwargs and queue. The arguments come
 * from the result backend when it keeps them (resultExtended), else from the events' argsrepr/kwargsrepr
 * read back as Python literals (literal.ts); when neither holds them exactly, retry refuses (409) rather
 * than run the task on a guess.
 */
import type { App } from '../app/app.js';
import { describeDeadLetter, requeueDeadLetters } from '../cli/dead-letter.js';
import type { NodeReply } from '../control/client.js';
import { CeleriacError } from '../errors.js';
import type { ResultMeta } from '../protocol/result.js';
import type { ActionName, ActionReply, ActionResultView } from './api-types.js';
import { parsePyLiteral } from './literal.js';
import type { TaskStore } from './tasks.js';

export const ACTIONS: readonly ActionName[] = [
  'revoke',
  'retry',
  'rate-limit',
  'time-limit',
  'pool-grow',
  'pool-shrink',
  'shutdown',
  'dead-letter-requeue',
  'dead-letter-purge',
];

/** A request the caller got wrong (400), or a task that cannot be re-sent (409). */
export class ActionError extends CeleriacError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(status === 409 ? 'E_DASHBOARD_CONFLICT' : 'E_DASHBOARD_BAD_REQUEST', message);
    this.status = status;
  }
}

type Body = Record<string, unknown>;

const str = (b: Body, k: string, required = true): string | undefined => {
  const v = b[k];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || !v) throw new ActionError(400, `"${k}" must be a non-empty string`);
  return v;
};

const int = (b: Body, k: string): number => {
  const v = b[k] ?? 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new ActionError(400, `"${k}" must be a whole number ≥ 1`);
  return v;
};

const optSeconds = (b: Body, k: string): number | null => {
  const v = b[k];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !(v >= 0)) throw new ActionError(400, `"${k}" must be seconds ≥ 0, or null`);
  return v;
};

/** `[{node: {ok: '…'}}, {node: {error: '…'}}]` → one reply per worker. */
export function replies(list: readonly NodeReply[]): ActionReply[] {
  const out: ActionReply[] = [];
  for (const r of list)
    for (const [worker, body] of Object.entries(r)) {
      const b = (body ?? {}) as { ok?: unknown; error?: unknown };
      const ok = b.error === undefined;
      const msg = ok ? b.ok : b.error;
      out.push({ worker, ok, message: typeof msg === 'string' ? msg : JSON.stringify(msg ?? body) });
    }
  return out;
}

/** ok: something answered, and every answer was a success (no worker replying is not a success). */
const result = (rs: ActionReply[], extra: Partial<ActionResultView> = {}): ActionResultView => ({
  ok: rs.length > 0 && rs.every((r) => r.ok),
  replies: rs,
  ...extra,
});

export interface ActionContext {
  readonly app: App;
  readonly store: TaskStore;
  metaOf(id: string): Promise<ResultMeta | null>;
}

/** Seconds the control commands wait for replies. */
const REPLY_TIMEOUT = 1;

export async function runAction(ctx: ActionContext, name: ActionName, b: Body): Promise<ActionResultView> {
  const { app } = ctx;
  const control = app.control;
  const dest = (k = 'worker', required = false) => {
    const w = str(b, k, required);
    return w ? { destination: [w] } : {};
  };
  const opts = (k = 'worker', required = false) => ({
    reply: true,
    timeout: REPLY_TIMEOUT,
    ...dest(k, required),
  });
  switch (name) {
    case 'revoke': {
      const id = str(b, 'id') as string;
      const signal = b.signal === undefined ? 'SIGTERM' : (str(b, 'signal') as string);
      return result(
        replies(await control.revoke(id, { ...opts(), terminate: b.terminate === true, signal })),
      );
    }
    case 'retry':
      return retry(ctx, str(b, 'id') as string);
    case 'rate-limit': {
      const rate = b.rate;
      if (typeof rate !== 'string' && typeof rate !== 'number')
        throw new ActionError(400, '"rate" must be like "10/m", "5/s" or a number per second');
      return result(replies(await control.rateLimit(str(b, 'task') as string, rate, opts())));
    }
    case 'time-limit': {
      const limits = { soft: optSeconds(b, 'soft'), hard: optSeconds(b, 'hard') };
      return result(replies(await control.timeLimit(str(b, 'task') as string, limits, opts())));
    }
    case 'pool-grow':
      return result(replies(await control.poolGrow(int(b, 'n'), opts('worker', true))));
    case 'pool-shrink':
      return result(replies(await control.poolShrink(int(b, 'n'), opts('worker', true))));
    case 'shutdown': {
      const worker = str(b, 'worker') as string;
      // Celery's shutdown has no reply: the worker leaves (its worker-offline event says so).
      await control.shutdown({ destination: [worker] });
      return result([{ worker, ok: true, message: 'shutdown sent' }]);
    }
    case 'dead-letter-requeue':
    case 'dead-letter-purge':
      return deadLetters(app, name, b);
  }
}

async function retry(ctx: ActionContext, id: string): Promise<ActionResultView> {
  const t = ctx.store.get(id);
  const meta = await ctx.metaOf(id);
  const name = meta?.name ?? t?.name;
  if (!name)
    throw new ActionError(409, `task ${id} is unknown here (no events, no stored result): cannot re-send it`);
  let args: unknown[];
  let kwargs: Record<string, unknown>;
  if (meta && Array.isArray(meta.args) && meta.kwargs && typeof meta.kwargs === 'object') {
    args = meta.args;
    kwargs = meta.kwargs;
  } else {
    try {
      const a = parsePyLiteral(t?.args ?? '');
      const k = parsePyLiteral(t?.kwargs ?? '{}');
      if (!Array.isArray(a) || !k || typeof k !== 'object' || Array.isArray(k))
        throw new Error('not (args) and {kwargs}');
      args = a;
      kwargs = k as Record<string, unknown>;
    } catch (err) {
      throw new ActionError(
        409,
        `the arguments of ${id} are not known exactly (${(err as Error).message}); turn on resultExtended so the backend keeps them`,
      );
    }
  }
  const queue = meta?.queue ?? t?.routing_key ?? t?.queue ?? undefined;
  const r = await ctx.app.sendTask(name, args, kwargs, queue ? { queue } : {});
  return result([{ worker: 'dashboard', ok: true, message: `re-sent ${name} as ${r.id}` }], { id: r.id });
}

async function deadLetters(
  app: App,
  name: 'dead-letter-requeue' | 'dead-letter-purge',
  b: Body,
): Promise<ActionResultView> {
  const queue = str(b, 'queue', false) ?? app.conf.workerDeadLetterQueue;
  if (!queue)
    throw new ActionError(400, 'workerDeadLetterQueue is null (dead-lettering is off): pass "queue"');
  const ids = b.ids;
  if (ids !== undefined && !(Array.isArray(ids) && ids.every((i) => typeof i === 'string')))
    throw new ActionError(400, '"ids" must be a list of dead-letter ids');
  const broker = await app.broker();
  if (!broker.browse)
    throw new ActionError(
      400,
      `the ${broker.transport}:// broker cannot be browsed; dead letters need sqlite, redis or amqp`,
    );
  if (name === 'dead-letter-requeue') {
    const rs: ActionReply[] = [];
    for (const id of (ids as string[] | undefined) ?? [null]) {
      const r = await requeueDeadLetters(broker, queue, id);
      for (const d of r.requeued)
        rs.push({ worker: 'broker', ok: true, message: `requeued ${d.id} to ${d.fromQueue}` });
      for (const s of r.skipped)
        rs.push({ worker: 'broker', ok: false, message: `skipped ${s.letter.id}: ${s.why}` });
      if (id !== null && !r.requeued.length && !r.skipped.length)
        rs.push({ worker: 'broker', ok: false, message: `no dead letter with id ${id}` });
    }
    return result(rs);
  }
  if (ids === undefined) {
    const n = await broker.purge(queue);
    return result([{ worker: 'broker', ok: true, message: `purged ${n} dead letter${n === 1 ? '' : 's'}` }]);
  }
  const want = new Set(ids as string[]);
  const snap = await broker.browse(queue, 10_000);
  try {
    const picked: number[] = [];
    for (const [i, m] of snap.messages.entries()) if (want.has(describeDeadLetter(m).id)) picked.push(i);
    const n = await snap.remove(picked);
    return result([{ worker: 'broker', ok: true, message: `purged ${n} dead letter${n === 1 ? '' : 's'}` }]);
  } finally {
    await snap.close();
  }
}
