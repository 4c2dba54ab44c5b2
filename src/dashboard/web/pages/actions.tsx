/**
 * Actions: the remote-control commands, each behind the confirmation dialog (confirm.tsx), which shows
 * every worker's reply. Task actions take an id; worker actions take a worker (or all, where the command
 * allows it). Read-only sessions see why there is nothing here.
 */
import { useState } from 'preact/hooks';
import type { ActionBodies, ActionName } from '../../api-types.js';
import { ActionButton, isReadOnly } from '../confirm.js';
import { usePulse } from '../hooks.js';
import { live } from '../live.js';

export function Actions() {
  usePulse();
  if (isReadOnly())
    return <p class="muted">This dashboard is read-only (--read-only): actions are disabled.</p>;
  const workers = live.workers.filter((w) => w.online).map((w) => w.hostname);
  return (
    <section class="actions">
      <h2>Task</h2>
      <TaskActions />
      <h2>Workers</h2>
      {workers.length === 0 ? <p class="muted">No worker online.</p> : <WorkerActions workers={workers} />}
    </section>
  );
}

function useForm() {
  const [v, set] = useState<Record<string, string>>({});
  const bind = (k: string) => ({
    name: k,
    value: v[k] ?? '',
    onInput: (e: Event) => set({ ...v, [k]: (e.currentTarget as HTMLInputElement).value }),
  });
  return { v, bind };
}

function TaskActions() {
  const { v, bind } = useForm();
  const id = (v.id ?? '').trim();
  return (
    <div class="form-row">
      <input {...bind('id')} placeholder="task id" class="mono wide" />
      <ActionButton
        name="revoke"
        label="Revoke"
        what={`Revoke task ${id}.`}
        body={() => (id ? { id } : null)}
        disabled={!id}
      />
      <ActionButton
        name="revoke"
        label="Terminate"
        danger
        what={`Revoke task ${id} and terminate it if it runs (SIGTERM).`}
        body={() => (id ? { id, terminate: true, signal: 'SIGTERM' } : null)}
        disabled={!id}
      />
      <ActionButton
        name="retry"
        label="Retry"
        what={`Send task ${id} again with the same arguments.`}
        body={() => (id ? { id } : null)}
        disabled={!id}
      />
    </div>
  );
}

function WorkerActions({ workers }: { workers: string[] }) {
  const { v, bind } = useForm();
  const worker = v.worker ?? '';
  const target = worker || 'every worker';
  const task = (v.task ?? '').trim();
  const n = Math.max(1, Number(v.n || 1) || 1);
  const numOrNull = (s: string | undefined) =>
    s && s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : null;
  const btn = <N extends ActionName>(
    name: N,
    label: string,
    what: string,
    body: () => ActionBodies[N] | null,
    danger = false,
  ) => (
    <ActionButton
      name={name}
      label={label}
      what={what}
      body={body as () => ActionBodies[ActionName] | null}
      danger={danger}
    />
  );
  return (
    <div class="worker-actions">
      <label>
        worker{' '}
        <select {...bind('worker')} aria-label="worker">
          <option value="">all workers</option>
          {workers.map((w) => (
            <option key={w} value={w}>
              {w}
            </option>
          ))}
        </select>
      </label>{' '}
      <input {...bind('task')} placeholder="task name (for the limits)" />
      <fieldset>
        <legend>Rate limit</legend>
        <input {...bind('rate')} placeholder="rate, e.g. 10/m (0: none)" />
        {btn(
          'rate-limit',
          'Set rate limit',
          `Set the rate limit of ${task} to ${v.rate ?? ''} on ${target}.`,
          () => (task && v.rate ? { ...(worker ? { worker } : {}), task, rate: v.rate } : null),
        )}
      </fieldset>
      <fieldset>
        <legend>Time limit</legend>
        <input {...bind('soft')} placeholder="soft (s)" inputMode="decimal" />
        <input {...bind('hard')} placeholder="hard (s)" inputMode="decimal" />
        {btn(
          'time-limit',
          'Set time limit',
          `Set the time limits of ${task} (soft ${v.soft || '–'}, hard ${v.hard || '–'}) on ${target}.`,
          () =>
            task
              ? { ...(worker ? { worker } : {}), task, soft: numOrNull(v.soft), hard: numOrNull(v.hard) }
              : null,
        )}
      </fieldset>
      <fieldset disabled={!worker}>
        <legend>Pool{worker ? '' : ' (pick a worker)'}</legend>
        <input {...bind('n')} placeholder="n" inputMode="numeric" class="narrow" />
        {btn('pool-grow', 'Grow', `Add ${n} pool slot(s) on ${worker}.`, () =>
          worker ? { worker, n } : null,
        )}
        {btn('pool-shrink', 'Shrink', `Remove ${n} pool slot(s) on ${worker}.`, () =>
          worker ? { worker, n } : null,
        )}
        {btn(
          'shutdown',
          'Shut down',
          `Shut down worker ${worker} (warm: it finishes its running tasks).`,
          () => (worker ? { worker } : null),
          true,
        )}
      </fieldset>
    </div>
  );
}
