/**
 * The one signature → send options translation (task/signature.ts): its mapping, and the three paths
 * that used to disagree (a chain's later steps dropped `countdown`; retries dropped `shadow` and
 * `ignoreResult`), observed on the messages the worker publishes (before_task_publish).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SignatureJson } from '../../src/index.js';
import { currentTask } from '../../src/index.js';
import { parseTaskMessage } from '../../src/protocol/message.js';
import { sendOptionsFromSignature, signatureCall, signatureFromRequest } from '../../src/task/signature.js';
import { memoryApp, type TestApp } from '../helpers/app.js';
import { waitUntil } from '../helpers/services.js';

let t: TestApp;
afterEach(async () => {
  await t?.close();
});

const sig = (
  task: string,
  options: Record<string, unknown>,
  extra: Partial<SignatureJson> = {},
): SignatureJson => ({
  task,
  args: [1],
  kwargs: { k: 2 },
  options,
  subtask_type: null,
  immutable: false,
  ...extra,
});

describe('sendOptionsFromSignature', () => {
  it("maps Celery's option names and drops values of the wrong type", () => {
    const eta = '2030-01-02T03:04:05.000000+00:00';
    expect(
      sendOptionsFromSignature(
        sig('t', {
          task_id: 'id1',
          queue: 'q',
          priority: 5,
          countdown: 2,
          eta,
          expires: 30,
          group_id: 'g',
          group_index: 1,
          root_id: 'root',
          parent_id: 'parent',
          shadow: 'alias',
          ignore_result: true,
          time_limit: 10,
          soft_time_limit: 5,
          reply_to: 'oid',
          retries: 3,
          link: [sig('cb', {})],
          priority_bogus: 1,
        }),
      ),
    ).toEqual({
      kwargs: { k: 2 },
      taskId: 'id1',
      queue: 'q',
      priority: 5,
      countdown: 2,
      eta: new Date('2030-01-02T03:04:05Z'),
      expires: 30,
      group: 'g',
      groupIndex: 1,
      rootId: 'root',
      parentId: 'parent',
      shadow: 'alias',
      ignoreResult: true,
      timeLimit: 10,
      softTimeLimit: 5,
      replyTo: 'oid',
      retries: 3,
      link: [sig('cb', {})],
    });
    expect(sendOptionsFromSignature(sig('t', { countdown: '2', queue: 7, eta: 'not a date' }))).toEqual({
      kwargs: { k: 2 },
    });
  });

  it('prepends the parent result unless the signature is immutable; the caller’s options win', () => {
    expect(signatureCall(sig('t', { queue: 'a', countdown: 1 }), ['parent'], { queue: 'b' })).toEqual({
      name: 't',
      args: ['parent', 1],
      options: { kwargs: { k: 2 }, queue: 'b', countdown: 1 },
    });
    expect(signatureCall(sig('t', {}, { immutable: true }), ['parent'], {}).args).toEqual([1]);
  });
});

/** The headers of every message this app publishes, in order. */
function published(): Array<{ headers: Record<string, unknown> }> {
  const out: Array<{ headers: Record<string, unknown> }> = [];
  t.app.on('before_task_publish', ({ headers }) => void out.push({ headers }));
  return out;
}

describe('the paths that share it', () => {
  it("keeps a chain's later step's countdown", async () => {
    t = memoryApp();
    const first = t.app.task('sig.first', (x: number) => x + 1);
    const second = t.app.task('sig.second', (x: number) => x * 10);
    const sent = published();
    await t.startWorker();
    const later = { ...second.s(), options: { countdown: 30 } };
    const before = Date.now();
    await t.app.chain([first.s(1), later]);
    await waitUntil(() => sent.length === 2, 5000, 'the second step published by the worker');
    const step = sent[1]?.headers as Record<string, unknown>;
    expect(step.task).toBe('sig.second');
    const eta = new Date(step.eta as string).getTime();
    expect(eta).toBeGreaterThanOrEqual(before + 29_000);
    expect(eta).toBeLessThanOrEqual(Date.now() + 31_000);
  });

  it('keeps shadow and ignoreResult on a retry (and counts it)', async () => {
    t = memoryApp();
    const flaky = t.app.task('sig.retrying', () => {
      const ctx = currentTask();
      if (ctx.retries < 1) throw ctx.retry({ countdown: 0 });
      return 'ok';
    });
    const sent = published();
    await t.startWorker();
    const r = await flaky.applyAsync([], { shadow: 'friendly.name', ignoreResult: true });
    await waitUntil(() => sent.length === 2, 5000, 'the retry published by the worker');
    const retry = sent[1]?.headers as Record<string, unknown>;
    expect(retry).toMatchObject({
      id: r.id,
      task: 'sig.retrying',
      retries: 1,
      shadow: 'friendly.name',
      ignore_result: true,
    });
    // A worker's publishes carry its node name as origin; the client's keep the app's own.
    expect(retry.origin).toBe(t.app.conf.workerHostname.replace('%h', (await import('node:os')).hostname()));
    expect(sent[0]?.headers.origin).toMatch(/^gen\d+@/);
  });

  it('turns a request back into a signature (Task.signature_from_request)', () => {
    const parsed = parseTaskMessage(
      {
        body: Buffer.from(
          JSON.stringify([[1], { a: 2 }, { callbacks: null, errbacks: null, chain: null, chord: null }]),
        ),
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: {
          task: 'x',
          id: 'id9',
          root_id: 'r',
          group: 'g',
          shadow: 's',
          ignore_result: true,
          timelimit: [10, null],
        },
        properties: { reply_to: 'oid', priority: 3 },
      },
      ['json'],
    );
    if (!parsed.ok) throw parsed.error;
    expect(signatureFromRequest(parsed.request)).toEqual({
      task: 'x',
      args: [1],
      kwargs: { a: 2 },
      options: {
        task_id: 'id9',
        root_id: 'r',
        parent_id: 'id9',
        group_id: 'g',
        time_limit: 10,
        priority: 3,
        reply_to: 'oid',
        shadow: 's',
        ignore_result: true,
      },
      subtask_type: null,
      immutable: true,
    });
  });
});
