/**
 * Noticing commits without busy polling, for one SQLite file's waiters (SqliteFile.waitForChange).
 * Commits of this process wake the waiters directly (`fire`, from SqliteFile.notifyLocal); commits by
 * other processes are noticed by a watch on the -wal file (inotify/FSEvents: no cost while idle) backed
 * by a poll of `PRAGMA data_version` (a counter read from shared memory, no query). While the watch
 * works the poll runs once a second as a safety net; where it does not (no -wal file yet, watch
 * unsupported, or caught missing a commit: some container bind mounts), the poll starts at 1 ms and
 * backs off to the file's `pollingInterval`. The watch and the poll run only while someone waits.
 */
import { type FSWatcher, watch } from 'node:fs';

/** Whether waits watch the -wal file; bench/sqlite-wait.ts turns it off to measure the fallback poll. */
export const walWatch = { enabled: true };

/** Fallback poll period while the -wal watch is trusted (it only guards against a missed event). */
const TRUSTED_WATCH_POLL_MS = 1000;
/** How long the -wal watch stays open after the last waiter left (so a consumer loop does not churn it). */
const WATCH_LINGER_MS = 2000;

export class ChangeMonitor {
  readonly #path: string;
  readonly #pollCap: number;
  /** data_version, read without translating errors (the poll hands a failure to the waiters). */
  readonly #readVersion: () => number;
  readonly #listeners = new Set<() => void>();
  #watcher: FSWatcher | null = null;
  /** True while the watch has not been caught missing a commit; then the poll only runs as a safety net. */
  #watchTrusted = false;
  #lastEventAt = 0;
  #linger: NodeJS.Timeout | null = null;
  #timer: NodeJS.Timeout | null = null;
  #delay = 1;
  #version = 0;
  #closed = false;

  /** `path`: the database file (its -wal is watched); `pollCap`: the slowest poll, in ms. */
  constructor(path: string, pollCap: number, readVersion: () => number) {
    this.#path = path;
    this.#pollCap = pollCap;
    this.#readVersion = readVersion;
  }

  /** True once the file closed: waits resolve at once. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Resolve after the next commit that moves data_version past `now` (or `fire`), when `ms` passes, or
   * when `signal` aborts.
   */
  wait(ms: number, now: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#listeners.delete(done);
        if (this.#listeners.size === 0) this.#idle();
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.#listeners.add(done);
      if (this.#listeners.size === 1) this.#startMonitor(now);
    });
  }

  /** Wake every waiter (a commit through this connection, or the file closing). */
  fire(): void {
    for (const l of [...this.#listeners]) l();
  }

  #startMonitor(version: number): void {
    this.#version = version;
    if (this.#linger) clearTimeout(this.#linger);
    this.#linger = null;
    if (!walWatch.enabled) this.#closeWatcher();
    else if (!this.#watcher) this.#watch();
    // Without a trusted watch, a consumer that just found nothing polls fast first: work tends to come
    // in bursts. With one, the watch brings the latency and the poll is only a safety net.
    this.#delay = this.#watcher && this.#watchTrusted ? TRUSTED_WATCH_POLL_MS : 1;
    this.#schedule();
  }

  #watch(): void {
    try {
      this.#watcher = watch(`${this.#path}-wal`, { persistent: false }, () => this.#kick());
      this.#watcher.on('error', () => this.#closeWatcher());
      this.#watchTrusted = true;
    } catch {
      this.#watcher = null; // no -wal file yet, or no watch support: the poll alone still works
    }
  }

  /** The last waiter left: stop polling now, close the watch a little later. */
  #idle(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#watcher || this.#linger) return;
    this.#linger = setTimeout(() => {
      this.#linger = null;
      if (this.#listeners.size === 0) this.#closeWatcher();
    }, WATCH_LINGER_MS);
    this.#linger.unref();
  }

  #closeWatcher(): void {
    this.#watcher?.close();
    this.#watcher = null;
  }

  /**
   * A write to the -wal file, by any process. It comes before the commit is visible (frames first, then
   * the index in shared memory), so it restarts the fast end of the poll rather than waking waiters.
   */
  #kick(): void {
    this.#lastEventAt = Date.now();
    if (this.#listeners.size === 0) return;
    this.#delay = 1;
    this.#schedule(0);
  }

  #schedule(delay = this.#delay): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#poll(), delay);
    this.#timer.unref();
  }

  #poll(): void {
    this.#timer = null;
    if (this.#listeners.size === 0 || this.#closed) return;
    let v: number;
    try {
      v = this.#readVersion();
    } catch {
      v = this.#version + 1; // let the waiters run their statement and meet the error themselves
    }
    const cap = this.#watcher && this.#watchTrusted ? TRUSTED_WATCH_POLL_MS : this.#pollCap;
    if (v !== this.#version) {
      this.#version = v;
      this.#delay = 1;
      if (this.#watcher && this.#watchTrusted) this.#verifyWatch(Date.now());
      this.fire();
    } else {
      this.#delay = Math.min(this.#delay * 2, cap);
    }
    if (this.#listeners.size > 0) this.#schedule();
  }

  /**
   * The poll saw a commit: the watch should have reported a write within the last poll period (or does
   * so in a moment, its event being still queued). If not, it does not work here (some container bind
   * mounts, network shares): from now on the poll runs at full speed.
   */
  #verifyWatch(seenAt: number): void {
    setTimeout(() => {
      if (this.#lastEventAt < seenAt - TRUSTED_WATCH_POLL_MS - 50) this.#watchTrusted = false;
    }, 25).unref();
  }

  /** The file closes: every waiter wakes, the poll and the watch stop. */
  close(): void {
    this.#closed = true;
    this.fire();
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#linger) clearTimeout(this.#linger);
    this.#closeWatcher();
  }
}
