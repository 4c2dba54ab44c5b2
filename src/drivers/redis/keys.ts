/**
 * Every Redis key and channel name Celeriac touches, in one place (kombu's and Celery's layout,
 * celery-wire.md §2 and §4), for the Redis broker and result backend alike. Nothing else in the Redis
 * adapters spells a key.
 *
 * Broker (kombu, `global_keyprefix` in front of every key and channel, no separator added):
 *   <queue>                          list, priority bucket 0 (highest); LPUSH in, BRPOP out
 *   <queue>\x06\x16<3|6|9>           lists, the other priority buckets
 *   _kombu.binding.<exchange>        set of `<routing_key>\x06\x16<pattern>\x06\x16<queue>`
 *   unacked                          hash  delivery_tag → JSON [envelope, exchange, routing_key]
 *   unacked_index                    zset  delivery_tag → epoch seconds of delivery (or of our last renewal)
 *   unacked_mutex                    string, lock held while restoring timed-out deliveries
 *   /<db>.<exchange>[/<routing_key>] PUB/SUB channel of a fanout exchange (PSUBSCRIBE, `#` → `*`)
 *   _celeriac.take.<uuid>            (ours, lives 60 s) receipt of one take, so a take script resent after a
 *                                    lost reply returns the same messages instead of popping more
 *
 * Beat (ours; the broker's global_keyprefix in front, or the result backend's when the broker is AMQP):
 *   _celeriac.beat.lease             string, the leader's token; SET NX PX, renewed and released by scripts
 *   _celeriac.beat.last              hash  entry name → epoch ms of its last claimed slot (or baseline)
 *   _celeriac.beat.claim.<ms>.<name> string, one per claimed slot, expires after a day (beat/store.ts)
 *
 * Result backend (Celery, its own prefix; `_` is appended unless it ends in one of `:_-.`):
 *   celery-task-meta-<task_id>       string JSON meta, and the pub/sub channel of the same name
 *   celery-taskset-meta-<group_id>   string {"result": GroupResult tuple}
 *   celery-taskset-meta-<gid>.j      zset of chord part results (score = group_index)
 *   celery-taskset-meta-<gid>.t      int, extra parts added by add_to_chord
 *   celery-taskset-meta-<gid>.s      int, chord size
 */

export const DEFAULT_SEP = '\x06\x16';
export const DEFAULT_PRIORITY_STEPS: readonly number[] = [0, 3, 6, 9];

/** kombu's mapping: clamp to 0..9 (non-integers → 0), then the largest step ≤ p. */
export function priorityStep(priority: unknown, steps: readonly number[] = DEFAULT_PRIORITY_STEPS): number {
  const p = typeof priority === 'number' && Number.isFinite(priority) ? Math.trunc(priority) : 0;
  const clamped = Math.min(9, Math.max(0, p));
  let step = steps[0] ?? 0;
  for (const s of steps) if (s <= clamped) step = s;
  return step;
}

export interface BrokerKeyOptions {
  globalKeyprefix: string;
  sep: string;
  prioritySteps: readonly number[];
  /** The Redis database number, for the `/{db}.` fanout prefix. */
  db: number;
  /** kombu's fanout_prefix: true → `/{db}.`, false → none, a string → that prefix. */
  fanoutPrefix: boolean | string;
  /** kombu's fanout_patterns: routing keys become part of the channel name. */
  fanoutPatterns: boolean;
}

export class BrokerKeys {
  readonly prefix: string;
  readonly sep: string;
  readonly steps: readonly number[];
  readonly unacked: string;
  readonly unackedIndex: string;
  readonly unackedMutex: string;
  readonly #fanoutPrefix: string;
  readonly #fanoutPatterns: boolean;

  constructor(o: BrokerKeyOptions) {
    this.prefix = o.globalKeyprefix;
    this.sep = o.sep;
    this.steps = [...o.prioritySteps].sort((a, b) => a - b);
    this.unacked = `${this.prefix}unacked`;
    this.unackedIndex = `${this.prefix}unacked_index`;
    this.unackedMutex = `${this.prefix}unacked_mutex`;
    const fp = o.fanoutPrefix === true ? '/{db}.' : o.fanoutPrefix === false ? '' : o.fanoutPrefix;
    this.#fanoutPrefix = fp.replace('{db}', String(o.db));
    this.#fanoutPatterns = o.fanoutPatterns;
  }

