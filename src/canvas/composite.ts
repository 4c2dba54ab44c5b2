/**
 * A signature whose members are other signatures, kept in `kwargs.tasks` as Celery keeps them (a chain's
 * steps, a group's members): what chain and group share. It is never published as one plain message.
 */
import type { SignatureJson } from '../protocol/message.js';
import { type AnySignature, type CanvasApp, Signature, toSignature } from './signature.js';

export abstract class Composite<R, In, H> extends Signature<R, In, H> {
  constructor(
    task: 'celery.chain' | 'celery.group',
    kind: 'chain' | 'group',
    tasks: readonly SignatureJson[],
    options: Record<string, unknown>,
    app: CanvasApp | null,
  ) {
    super(task, [], { tasks: tasks.map((t) => toSignature(t, app)) }, options, { subtask_type: kind, app });
  }

  get tasks(): AnySignature[] {
    return this.kwargs.tasks as AnySignature[];
  }
  override get plain(): boolean {
    return false;
  }
  /** Unbound, a composite runs on the app of its first bound member. */
  protected override memberApp(): CanvasApp | null {
    for (const t of this.tasks) if (t.app) return t.app;
    return null;
  }
}
