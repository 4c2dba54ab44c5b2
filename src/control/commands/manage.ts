/**
 * The control commands that change the worker itself (Celery's celery/worker/control.py): pool_grow,
 * pool_shrink, autoscale, add_consumer, cancel_consumer, shutdown. Reply texts are Celery's, since
 * `celery control` prints them and scripts grep them.
 *
 * add_consumer and cancel_consumer reply at once and change the broker consumer just after, as Celery's
 * call_soon does: re-creating a consumer can take longer than a client's 1 s reply timeout.
 */
import type { ControlHandler } from '../../middleware/middleware.js';
import { NO_REPLY, pyError } from '../mailbox.js';
import type { ControlTarget } from './target.js';

const ok = (value: unknown) => ({ ok: value });
const nok = (value: unknown) => ({ error: value });

const count = (v: unknown, dflt: number): number => {
  const n = v === undefined || v === null ? dflt : Number(v);
  if (!Number.isInteger(n) || n < 0) throw pyError('ValueError', `expected a whole number, got ${String(v)}`);
  return n;
};

const text = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);

export function manageCommands(t: ControlTarget): Record<string, ControlHandler> {
  const resize = (grow: boolean, n: number) => {
    const [main] = t.pools();
    if (!main) throw pyError('RuntimeError', 'the worker has no pool');
    if (main.autoscaler)
      return nok(
        `pool_${grow ? 'grow' : 'shrink'} is not supported with autoscale. Adjust autoscale range instead.`,
      );
    if (main.pool.resizable === false)
      throw pyError(
        'AttributeError',
        `'${main.pool.implementation}' pool cannot ${grow ? 'grow' : 'shrink'}`,
      );
    const before = main.pool.concurrency;
    if (grow) main.pool.grow(n);
    else main.pool.shrink(n);
    t.resized(main.pool.concurrency - before);
    return ok(`pool will ${grow ? 'grow' : 'shrink'}`);
  };
  return {
    pool_grow: (a) => resize(true, count(a.n, 1)),
    pool_shrink: (a) => resize(false, count(a.n, 1)),
    autoscale: (a) => {
      const scaler = t.pools()[0]?.autoscaler;
      if (!scaler) throw pyError('ValueError', 'Autoscale not enabled');
      const { max, min } = scaler.update(
        a.max === undefined || a.max === null ? null : count(a.max, 0),
        a.min === undefined || a.min === null ? null : count(a.min, 0),
      );
      return ok(`autoscale now max=${max} min=${min}`);
    },
    add_consumer: (a) => {
      const { queue, exchange, exchange_type, routing_key, ...options } = a;
      const name = text(queue);
      if (!name) throw pyError('TypeError', "add_consumer() missing required argument: 'queue'");
      const spec = {
        name,
        exchange: text(exchange) ?? name,
        exchangeType: text(exchange_type) ?? 'direct',
        routingKey: text(routing_key) ?? name,
        options,
      };
      t.addQueue(spec).catch((err: Error) =>
        t.logger.log('error', `remote control: add_consumer ${name} failed: ${err.message}`),
      );
      return ok(`add consumer ${name}`);
    },
    cancel_consumer: (a) => {
      const name = text(a.queue);
      if (!name) throw pyError('TypeError', "cancel_consumer() missing required argument: 'queue'");
      t.cancelQueue(name).catch((err: Error) =>
        t.logger.log('error', `remote control: cancel_consumer ${name} failed: ${err.message}`),
      );
      return ok(`no longer consuming from ${name}`);
    },
    shutdown: (a) => {
      t.logger.log('warn', text(a.msg) ?? 'Got shutdown from remote');
      t.shutdown();
      return NO_REPLY;
    },
  };
}
