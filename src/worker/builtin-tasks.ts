/**
 * Celery's built-in tasks (celery/app/builtins.py, 5.2), registered on every Celeriac app so that Python
 * clients can use them against our workers, with the argument shapes Celery uses:
 *
 * | task | arguments | does |
 * |---|---|---|
 * | `celery.backend_cleanup` | – | nothing: every Celeriac backend expires results itself |
 * | `celery.accumulate` | `*args, index=None` | `args[index]`, or the list of args (Task.replace's body for a group) |
 * | `celery.map` | `task, it` | calls the local task's function on each item, in this process; the list of results |
 * | `celery.starmap` | `task, it` | the same with each item spread as the arguments |
 * | `celery.chunks` | `task, it, n` | sends a group of `celery.starmap` over parts of `n` items; its GroupResult tuple |
 * | `celery.group` | `tasks, result, group_id, partial_args, add_to_parent=True` | sends each task (with the partial args first) in the group `group_id`; returns `result` |
 * | `celery.chain` | – | fails with NotImplementedError('chain is not a real task'), as Celery's |
 * | `celery.chord` | `header, body, partial_args=(), interval, countdown, max_retries, eager, **options` | runs the chord (size stored, header sent); the body's result tuple |
 * | `celery.chord_unlock` | `group_id, callback, interval=None, max_retries=None, result=[tuples]` | for backends without chord counters: retries every `interval` s (1) until the header is ready, then applies the body or fails it with ChordError |
 *
 * They run where tasks run (in a pool child for prefork and threads) and publish through the app, so
 * what they send is recorded in their `children`. Arguments come from the request as sent (Python's
 * positional-or-keyword binding), read through `currentTask()`.
 */
import type { App } from '../app/app.js';
import type { ResultBackend } from '../backends/backend.js';
import { CanvasError, ChordError, NotRegistered } from '../errors.js';
import type { ResultTuple } from '../protocol/canvas.js';
import type { SignatureJson } from '../protocol/message.js';
import { excRepr, READY_STATES } from '../protocol/result.js';
import { bindArguments } from '../task/arguments.js';
import { currentTask, recordChild } from '../task/context.js';
import { appInternals } from '../task/publisher.js';
import { createLogger, type Logger } from '../util/log.js';
import { applySignature, type CanvasTarget, toSignature } from './canvas.js';
import { type ErrbackEnv, failChord } from './workflow.js';

/** Python's binding of a call to named parameters: positional first, then by keyword, then defaults. */
function bind(
  name: string,
  params: readonly string[],
  defaults: Record<string, unknown>,
): Record<string, unknown> & { rest: Record<string, unknown> } {
  const { args, kwargs } = currentTask();
  const out: Record<string, unknown> = { ...defaults };
  params.forEach((p, i) => {
    if (i < args.length) out[p] = args[i];
  });
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kwargs)) {
    if (params.includes(k)) out[k] = v;
    else rest[k] = v;
  }
  for (const p of params)
    if (!(p in out)) throw new TypeError(`${name}() missing 1 required positional argument: '${p}'`);
  return { ...out, rest };
}

async function target(app: App): Promise<CanvasTarget> {
  const i = appInternals(app);
  let backend: ResultBackend | null = null;
  try {
    backend = await app.backend();
  } catch {
    backend = null; // no backend: chords refuse with Celery's message
  }
  return {
    send: async (name, args, options) => (await i.publish(name, args, options, app.tasks.get(name))).id,
    route: (name, options) => i.route(name, options, app.tasks.get(name)),
    backend,
    resultExpires: app.conf.resultExpires,
  };
}

/** The local task a map/starmap signature names (Celery's `signature(task).type`). */
function localTask(app: App, raw: unknown) {
  const sig = toSignature(raw, 'task');
  const task = app.tasks.get(sig.task);
  if (!task) throw new NotRegistered(sig.task);
  return task;
}

class NotImplementedError extends Error {
  override name = 'NotImplementedError';
}

