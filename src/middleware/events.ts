/**
 * Events: the worker's Celery events (celery-wire.md §5), which Flower, `celery events` and
 * `celeriac events` read. Owns workerSendTaskEvents (-E), workerHeartbeat (--without-heartbeat),
 * taskSendSentEvent, and the remote-control commands enable_events, disable_events and heartbeat.
 *
 *  - worker-online at `ready`, worker-heartbeat at each `heartbeat` hook (every
 *    workerHeartbeatInterval s), worker-offline at `stop`, with freq, active, processed, loadavg and
 *    sw_ident 'celeriac'; sent without -E, as Celery's Heart does;
 *  - with task events on: task-received (`received`), task-started (`started`), and at `settled` the
 *    event the Outcome means: succeeded (result repr, runtime), failed (exception repr, traceback),
 *    retried, revoked (terminated, signum, expired), rejected (requeue). A run whose failure goes back to
 *    the queue (rejectOnWorkerLost) is task-rejected with requeue, not task-failed, as in Celery's
 *    Request.on_failure. An unregistered task is task-failed with NotRegistered('name'), as Celery's
 *    consumer sends;
 *  - task events are batched per tick into `task.multi` lists (dispatcher.ts), as the prefork hub does;
 *  - task-sent from the publishing side (`afterPublish`), when the app has taskSendSentEvent.
 *
 * Order (middleware/index.ts): right after `revoke`, so a task revoked or expired on arrival sends
 * task-revoked and no task-received (Celery checks revokes before it sends task-received), and before
 * rate limits and ETA waits, so task-received leaves when the message arrives.
 *
 * Cost when task events are off: each task hook is one call that reads a boolean and returns; nothing
 * is allocated. The hooks stay bound because enable_events may turn events on while the worker runs.
 */
import { hostname as osHostname } from 'node:os';
import type { Broker } from '../brokers/broker.js';
import { EventDispatcher } from '../events/dispatcher.js';
import { eventExchange, loadAverage, SOFTWARE_INFO } from '../events/event.js';
import { toIsoUtc } from '../protocol/json.js';
import { safeRepr } from '../protocol/repr.js';
import { excRepr } from '../protocol/result.js';
import type { Outcome } from '../task/outcome.js';
import type { LamportClock } from '../util/lamport.js';
import type { Middleware, OutgoingTask, TaskRun, WorkerMiddleware, WorkerScope } from './middleware.js';

/** What the middleware needs of its app: its Lamport clock and, for task-sent, its broker. */
export interface EventsHost {
  readonly clock: LamportClock;
  readonly conf: { readonly eventExchange: string };
  broker(): Promise<Broker>;
}

export interface EventsMiddlewareOptions {
  /** The app, known once it is built (the built-ins are made before the app is). */
  readonly host: () => EventsHost | undefined;
  /** The app's taskSendSentEvent: only then does publishing pay for an afterPublish hook. */
  readonly sentEvents?: boolean;
}

const iso = (d: Date | null): string | null => (d ? toIsoUtc(d) : null);
const header = (h: Record<string, unknown>, k: string): unknown => (h[k] === undefined ? null : h[k]);

