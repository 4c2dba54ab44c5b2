/**
 * The one translation between Celery's signature options (snake_case, as they travel inside messages:
 * chain steps, link callbacks, canvas) and Celeriac's SendOptions. Canvas, the app and the worker's
 * callbacks and retries all go through it, so a chain step keeps its `countdown` and a retry keeps its
 * `shadow` and `ignore_result` whichever path publishes it.
 *
 * A retry is Celery's `Task.retry`: the request turned back into a signature (`signatureFromRequest`,
 * after `Task.signature_from_request`) and applied again with `retries + 1` and a new ETA.
 */
import { parseIsoDate, toIsoUtc } from '../protocol/json.js';
import type { SignatureJson, TaskRequest } from '../protocol/message.js';
import type { SendOptions } from './options.js';

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const sigs = (v: unknown): SignatureJson[] | undefined =>
  Array.isArray(v) ? (v.filter((s) => typeof s === 'object' && s !== null) as SignatureJson[]) : undefined;

function dateOf(v: unknown): Date | undefined {
  if (v instanceof Date) return v;
  if (typeof v !== 'string' || !v) return undefined;
  try {
    return parseIsoDate(v);
  } catch {
    return undefined; // an unreadable date is dropped rather than failing the whole workflow
  }
}

/** Send options carried by a signature (Celery's `sig.options` plus its kwargs). */
export function sendOptionsFromSignature(sig: SignatureJson): SendOptions {
  const o = (sig.options ?? {}) as Record<string, unknown>;
  const out: SendOptions = { kwargs: sig.kwargs ?? {} };
  const taskId = str(o.task_id);
  if (taskId) out.taskId = taskId;
  const queue = str(o.queue);
  if (queue) out.queue = queue;
  const priority = num(o.priority);
  if (priority !== undefined) out.priority = priority;
  const countdown = num(o.countdown);
  if (countdown !== undefined) out.countdown = countdown;
  const eta = dateOf(o.eta);
  if (eta) out.eta = eta;
  const expires = typeof o.expires === 'number' ? o.expires : dateOf(o.expires);
  if (expires !== undefined) out.expires = expires;
  const group = str(o.group_id);
  if (group) out.group = group;
  const groupIndex = num(o.group_index);
  if (groupIndex !== undefined) out.groupIndex = groupIndex;
  const rootId = str(o.root_id);
  if (rootId) out.rootId = rootId;
  const parentId = str(o.parent_id);
  if (parentId) out.parentId = parentId;
  const shadow = str(o.shadow);
  if (shadow) out.shadow = shadow;
  if (typeof o.ignore_result === 'boolean') out.ignoreResult = o.ignore_result;
  const timeLimit = num(o.time_limit);
  if (timeLimit !== undefined) out.timeLimit = timeLimit;
  const softTimeLimit = num(o.soft_time_limit);
  if (softTimeLimit !== undefined) out.softTimeLimit = softTimeLimit;
  const replyTo = str(o.reply_to);
  if (replyTo) out.replyTo = replyTo;
  const retries = num(o.retries);
  if (retries !== undefined) out.retries = retries;
  const link = sigs(o.link);
  if (link) out.link = link;
  const linkError = sigs(o.link_error);
  if (linkError) out.linkError = linkError;
  const chain = sigs(o.chain);
  if (chain) out.chain = chain;
  // A chord header member carries its chord's body (Celery's `chord` option, `embed.chord` on the wire).
  if (typeof o.chord === 'object' && o.chord !== null && !Array.isArray(o.chord))
    out.chord = o.chord as SignatureJson;
  return out;
}

/**
 * Publishing a signature: its args after `prepend` (the parent's result) unless it is immutable, and its
 * own options under `extra` (what the caller fixes: parent, root, remaining chain).
 */
export function signatureCall(
  sig: SignatureJson,
  prepend: readonly unknown[],
  extra: SendOptions,
): { name: string; args: unknown[]; options: SendOptions } {
  const own = sendOptionsFromSignature(sig);
  const args = sig.immutable ? [...(sig.args ?? [])] : [...prepend, ...(sig.args ?? [])];
  return {
    name: sig.task,
    args,
    options: { ...own, ...extra, kwargs: { ...own.kwargs, ...extra.kwargs } },
  };
}

/** The request as a signature that runs it again (Celery's `Task.signature_from_request`). */
export function signatureFromRequest(req: TaskRequest): SignatureJson {
  const options: Record<string, unknown> = {
    task_id: req.id,
    root_id: req.rootId,
    // As before this translation existed: a retry names the attempt it replaces as its parent.
    parent_id: req.id,
  };
  if (req.group) options.group_id = req.group;
  if (req.groupIndex !== null) options.group_index = req.groupIndex;
  if (req.timeLimit[0] !== null) options.time_limit = req.timeLimit[0];
  if (req.timeLimit[1] !== null) options.soft_time_limit = req.timeLimit[1];
  if (req.priority !== null) options.priority = req.priority;
  if (req.expires) options.expires = toIsoUtc(req.expires);
  // The retry answers the same client (its rpc:// reply queue).
  if (req.replyTo) options.reply_to = req.replyTo;
  if (req.shadow) options.shadow = req.shadow;
  if (req.ignoreResult) options.ignore_result = true;
  if (req.embed.callbacks) options.link = req.embed.callbacks;
  if (req.embed.errbacks) options.link_error = req.embed.errbacks;
  if (req.embed.chain) options.chain = req.embed.chain;
  if (req.embed.chord) options.chord = req.embed.chord;
  return {
    task: req.name,
    args: req.args,
    kwargs: req.kwargs,
    options,
    subtask_type: null,
    immutable: true,
  };
}