export function registerBuiltinTasks(app: App): void {
  app.task('celery.backend_cleanup', () => null);

  app.task('celery.accumulate', () => {
    const { args, kwargs } = currentTask();
    const index = kwargs.index;
    if (index === undefined || index === null) return [...args];
    const i = Number(index);
    return args[i < 0 ? args.length + i : i] ?? null;
  });

  const mapping = (name: string, spread: boolean) =>
    app.task(name, async () => {
      const a = bind(name, ['task', 'it'], {});
      if (!Array.isArray(a.it)) throw new CanvasError(`${name}: it must be a list`);
      const task = localTask(app, a.task);
      const out: unknown[] = [];
      for (const item of a.it) {
        const args = spread ? (Array.isArray(item) ? item : [item]) : [item];
        out.push(await task.fn(...bindArguments(task.name, task.fn, task.options.params, args, {})));
      }
      return out;
    });
  mapping('celery.map', false);
  mapping('celery.starmap', true);

  app.task('celery.chunks', async () => {
    const a = bind('celery.chunks', ['task', 'it', 'n'], {});
    const sig = {
      task: 'celery.chunks',
      args: [],
      kwargs: { task: a.task, it: a.it, n: a.n },
      options: {},
      subtask_type: 'chunks',
      immutable: true,
    };
    const applied = await applySignature(await target(app), sig, [], {}, 'celery.chunks');
    recordChild(applied.trail);
    return applied.result;
  });

  app.task('celery.group', async () => {
    const a = bind('celery.group', ['tasks', 'result', 'group_id', 'partial_args', 'add_to_parent'], {
      partial_args: [],
      add_to_parent: true,
    });
    if (!Array.isArray(a.tasks)) throw new CanvasError('celery.group: tasks must be a list of signatures');
    const t = await target(app);
    const partial = Array.isArray(a.partial_args) ? a.partial_args : [];
    for (const [i, s] of a.tasks.entries())
      await applySignature(t, s, partial, { group_id: a.group_id }, `celery.group.tasks[${i}]`);
    if (a.add_to_parent !== false && Array.isArray(a.result)) recordChild(a.result as ResultTuple);
    return a.result;
  });

  app.task('celery.chain', () => {
    throw new NotImplementedError('chain is not a real task');
  });

  app.task('celery.chord', async () => {
    const a = bind(
      'celery.chord',
      ['header', 'body', 'partial_args', 'interval', 'countdown', 'max_retries', 'eager'],
      { partial_args: [], interval: null, countdown: 1, max_retries: null, eager: false },
    );
    if (a.body === null || a.body === undefined) throw new CanvasError('celery.chord: a chord needs a body');
    const sig: SignatureJson = {
      task: 'celery.chord',
      args: [],
      kwargs: { kwargs: {}, header: a.header, body: a.body },
      options: {},
      subtask_type: 'chord',
      immutable: false,
    };
    const partial = Array.isArray(a.partial_args) ? a.partial_args : [];
    const applied = await applySignature(await target(app), sig, partial, a.rest, 'celery.chord');
    recordChild(applied.trail);
    return applied.result;
  });

  app.task(
    'celery.chord_unlock',
    async () => {
      const a = bind('celery.chord_unlock', ['group_id', 'callback', 'interval', 'max_retries', 'result'], {
        interval: null,
        max_retries: null,
        result: [],
      });
      const ctx = currentTask();
      const t = await target(app);
      const backend = t.backend;
      if (!backend) throw new CanvasError('celery.chord_unlock needs a result backend');
      const ids = (Array.isArray(a.result) ? (a.result as ResultTuple[]) : []).map((r) => r[0][0]);
      const metas = await Promise.all(ids.map((id) => backend.get(id)));
      if (!metas.every((m) => m && READY_STATES.has(m.status))) {
        const countdown = typeof a.interval === 'number' ? a.interval : 1;
        const maxRetries = typeof a.max_retries === 'number' ? a.max_retries : undefined;
        throw ctx.retry({ countdown, ...(maxRetries !== undefined ? { maxRetries } : {}) });
      }
      const callback = toSignature(a.callback, 'callback');
      const failed = metas.findIndex((m) => m?.status !== 'SUCCESS');
      const logger = (ctx as Partial<{ logger: Logger }>).logger ?? createLogger('warn');
      const env: ErrbackEnv = { tasks: app.tasks, target: t, logger, hostname: ctx.hostname };
      if (failed >= 0) {
        const m = metas[failed];
        await failChord(
          env,
          backend,
          callback,
          new ChordError(`Dependency ${ids[failed]} raised ${excRepr(m?.result)}`),
        );
        return null;
      }
      await applySignature(t, callback, [metas.map((m) => m?.result)], {}, 'chord body');
      return null;
    },
    { maxRetries: null, ignoreResult: true },
  );
}
