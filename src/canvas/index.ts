/**
 * Canvas: groups and chains in Celery's wire layout, so Python workers run ours and ours run theirs.
 *  - group: every member carries `group` (the group id) and `group_index`; the GroupResult is saved
 *    in the backend as Celery's GroupResult.save() does, so `celery result` and Flower find it.
 *  - chain: the first step is published with the remaining steps, reversed, in `embed.chain`; each step's
 *    task id is fixed up front, so the chain's result handle is the last step's id.
 * Signature options become send options through the one translation, task/signature.ts.
 */
import type { App } from '../app/app.js';
import type { SignatureJson } from '../protocol/message.js';
import { uuid } from '../protocol/oid.js';
import { appInternals } from '../task/publisher.js';
import type { AsyncResult, GetOptions } from '../task/result.js';
import { sendOptionsFromSignature } from '../task/signature.js';

export class GroupResult<R = unknown> {
  readonly id: string;
  readonly results: AsyncResult<R>[];
  constructor(id: string, results: AsyncResult<R>[]) {
    this.id = id;
    this.results = results;
  }
  /** Every member's result in order; rejects with the first failure. */
  get(options: GetOptions = {}): Promise<R[]> {
    return Promise.all(this.results.map((r) => r.get(options)));
  }
  async completedCount(): Promise<number> {
    await Promise.all(this.results.map((r) => r.refresh()));
    return this.results.filter((r) => r.successful()).length;
  }
  async ready(): Promise<boolean> {
    await Promise.all(this.results.map((r) => r.refresh()));
    return this.results.every((r) => r.ready());
  }
}

/** Publish signatures as one group; the group result is saved so any client can read it by id. */
export async function applyGroup<R = unknown>(
  app: App,
  sigs: readonly SignatureJson[],
  options: { groupId?: string } = {},
): Promise<GroupResult<R>> {
  const groupId = options.groupId ?? uuid();
  const calls = sigs.map((sig, i) => ({
    name: sig.task,
    args: [...(sig.args ?? [])],
    options: { ...sendOptionsFromSignature(sig), group: groupId, groupIndex: i },
  }));
  const results = await appInternals(app).publishMany<R>(calls);
  const backend = await app.backend();
  await backend.saveGroup(
    groupId,
    results.map((r) => r.id),
    { expires: app.conf.resultExpires },
  );
  return new GroupResult<R>(groupId, results);
}

/** Publish a chain: each step gets the previous step's result as its first argument (unless immutable). */
export async function applyChain<R = unknown>(
  app: App,
  sigs: readonly SignatureJson[],
): Promise<AsyncResult<R>> {
  if (!sigs.length) throw new TypeError('chain() needs at least one signature');
  const steps: SignatureJson[] = sigs.map((s) => ({
    ...s,
    options: { ...(s.options ?? {}), task_id: (s.options?.task_id as string | undefined) ?? uuid() },
  }));
  const [first, ...rest] = steps as [SignatureJson, ...SignatureJson[]];
  const opts = sendOptionsFromSignature(first);
  if (rest.length) opts.chain = [...rest].reverse();
  await appInternals(app).publish(first.task, [...(first.args ?? [])], opts, app.tasks.get(first.task));
  return app.AsyncResult<R>((steps[steps.length - 1] as SignatureJson).options.task_id as string);
}
