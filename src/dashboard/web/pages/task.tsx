/**
 * One task: its fields, args/kwargs repr, result, exception and traceback (all as text), its workflow
 * graph, and the actions that apply to it (revoke, terminate, retry). It re-reads itself when the stream
 * reports a change to it or to any task of its graph.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { TaskDetailView, TaskView } from '../../api-types.js';
import { api } from '../api.js';
import { ActionButton } from '../confirm.js';
import { duration, num, text, time } from '../format.js';
import { Graph } from '../graph.js';
import { taskHref, useLoad, usePulse } from '../hooks.js';
import { live } from '../live.js';

const FINAL = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED', 'IGNORED']);

export function TaskPage({ id }: { id: string }) {
  const tick = useChangeTick(id);
  const [bump, setBump] = useState(0);
  const t = useLoad(() => api.task(id), `${id}#${tick}#${bump}`);
  if (t.error && !t.data)
    return <p class="error">{t.error.startsWith('404') ? `No task ${id} is held.` : t.error}</p>;
  if (!t.data) return <p class="muted">Loading…</p>;
  const d = t.data;
  rememberGraph(d);
  const reload = () => setBump((n) => n + 1);
  return (
    <section class="task" data-state={d.state}>
      <h2>
        <span class="mono">{d.name ?? '?'}</span>{' '}
        <span class={`state state-${d.state.toLowerCase()}`} id="task-state">
          {d.state}
        </span>
      </h2>
      <p class="mono muted">{d.id}</p>
      <div class="actions-row">
        <ActionButton
          name="revoke"
          label="Revoke"
          what={`Revoke task ${d.id}: workers will not run it (it stays revoked if not started yet).`}
          body={() => ({ id: d.id })}
          disabled={FINAL.has(d.state)}
          done={reload}
        />
        <ActionButton
          name="revoke"
          label="Terminate"
          danger
          what={`Revoke task ${d.id} and terminate it if it is running (SIGTERM to its pool).`}
          body={() => ({ id: d.id, terminate: true, signal: 'SIGTERM' })}
          disabled={FINAL.has(d.state)}
          done={reload}
        />
        <ActionButton
          name="retry"
          label="Retry"
          what={`Send ${d.name ?? 'the task'} again with the same arguments, as a new task.`}
          body={() => ({ id: d.id })}
          disabled={!(d.state === 'FAILURE' || d.state === 'REVOKED' || d.state === 'REJECTED')}
          done={(r) => {
            if (r.id) location.hash = taskHref(r.id);
          }}
        />
      </div>
      <dl class="fields">
        <Field k="worker" v={d.worker ?? '–'} />
        <Field k="received" v={time(d.received)} />
        <Field k="started" v={time(d.started)} />
        <Field k="succeeded" v={time(d.succeeded)} />
        <Field k="failed" v={time(d.failed)} />
        <Field k="runtime" v={duration(d.runtime)} />
        <Field k="retries" v={num(d.retries)} />
        <Field k="ETA" v={d.eta ?? '–'} />
        <Field k="expires" v={d.expires ?? '–'} />
        <Field
          k="root"
          v={d.rootId ?? '–'}
          href={d.rootId && d.rootId !== d.id ? taskHref(d.rootId) : undefined}
        />
        <Field k="parent" v={d.parentId ?? '–'} href={d.parentId ? taskHref(d.parentId) : undefined} />
      </dl>
      <h3>Arguments</h3>
      <pre id="task-args">{d.argsrepr ?? '–'}</pre>
      <pre id="task-kwargs">{d.kwargsrepr ?? '–'}</pre>
      {d.result !== null && d.result !== undefined && (
        <>
          <h3>Result</h3>
          <pre id="task-result">{text(d.result)}</pre>
        </>
      )}
      {(d.exception || d.traceback) && (
        <>
          <h3>Exception</h3>
          <pre id="task-exception" class="error">
            {d.exception ?? ''}
          </pre>
          {d.traceback && <pre id="task-traceback">{d.traceback}</pre>}
        </>
      )}
      <h3>Workflow</h3>
      <div class="graph-box">
        <Graph nodes={d.graph.nodes} edges={d.graph.edges} current={d.id} />
      </div>
      {d.children.length > 0 && (
        <>
          <h3>Children</h3>
          <ul class="children">
            {d.children.map((c) => (
              <li key={c}>
                <a class="mono" href={taskHref(c)}>
                  {c}
                </a>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function Field(props: { k: string; v: string; href?: string | undefined }) {
  return (
    <>
      <dt>{props.k}</dt>
      <dd>{props.href ? <a href={props.href}>{props.v}</a> : props.v}</dd>
    </>
  );
}

/**
 * Changes when the stream has news of this task or of a task its graph names: the ids watched are read
 * from the last loaded detail (kept on the module, as the detail lives in useLoad's state).
 */
function useChangeTick(id: string): number {
  usePulse();
  const [tick, setTick] = useState(0);
  const seen = useRef(new Map<string, TaskView>());
  useEffect(() => {
    const watch = new Set([id, ...(lastGraph.get(id) ?? [])]);
    let changed = false;
    for (const w of watch) {
      const v = live.changed.get(w);
      if (v && seen.current.get(w) !== v) {
        seen.current.set(w, v);
        changed = true;
      }
    }
    if (changed) setTick((n) => n + 1);
  });
  return tick;
}

const lastGraph = new Map<string, string[]>();
function rememberGraph(d: TaskDetailView): void {
  lastGraph.set(
    d.id,
    d.graph.nodes.map((n) => n.id),
  );
}