export function events(options: EventsMiddlewareOptions): Middleware {
  const mw: Middleware = {
    name: 'events',
    worker(scope: WorkerScope): WorkerMiddleware | undefined {
      const { broker, conf, hostname, logger } = scope;
      const host = options.host();
      const heartbeats = conf.workerHeartbeat;
      let taskEvents = conf.workerSendTaskEvents;
      if (!host || !broker.broadcast || !broker.capabilities.broadcast) {
        if (taskEvents || heartbeats)
          logger.log(
            taskEvents ? 'warn' : 'debug',
            `events: the ${broker.transport} broker has no broadcast exchanges: no events are sent`,
          );
        return undefined;
      }
      const d = new EventDispatcher({
        broadcast: broker.broadcast,
        exchange: eventExchange(broker.transport, conf.eventExchange),
        hostname,
        clock: host.clock,
        logger,
        bufferGroups: ['task'],
      });
      const beat = (type: string): void => {
        const s = scope.worker.stats() as { active?: number; total?: Record<string, number> };
        let processed = 0;
        for (const n of Object.values(s.total ?? {})) processed += n;
        d.send(type, {
          freq: conf.workerHeartbeatInterval,
          active: s.active ?? 0,
          processed,
          loadavg: loadAverage(),
          ...SOFTWARE_INFO,
        });
      };
      const toggle = (on: boolean) => () => {
        const word = on ? 'enabled' : 'disabled';
        if (taskEvents === on) return { ok: `task events already ${word}` };
        taskEvents = on;
        logger.log('info', `Events of group {task} ${word} by remote.`);
        return { ok: `task events ${word}` };
      };

      const hooks: WorkerMiddleware = {
        ready() {
          if (heartbeats) beat('worker-online');
        },
        async stop() {
          if (heartbeats) beat('worker-offline');
          await d.close();
        },
        received(run: TaskRun): undefined {
          if (!taskEvents) return;
          const r = run.request;
          d.send('task-received', {
            uuid: r.id,
            name: r.name,
            args: r.argsrepr,
            kwargs: r.kwargsrepr,
            root_id: r.rootId,
            parent_id: r.parentId,
            retries: r.retries,
            eta: iso(r.eta),
            expires: iso(r.expires),
          });
        },
        started(run: TaskRun) {
          if (taskEvents) d.send('task-started', { uuid: run.request.id });
        },
        settled(run: TaskRun, outcome: Outcome) {
          if (taskEvents) settledEvent(d, run, outcome);
        },
        unusable(u) {
          if (taskEvents && u.kind === 'unregistered' && u.id)
            d.send('task-failed', { uuid: u.id, exception: `NotRegistered(${safeRepr(u.name)})` });
          return null;
        },
        control: {
          enable_events: toggle(true),
          disable_events: toggle(false),
          // Celery answers nothing and sends one at once (Flower asks for it to see workers now).
          heartbeat: () => {
            beat('worker-heartbeat');
            return undefined;
          },
        },
      };
      if (heartbeats) hooks.heartbeat = () => beat('worker-heartbeat');
      return hooks;
    },
  };
  if (options.sentEvents) mw.afterPublish = sentEvent(options.host);
  return mw;
}

function settledEvent(d: EventDispatcher, run: TaskRun, outcome: Outcome): void {
  const uuid = run.request.id;
  switch (outcome.kind) {
    case 'success':
      d.send('task-succeeded', { uuid, result: safeRepr(outcome.value), runtime: outcome.runtime });
      return;
    case 'failure':
      if (run.disposition?.action === 'requeue') {
        d.send('task-rejected', { uuid, requeue: true });
        return;
      }
      if (run.disposition?.action === 'reject') d.send('task-rejected', { uuid, requeue: false });
      d.send('task-failed', { uuid, exception: excRepr(outcome.exc), traceback: outcome.traceback ?? '' });
      return;
    case 'retry':
      d.send('task-retried', {
        uuid,
        exception: outcome.exc ? excRepr(outcome.exc) : `Retry(${safeRepr(outcome.reason)})`,
        traceback: outcome.traceback ?? '',
      });
      return;
    case 'revoked':
      d.send('task-revoked', {
        uuid,
        terminated: outcome.terminated ?? false,
        signum: outcome.signum ?? null,
        expired: outcome.expired,
      });
      return;
    case 'reject':
      d.send('task-rejected', { uuid, requeue: outcome.requeue });
      return;
    default:
      return; // ignore (and replaced): Celery acknowledges it without an event
  }
}

/** task-sent, from whichever process publishes; one dispatcher per app, made on first use. */
function sentEvent(hostOf: () => EventsHost | undefined): (task: OutgoingTask) => void {
  let dispatcher: Promise<EventDispatcher | null> | null = null;
  const open = (host: EventsHost): Promise<EventDispatcher | null> =>
    host.broker().then((broker) => {
      if (!broker.broadcast || !broker.capabilities.broadcast) return null;
      return new EventDispatcher({
        broadcast: broker.broadcast,
        exchange: eventExchange(broker.transport, host.conf.eventExchange),
        // Celery's anon_nodename(): the publisher's name, worker or not (its default dispatcher's).
        hostname: `gen${process.pid}@${osHostname()}`,
        clock: host.clock,
        logger: { enabled: () => true, log: (_l, m) => process.stderr.write(`celeriac: ${m}\n`) },
      });
    });
  return (task) => {
    const host = hostOf();
    if (!host) return;
    dispatcher ??= open(host);
    const h = task.message.headers;
    const fields = {
      uuid: task.id,
      root_id: header(h, 'root_id'),
      parent_id: header(h, 'parent_id'),
      name: task.name,
      args: header(h, 'argsrepr'),
      kwargs: header(h, 'kwargsrepr'),
      retries: header(h, 'retries') ?? 0,
      eta: header(h, 'eta'),
      expires: header(h, 'expires'),
      queue: task.queue,
      exchange: '',
      routing_key: task.queue,
    };
    dispatcher.then(
      (disp) => disp?.send('task-sent', fields),
      () => {
        dispatcher = null; // the broker was not reachable: try again next time
      },
    );
  };
}
