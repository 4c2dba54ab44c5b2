/**
 * Every action goes through one dialog: it says what will be sent, waits for Confirm, posts it (with
 * the CSRF token, see api.ts) and lists each worker's reply. Nothing is sent without the click.
 * When the session is read-only the buttons are not rendered at all (the server refuses anyway).
 */
import { useEffect, useState } from 'preact/hooks';
import type { ActionBodies, ActionName, ActionResultView } from '../api-types.js';
import { postAction } from './api.js';

interface Ask {
  name: ActionName;
  body: unknown;
  what: string;
  done?: (r: ActionResultView) => void;
}

type Phase =
  | { kind: 'ask' }
  | { kind: 'sending' }
  | { kind: 'done'; result: ActionResultView }
  | { kind: 'error'; message: string };

let current: { ask: Ask; phase: Phase } | null = null;
const listeners = new Set<() => void>();
const notify = () => {
  for (const fn of listeners) fn();
};

let readOnly = true;
export function setReadOnly(v: boolean): void {
  readOnly = v;
}
export function isReadOnly(): boolean {
  return readOnly;
}

export function ask<N extends ActionName>(
  name: N,
  body: ActionBodies[N],
  what: string,
  done?: (r: ActionResultView) => void,
): void {
  current = { ask: { name, body, what, ...(done ? { done } : {}) }, phase: { kind: 'ask' } };
  notify();
}

function close(): void {
  current = null;
  notify();
}

async function send(): Promise<void> {
  if (!current) return;
  const c = current;
  c.phase = { kind: 'sending' };
  notify();
  try {
    const result = await postAction(c.ask.name, c.ask.body as ActionBodies[ActionName]);
    c.phase = { kind: 'done', result };
    c.ask.done?.(result);
  } catch (e) {
    c.phase = { kind: 'error', message: e instanceof Error ? e.message : String(e) };
  }
  notify();
}

/** A button that asks before it acts; absent when read-only. */
export function ActionButton(props: {
  name: ActionName;
  body: () => ActionBodies[ActionName] | null;
  what: string;
  label: string;
  danger?: boolean;
  disabled?: boolean;
  done?: (r: ActionResultView) => void;
}) {
  if (readOnly) return null;
  return (
    <button
      type="button"
      class={props.danger ? 'danger' : ''}
      disabled={props.disabled}
      data-action={props.name}
      onClick={() => {
        const body = props.body();
        if (body) ask(props.name, body as never, props.what, props.done);
      }}
    >
      {props.label}
    </button>
  );
}

export function ActionDialog() {
  const [, set] = useState(0);
  useEffect(() => {
    const fn = () => set((n) => n + 1);
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  if (!current) return null;
  const { ask: a, phase } = current;
  return (
    <div class="overlay">
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title">
        <h2 id="dialog-title">{phase.kind === 'done' ? 'Replies' : 'Confirm'}</h2>
        <p class="what">{a.what}</p>
        <pre class="body">{`POST api/actions/${a.name}\n${JSON.stringify(a.body, null, 2)}`}</pre>
        {phase.kind === 'error' && <p class="error">{phase.message}</p>}
        {phase.kind === 'done' && <Replies result={phase.result} />}
        <div class="buttons">
          {(phase.kind === 'ask' || phase.kind === 'sending') && (
            <button
              type="button"
              class="primary"
              data-confirm
              disabled={phase.kind === 'sending'}
              onClick={send}
            >
              {phase.kind === 'sending' ? 'Sending…' : 'Confirm'}
            </button>
          )}
          <button type="button" onClick={close}>
            {phase.kind === 'done' || phase.kind === 'error' ? 'Close' : 'Cancel'}
          </button>
        </div>
      </div>
    </div>
  );
}

function Replies({ result }: { result: ActionResultView }) {
  return (
    <div class="replies" data-ok={String(result.ok)}>
      <p>
        {result.ok ? 'Done.' : 'Not done.'}
        {result.id ? ` New task: ${result.id}` : ''}
      </p>
      {result.replies.length === 0 ? (
        <p class="muted">No worker replied.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>worker</th>
              <th>ok</th>
              <th>message</th>
            </tr>
          </thead>
          <tbody>
            {result.replies.map((r) => (
              <tr key={r.worker} class={r.ok ? 'ok' : 'bad'}>
                <td>{r.worker}</td>
                <td>{r.ok ? 'yes' : 'no'}</td>
                <td>{r.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