  /** The list holding `queue`'s messages of the given priority (0–9). */
  queue(queue: string, priority: unknown = 0): string {
    const step = priorityStep(priority, this.steps);
    return step ? `${this.prefix}${queue}${this.sep}${step}` : `${this.prefix}${queue}`;
  }

  /** Every bucket list of `queue`, highest priority first. */
  buckets(queue: string): string[] {
    return this.steps.map((s) => this.queue(queue, s));
  }

  /**
   * The BRPOP key order: priority-major (bucket 0 of every queue, then bucket 3 of every queue, …), so a
   * high-priority message of any queue is served before a low-priority one of another.
   */
  brpopOrder(queues: readonly string[]): { key: string; queue: string }[] {
    const out: { key: string; queue: string }[] = [];
    for (const s of this.steps) for (const q of queues) out.push({ key: this.queue(q, s), queue: q });
    return out;
  }

  /** Receipt of one take (Celeriac only; kombu never reads it). */
  takeReceipt(takeId: string): string {
    return `${this.prefix}_celeriac.take.${takeId}`;
  }

  binding(exchange: string): string {
    return `${this.prefix}_kombu.binding.${exchange}`;
  }

  /** A binding set member as kombu writes it: routing key, pattern (topic only), queue. */
  bindingMember(routingKey: string, queue: string, pattern = ''): string {
    return [routingKey, pattern, queue].join(this.sep);
  }

  parseBindingMember(member: string): { routingKey: string; pattern: string; queue: string } {
    const [routingKey = '', pattern = '', queue = ''] = member.split(this.sep);
    return { routingKey, pattern, queue };
  }

  /** The channel a fanout message is PUBLISHed on. */
  fanoutChannel(exchange: string, routingKey = ''): string {
    const rk = routingKey && this.#fanoutPatterns ? `/${routingKey}` : '';
    return `${this.prefix}${this.#fanoutPrefix}${exchange}${rk}`;
  }

  /** The PSUBSCRIBE pattern of a fanout binding (`#` becomes `*`). */
  fanoutPattern(exchange: string, bindingKey = ''): string {
    return this.fanoutChannel(exchange, bindingKey.replaceAll('#', '*'));
  }

  /** The exchange and routing key of a received channel name (kombu strips `/{db}.` the same way). */
  parseFanoutChannel(channel: string): { exchange: string; routingKey: string } {
    let rest = channel.startsWith(this.prefix) ? channel.slice(this.prefix.length) : channel;
    if (this.#fanoutPrefix && rest.startsWith(this.#fanoutPrefix))
      rest = rest.slice(this.#fanoutPrefix.length);
    const slash = rest.indexOf('/');
    return slash < 0
      ? { exchange: rest, routingKey: '' }
      : { exchange: rest.slice(0, slash), routingKey: rest.slice(slash + 1) };
  }
}

/** Celery's result backend keys. */
export class ResultKeys {
  readonly prefix: string;

  constructor(globalKeyprefix = '') {
    // Celery's backend appends '_' to the prefix unless it already ends in a separator.
    this.prefix =
      globalKeyprefix && !/[:_.-]$/.test(globalKeyprefix) ? `${globalKeyprefix}_` : globalKeyprefix;
  }

  /** Also the pub/sub channel a stored meta is published on. */
  task(taskId: string): string {
    return `${this.prefix}celery-task-meta-${taskId}`;
  }
  group(groupId: string): string {
    return `${this.prefix}celery-taskset-meta-${groupId}`;
  }
  chordJoin(groupId: string): string {
    return `${this.group(groupId)}.j`;
  }
  chordExtra(groupId: string): string {
    return `${this.group(groupId)}.t`;
  }
  chordSize(groupId: string): string {
    return `${this.group(groupId)}.s`;
  }
  /** The task id of a meta channel, or null for another channel. */
  taskIdOf(channel: string): string | null {
    const p = `${this.prefix}celery-task-meta-`;
    return channel.startsWith(p) ? channel.slice(p.length) : null;
  }
}

/** Beat's keys (beat/redis-store.ts). */
export class BeatKeys {
  readonly lease: string;
  readonly last: string;
  readonly #prefix: string;

  constructor(prefix = '') {
    this.#prefix = `${prefix}_celeriac.beat.`;
    this.lease = `${this.#prefix}lease`;
    this.last = `${this.#prefix}last`;
  }

  /** The due time comes first, so an entry name with dots cannot make two slots' keys equal. */
  claim(entry: string, due: number): string {
    return `${this.#prefix}claim.${due}.${entry}`;
  }
}
