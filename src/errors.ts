/**
 * One error root for everything Celeriac throws. Every subclass carries a stable `code` that callers can
 * switch on; messages may improve between releases, codes do not.
 *
 * Task failures that cross the wire keep Celery's triple (`excType`, `excModule`, message args) so a
 * Python client re-raises our errors and we re-raise theirs.
 */
export class CeleriacError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A setting or option is invalid: misspelt, wrong type, out of range. Thrown at definition time. */
export class ConfigError extends CeleriacError {
  constructor(message: string) {
    super('E_CONFIG', message);
  }
}

/** A message could not be decoded or is neither protocol v1 nor v2. */
export class ProtocolError extends CeleriacError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_PROTOCOL', message, options);
  }
}

/** The content type of a message is not on the accept-list (`acceptContent`). */
export class ContentDisallowed extends CeleriacError {
  constructor(contentType: string) {
    super('E_CONTENT_DISALLOWED', `Refusing to deserialize untrusted content of type ${contentType}`);
  }
}

/** A message is larger than `workerMessageSizeLimit`. */
export class MessageTooLarge extends CeleriacError {
  /** `size` null: a compressed body that inflates past the limit (it is not inflated further to learn by how much). */
  constructor(size: number | null, limit: number) {
    super(
      'E_MESSAGE_TOO_LARGE',
      size === null
        ? `compressed message body inflates to more than the limit of ${limit} bytes`
        : `message of ${size} bytes is over the limit of ${limit} bytes`,
    );
  }
}

/**
 * A value cannot be encoded as JSON: a BigInt, a circular structure, or nesting deeper than the encoder's
 * stack (kombu's EncodeError). A task whose result cannot be stored gets a FAILURE with it instead.
 */
export class EncodeError extends CeleriacError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_ENCODE', message, options);
  }
}

/** The worker received a task name that no task is registered under. */
export class NotRegistered extends CeleriacError {
  constructor(name: string) {
    super('E_NOT_REGISTERED', name);
  }
}

/** A broker or result backend driver failed; `retryable` tells whether reconnecting may help. */
export class BrokerError extends CeleriacError {
  readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super('E_BROKER', message, options);
    this.retryable = options.retryable;
  }
}

/** An optional driver package (ioredis, amqplib, better-sqlite3) is not installed. */
export class DriverMissingError extends CeleriacError {
  constructor(pkg: string, scheme: string) {
    super('E_DRIVER_MISSING', `The ${scheme}:// transport needs the "${pkg}" package: npm install ${pkg}`);
  }
}

/** `AsyncResult.get()` ran past its timeout. */
export class ResultTimeoutError extends CeleriacError {
  constructor(taskId: string, timeout: number) {
    super('E_RESULT_TIMEOUT', `The operation timed out after ${timeout}s waiting for task ${taskId}`);
  }
}

/** The soft time limit of a task was reached; raised inside the task through its AbortSignal. */
export class SoftTimeLimitExceeded extends CeleriacError {
  constructor(seconds: number) {
    super('E_SOFT_TIME_LIMIT', `SoftTimeLimitExceeded(${seconds})`);
  }
}

/** The hard time limit of a task was reached; the task failed and its slot was freed. */
export class TimeLimitExceeded extends CeleriacError {
  constructor(seconds: number) {
    super('E_TIME_LIMIT', `TimeLimitExceeded(${seconds})`);
  }
}

/** The process or thread running a task died before reporting back. */
export class WorkerLostError extends CeleriacError {
  constructor(message: string) {
    super('E_WORKER_LOST', message);
  }
}

/** The task was revoked (by request or because it expired). */
export class TaskRevokedError extends CeleriacError {
  constructor(reason: string) {
    super('E_REVOKED', reason);
  }
}

/** A retry was requested but the task already used up `maxRetries`. */
export class MaxRetriesExceededError extends CeleriacError {
  constructor(name: string, id: string, maxRetries: number) {
    super('E_MAX_RETRIES', `Can't retry ${name}[${id}] args:... kwargs:... (maxRetries=${maxRetries})`);
  }
}

/**
 * A task failed. On the client this is what `AsyncResult.get()` rejects with: it keeps Celery's
 * exception triple and the remote traceback, whichever language raised it.
 */
export class TaskError extends CeleriacError {
  readonly excType: string;
  readonly excModule: string;
  readonly excMessage: unknown[];
  readonly traceback: string | null;
  constructor(excType: string, excModule: string, excMessage: unknown[], traceback: string | null) {
    super(
      'E_TASK_FAILED',
      `${excType}: ${excMessage.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(', ')}`,
    );
    this.excType = excType;
    this.excModule = excModule;
    this.excMessage = excMessage;
    this.traceback = traceback;
  }
}

/**
 * Control flow, not failures: thrown by tasks to ask the worker for a retry, a reject or to ignore the
 * result. `currentTask().retry()` returns a Retry to throw.
 */
export class Retry extends CeleriacError {
  readonly eta: Date | null;
  readonly countdown: number | null;
  readonly exc: unknown;
  readonly maxRetries: number | undefined;
  constructor(opts: {
    eta?: Date | null;
    countdown?: number | null;
    exc?: unknown;
    maxRetries?: number | undefined;
  }) {
    super('E_RETRY', `Retry in ${opts.countdown ?? '?'}s`);
    this.eta = opts.eta ?? null;
    this.countdown = opts.countdown ?? null;
    this.exc = opts.exc;
    this.maxRetries = opts.maxRetries;
  }
}

/** Throw from a task to reject its message (`requeue` puts it back; false drops or dead-letters it). */
export class Reject extends CeleriacError {
  readonly requeue: boolean;
  constructor(reason: string, requeue = false) {
    super('E_REJECT', reason);
    this.requeue = requeue;
  }
}

/** Throw from a task to finish it without storing any state. */
export class Ignore extends CeleriacError {
  constructor(message = 'ignored') {
    super('E_IGNORE', message);
  }
}

/**
 * Thrown by `currentTask().replace(sig)`: the task ends without a state of its own (as Ignore) and the
 * worker publishes `signature` in its place, under the same task id (Celery's Task.replace).
 */
export class Replaced extends Ignore {
  readonly signature: Readonly<Record<string, unknown>>;
  constructor(signature: Readonly<Record<string, unknown>>) {
    super('Replaced by new task');
    this.signature = signature;
  }
}

/**
 * A chord could not complete: a header task failed (`Dependency <id> raised <repr>`), or its body could
 * not be sent. Stored as the body's result with Celery's class, celery.exceptions.ChordError.
 */
export class ChordError extends CeleriacError {
  constructor(message: string) {
    super('E_CHORD', message);
  }
}

/**
 * A canvas in a message or a built-in task's arguments is malformed (a signature that is not an object,
 * args that are not a list, a chord without a body …). The task it came with fails with this, and the
 * worker goes on. Python clients see a TypeError, as Celery raises for such input.
 */
export class CanvasError extends CeleriacError {
  constructor(message: string) {
    super('E_CANVAS', message);
  }
}

/**
 * The result backend cannot run chords (rpc://, or none configured). Python clients see Celery's
 * NotImplementedError with the same message.
 */
export class ChordsUnsupported extends CeleriacError {
  constructor(message: string) {
    super('E_NO_CHORDS', message);
  }
}
