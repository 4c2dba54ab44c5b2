/**
 * The beat service: sends each due slot of the app's periodic entries exactly once, with any number of
 * beat processes. Responsibilities:
 *  - leadership: take the store's lease, renew it every third of its time, step down when a renewal is
 *    refused or the lease ran out locally (a stalled loop, an unreachable store); followers try to take it
 *    every quarter of the lease (at most every second), so a dead leader is replaced within lease + that;
 *  - on becoming leader: drop the state of entries no longer in code, read every entry's last run, and
 *    give entries seen for the first time a baseline (now), so that slots after it are owed even if this
 *    leader dies before the first one;
 *  - per entry: the latest due slot after its last run (several missed ones collapse into one, as Celery
 *    does), claimed atomically in the store (fenced by the lease token), then published as an ordinary
 *    task message whose id is derived from the slot (slots.ts);
 *  - one loop, contained: a failing pass is logged with its context and retried with backoff; the loop
 *    only ends through stop(), which releases the lease so the next beat takes over at once.
 *
 * The window (docs/beat.md): a slot is claimed before it is sent, so nothing is ever sent twice; a slot is
 * lost only when its beat dies between the claim and the publish (one round trip), or keeps failing to
 * publish until it is stopped. A failed publish is retried on every pass, leader or not: the claim made it
 * this beat's slot and no other beat will send it.
 */
import type { App } from '../app/app.js';
import { ConfigError } from '../errors.js';
import { appInternals } from '../task/publisher.js';
import { realTimeoutClock, type TimeoutClock } from '../util/clock.js';
import { createLogger, type Logger, type LogLevel } from '../util/log.js';
import { type BeatEntry, beatEntries } from './entries.js';
import { baselineOf, dueSlot, slotTaskId } from './slots.js';
import type { BeatStore } from './store.js';
import { createBeatStore } from './stores.js';

export interface BeatOptions {
  /** The entries to run (default: the app's, `beatEntries(app)`). */
  entries?: readonly BeatEntry[];
  /** The shared store (default: the one the broker URL implies, stores.ts). */
  store?: BeatStore;
  clock?: TimeoutClock;
  logger?: Logger;
  logLevel?: LogLevel;
  /** Overrides the app's `beatLeaseSeconds`. */
  leaseSeconds?: number;
  /** Overrides the app's `beatMaxLoopInterval`. */
  maxLoopInterval?: number;
  /** Name in logs and in the lease token (default `beat@<host>:<pid>`). */
  name?: string;
}

/** One slot sent (or owed: claimed, publish failed). */
export interface SentSlot {
  entry: string;
  task: string;
  due: number;
  id: string;
}

export type BeatState = 'new' | 'running' | 'stopping' | 'stopped';

export class Beat {
  readonly app: App;
  readonly entries: readonly BeatEntry[];
  readonly logger: Logger;
  readonly name: string;
  /** This beat's lease token: unique per Beat instance, so a restarted process never inherits a lease. */
  readonly token: string;
  readonly #clock: TimeoutClock;
  readonly #leaseMs: number;
  readonly #maxLoopMs: number;
  readonly #acquireEveryMs: number;
  #store: BeatStore | null;
  readonly #ownsStore: boolean;
  #state: BeatState = 'new';
  #leader = false;
  #leaseUntil = 0;
  #renewAt = 0;
  #acquireAt = 0;
  #last = new Map<string, number>();
  /** Claimed slots whose publish failed; retried every pass. */
  #owed: SentSlot[] = [];
  #failures = 0;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  /** Every slot this beat sent, for tests and stats. */
  readonly sent: SentSlot[] = [];

