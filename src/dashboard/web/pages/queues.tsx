/**
 * Queues: depth per queue and priority, consumers, and the dead-letter queue: every message with the
 * reason it was dead-lettered, selectable for requeue or purge (each asks first, see confirm.tsx).
 */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ActionButton, isReadOnly } from '../confirm.js';
import { num, time } from '../format.js';
import { type Route, useLoad, usePulse } from '../hooks.js';

export function Queues({ route }: { route: Route }) {
  const version = usePulse();
  // Depth moves with the stream; re-read the queue list every few frames rather than on each.
  const queues = useLoad(() => api.queues(), String(Math.floor(version / 8)));
  const dlQueue = route.query.get('queue') ?? '';
  const [nonce, setNonce] = useState(0);
  const dead = useLoad(() => api.deadLetters(dlQueue || undefined, 200), `${dlQueue}#${nonce}`);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const refresh = () => {
    setPicked(new Set());
    setNonce((n) => n + 1);
  };
  const ids = [...picked];
  const scope = ids.length
    ? `${ids.length} selected message${ids.length === 1 ? '' : 's'}`
    : dlQueue
      ? `every dead letter of ${dlQueue}`
      : 'every dead letter';
  const body = () => ({ ...(dlQueue ? { queue: dlQueue } : {}), ...(ids.length ? { ids } : {}) });

  return (
    <section class="queues">
      <h2>Queues</h2>
      {queues.error && <p class="error">{queues.error}</p>}
      <table id="queue-list">
        <thead>
          <tr>
            <th>queue</th>
            <th class="n">depth</th>
            <th>by priority</th>
            <th class="n">consumers</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(queues.data?.queues ?? []).map((q) => (
            <tr key={q.name} data-queue={q.name}>
              <td>{q.name}</td>
              <td class="n">{num(q.depth)}</td>
              <td>
                {q.byPriority
                  ? Object.entries(q.byPriority)
                      .map(([p, n]) => `${p}: ${n}`)
                      .join(', ')
                  : '–'}
              </td>
              <td class="n">{num(q.consumers)}</td>
              <td>
                <a href={`#/queues?queue=${encodeURIComponent(q.name)}`}>dead letters</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>

      <h2>Dead letters{dlQueue ? ` of ${dlQueue}` : ''}</h2>
      {dlQueue && (
        <p>
          <a href="#/queues">all queues</a>
        </p>
      )}
      {dead.error && <p class="error">{dead.error}</p>}
      {!isReadOnly() && (dead.data?.messages.length ?? 0) > 0 && (
        <div class="actions-row">
          <ActionButton
            name="dead-letter-requeue"
            label="Requeue"
            what={`Requeue ${scope} to its queue.`}
            body={body}
            done={refresh}
          />
          <ActionButton
            name="dead-letter-purge"
            label="Purge"
            danger
            what={`Delete ${scope} for good.`}
            body={body}
            done={refresh}
          />
        </div>
      )}
      {(dead.data?.messages.length ?? 0) === 0 ? (
        <p class="muted">No dead letters.</p>
      ) : (
        <table id="dead-letters">
          <thead>
            <tr>
              {!isReadOnly() && <th />}
              <th>id</th>
              <th>task</th>
              <th>reason</th>
              <th>queue</th>
              <th>at</th>
              <th>args</th>
            </tr>
          </thead>
          <tbody>
            {dead.data?.messages.map((m) => (
              <tr key={m.id} data-id={m.id}>
                {!isReadOnly() && (
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`select ${m.id}`}
                      checked={picked.has(m.id)}
                      onChange={(e) => {
                        const next = new Set(picked);
                        if ((e.currentTarget as HTMLInputElement).checked) next.add(m.id);
                        else next.delete(m.id);
                        setPicked(next);
                      }}
                    />
                  </td>
                )}
                <td class="mono">{m.id}</td>
                <td>{m.task ?? '?'}</td>
                <td class="reason">{m.reason}</td>
                <td>{m.queue ?? '–'}</td>
                <td>{time(m.at)}</td>
                <td class="mono clip">{m.argsrepr ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
