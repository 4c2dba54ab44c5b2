/** Small Preact hooks the pages share: live re-render, hash routing, and loading data. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { live, subscribe } from './live.js';

/** Re-render on every live frame (at most a few a second, see live.ts); returns the live version. */
export function usePulse(): number {
  const [, set] = useState(0);
  useEffect(() => subscribe(() => set(live.version)), []);
  return live.version;
}

export interface Route {
  /** 'overview' | 'tasks' | 'task' | 'queues' | 'actions' */
  page: string;
  /** The path after the page: a task id for 'task'. */
  arg: string;
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const [path = '', qs = ''] = raw.split('?', 2);
  const [page = '', ...rest] = path.split('/');
  return {
    page: page || 'overview',
    arg: decodeURIComponent(rest.join('/')),
    query: new URLSearchParams(qs),
  };
}

export function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return parseHash(hash);
}

export function taskHref(id: string): string {
  return `#/task/${encodeURIComponent(id)}`;
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
}

/**
 * Load `fn()` whenever `key` changes; a later load wins over an earlier one still in flight. Keeps the
 * last data while reloading, so a live refresh does not flash an empty page.
 */
export function useLoad<T>(fn: () => Promise<T>, key: string): Loaded<T> & { reload(): void } {
  const [state, setState] = useState<Loaded<T>>({ data: null, error: null, loading: true });
  const [nonce, setNonce] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => {
        if (mine === seq.current) setState({ data, error: null, loading: false });
      },
      (e: unknown) => {
        if (mine === seq.current)
          setState((s) => ({
            data: s.data,
            error: e instanceof Error ? e.message : String(e),
            loading: false,
          }));
      },
    );
  }, [key, nonce]);
  return { ...state, reload: () => setNonce((n) => n + 1) };
}
