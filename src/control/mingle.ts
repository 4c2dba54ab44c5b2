/**
 * Mingle (Celery's consumer/mingle.py): when a worker starts, it asks the workers already running for
 * their state with the hidden inspect command `hello` (1 s timeout), then merges what they send: each
 * reply's Lamport `clock` (the worker's clock moves past it) and its `revoked` ids, so a task revoked
 * before this worker started is not run by it either. It logs Celery's lines: "mingle: searching for
 * neighbors", then "mingle: all alone" or "mingle: sync with N nodes" … "mingle: sync complete".
 * Nothing here stops the start: a failed exchange is logged and the worker goes on alone.
 */

import type { LamportClock } from '../util/lamport.js';
import type { Logger } from '../util/log.js';
import type { Inspect } from './client.js';

export interface MingleDeps {
  readonly hostname: string;
  readonly inspect: Inspect;
  readonly clock: LamportClock;
  readonly logger: Logger;
  /** This worker's revoked ids (sent), and where the others' go (merged); absent without a revoke middleware. */
  readonly revoked?: { snapshot(): Record<string, unknown>; merge(ids: unknown): void };
}

/** Returns how many nodes it synced with. */
export async function mingle(d: MingleDeps): Promise<number> {
  d.logger.log('info', 'mingle: searching for neighbors');
  let replies: Record<string, unknown>;
  try {
    replies = await d.inspect.hello(d.hostname, d.revoked?.snapshot() ?? null);
  } catch (err) {
    d.logger.log('warn', `mingle: could not ask the other workers: ${(err as Error).message}`);
    return 0;
  }
  delete replies[d.hostname];
  const nodes = Object.entries(replies).filter(([, r]) => r && typeof r === 'object');
  if (!nodes.length) {
    d.logger.log('info', 'mingle: all alone');
    return 0;
  }
  d.logger.log('info', `mingle: sync with ${nodes.length} nodes`);
  for (const [node, reply] of nodes) {
    const r = reply as { clock?: unknown; revoked?: unknown; error?: unknown };
    if (r.error !== undefined) {
      d.logger.log('warn', `mingle: sync with ${node} failed: ${String(r.error)}`);
      continue;
    }
    if (r.clock !== undefined && r.clock !== null) d.clock.adjust(r.clock);
    else d.clock.forward();
    try {
      if (r.revoked) d.revoked?.merge(r.revoked);
    } catch (err) {
      d.logger.log('warn', `mingle: sync with ${node} failed: ${(err as Error).message}`);
    }
  }
  d.logger.log('info', 'mingle: sync complete');
  return nodes.length;
}