  constructor(app: App, options: BeatOptions = {}) {
    this.app = app;
    // Validated now: a bad schedule fails at start-up, naming the entry.
    this.entries = options.entries ?? beatEntries(app);
    this.#clock = options.clock ?? realTimeoutClock;
    this.logger = options.logger ?? createLogger(options.logLevel ?? app.conf.workerLogLevel);
    this.#leaseMs = (options.leaseSeconds ?? app.conf.beatLeaseSeconds) * 1000;
    this.#maxLoopMs = (options.maxLoopInterval ?? app.conf.beatMaxLoopInterval) * 1000;
    this.#acquireEveryMs = Math.min(1000, this.#leaseMs / 4);
    this.name = options.name ?? `beat@${process.pid}`;
    this.token = `${this.name}:${Math.random().toString(36).slice(2, 12)}`;
    this.#store = options.store ?? null;
    this.#ownsStore = !options.store;
  }

  get state(): BeatState {
    return this.#state;
  }
  get isLeader(): boolean {
    return this.#leader;
  }

  /** Connect the store and start the loop. */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new ConfigError(`beat.start() called in state ${this.#state}`);
    this.#state = 'running';
    this.#store ??= await createBeatStore(this.app);
    await this.#store.connect();
    this.logger.log(
      'info',
      `${this.name} started: ${this.entries.length} entr${this.entries.length === 1 ? 'y' : 'ies'}, store=${this.#store.kind}, lease=${this.#leaseMs / 1000}s`,
    );
    this.#loop = this.#run();
  }

  /** Stop the loop, retry what is owed once, release the lease (so another beat takes over at once). */
  async stop(): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return this.#loop ?? undefined;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    this.#wake?.();
    await this.#loop;
    const store = this.#store;
    if (store) {
      await this.#sendOwed().catch(() => {});
      if (this.#owed.length)
        this.logger.log(
          'error',
          `${this.name}: stopping with ${this.#owed.length} claimed slot(s) unsent: ${this.#owed.map((o) => `${o.entry}@${new Date(o.due).toISOString()}`).join(', ')}`,
        );
      if (this.#leader) {
        await store
          .release(this.token)
          .catch((err: Error) => this.logger.log('warn', `${this.name}: release failed: ${err.message}`));
        this.#leader = false;
      }
      if (this.#ownsStore && wasRunning) await store.close();
    }
    this.#state = 'stopped';
    this.logger.log('info', `${this.name} stopped`);
  }

  async #run(): Promise<void> {
    while (this.#state === 'running') {
      let wait: number;
      try {
        wait = await this.tick();
        this.#failures = 0;
      } catch (err) {
        this.#failures++;
        // Keep going: a store or broker outage ends, and a beat that died here would silently stop
        // sending. Back off, but never longer than a third of the lease (a leader must keep renewing).
        wait = Math.min(100 * 2 ** Math.min(this.#failures, 10), this.#leaseMs / 3);
        this.logger.log(
          'error',
          `${this.name}: beat pass failed (${this.#failures} in a row, leader=${this.#leader}); retrying in ${Math.round(wait)} ms: ${(err as Error).stack ?? String(err)}`,
        );
      }
      if (this.#state !== 'running') break;
      await this.#sleep(wait);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = this.#clock.setTimeout(done, Math.max(0, ms));
      function done() {
        resolve();
      }
      this.#wake = () => {
        this.#clock.clearTimeout(handle);
        this.#wake = null;
        resolve();
      };
    });
  }

  /**
   * One pass: leadership, then (as leader) every due slot. Returns the milliseconds until the next pass
   * is needed. Public so that tests drive beats with an injected clock, without the loop.
   */
  async tick(): Promise<number> {
    const store = this.#store;
    if (!store) throw new ConfigError('beat.tick() needs a store: call start(), or pass `store`');
    let now = this.#clock.now();
    await this.#sendOwed();
    await this.#leadership(store, now);
    if (!this.#leader) return Math.min(Math.max(1, this.#acquireAt - now), this.#maxLoopMs);
    let wake = Math.min(this.#renewAt, now + this.#maxLoopMs);
    for (const entry of this.entries) {
      now = this.#clock.now();
      if (now >= this.#leaseUntil) {
        this.#stepDown('the lease ran out before it could be renewed');
        return 0;
      }
      const last = this.#last.get(entry.name) ?? now;
      const due = dueSlot(entry.schedule, last, now);
      if (due === null) {
        wake = Math.min(wake, entry.schedule.next(last));
        continue;
      }
      const got = await store.claim(this.token, entry.name, due);
      if (got === 'not-leader') {
        this.#stepDown(`the store refused the claim of ${entry.name}@${new Date(due).toISOString()}`);
        return 0;
      }
      this.#last.set(entry.name, due);
      if (got === 'claimed') {
        const first = entry.schedule.next(last);
        if (first < due)
          this.logger.log(
            'info',
            `${this.name}: ${entry.name} missed slots from ${new Date(first).toISOString()}; sending the latest (${new Date(due).toISOString()}) once`,
          );
        await this.#send(entry, due);
      }
      wake = Math.min(wake, entry.schedule.next(due));
    }
    if (this.#owed.length) wake = Math.min(wake, now + 1000);
    return Math.max(0, wake - this.#clock.now());
  }

  async #leadership(store: BeatStore, now: number): Promise<void> {
    if (this.#leader && now >= this.#renewAt) {
      if (await store.renew(this.token, this.#leaseMs)) {
        this.#leaseUntil = now + this.#leaseMs;
        this.#renewAt = now + this.#leaseMs / 3;
      } else {
        this.#stepDown('the renewal was refused (another beat holds the lease)');
      }
    }
    if (this.#leader || now < this.#acquireAt) return;
    if (!(await store.acquire(this.token, this.#leaseMs))) {
      this.#acquireAt = now + this.#acquireEveryMs;
      return;
    }
    this.#leader = true;
    this.#leaseUntil = now + this.#leaseMs;
    this.#renewAt = now + this.#leaseMs / 3;
    const dropped = await store.prune(
      this.token,
      this.entries.map((e) => e.name),
    );
    if (dropped.length)
      this.logger.log('info', `${this.name}: dropped the state of removed entries: ${dropped.join(', ')}`);
    let stored = await store.lastRuns();
    const fresh = this.entries.filter((e) => !stored.has(e.name));
    if (fresh.length) {
      // On a whole second: an interval's slots are the baseline plus multiples of it, so they fall on
      // whole seconds too (readable in logs and `--list`, the same on every beat).
      const base = baselineOf(now);
      for (const e of fresh) await store.baseline(this.token, e.name, base);
      // Read back once: a baseline is only set where none exists, so another beat's may have won.
      stored = await store.lastRuns();
      for (const e of fresh) if (!stored.has(e.name)) stored.set(e.name, base);
    }
    this.#last = stored;
    this.logger.log('info', `${this.name} is now the leader (pid ${process.pid}, store=${store.kind})`);
  }

  #stepDown(why: string): void {
    this.#leader = false;
    this.#acquireAt = 0;
    this.logger.log('warn', `${this.name} is no longer the leader: ${why}`);
  }

  async #send(entry: BeatEntry, due: number): Promise<void> {
    const slot: SentSlot = { entry: entry.name, task: entry.task, due, id: slotTaskId(entry.name, due) };
    try {
      await this.#publish(entry, slot);
    } catch (err) {
      this.#owed.push(slot);
      throw err;
    }
  }

  async #publish(entry: BeatEntry, slot: SentSlot): Promise<void> {
    await appInternals(this.app).publish(
      entry.task,
      [...entry.args],
      { ...entry.options, kwargs: { ...entry.kwargs }, taskId: slot.id },
      this.app.tasks.get(entry.task),
    );
    this.sent.push(slot);
    this.logger.log(
      'info',
      `${this.name}: sent ${entry.task}[${slot.id}] for ${entry.name}@${new Date(slot.due).toISOString()}`,
    );
  }

  async #sendOwed(): Promise<void> {
    while (this.#owed.length) {
      const slot = this.#owed[0] as SentSlot;
      const entry = this.entries.find((e) => e.name === slot.entry);
      if (entry) await this.#publish(entry, slot);
      this.#owed.shift();
    }
  }
}
