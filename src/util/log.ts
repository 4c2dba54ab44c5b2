/**
 * Logs in Celery's familiar shape: `[2026-11-24 10:00:00,123: INFO/MainProcess] Task tasks.add[id] received`,
 * or with `format: 'json'` one JSON object per line (`time`, `level`, `worker`, `process`, `task_id`,
 * `task_name`, `message`) for log shippers. Callers check `enabled(level)` before building a message on
 * hot paths, so logging off costs nothing. Lines about one task pass its id and name as `fields`; a line
 * logged from inside a running task gets them from `context` (the worker passes the current task).
 */
/** `warn` and `warning` are the same level: JavaScript's name and Python's (Celery's `-l warning`). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'warning' | 'error';
export type LogFormat = 'plain' | 'json';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, warning: 30, error: 40 };
const LABEL: Record<LogLevel, string> = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  warning: 'WARNING',
  error: 'ERROR',
};

/** What a line is about, for the JSON format (the plain format has them in the message already). */
export interface LogFields {
  readonly taskId?: string;
  readonly taskName?: string;
}

export interface Logger {
  enabled(level: LogLevel): boolean;
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

export interface LogFormatOptions {
  /** @defaultValue 'plain' (Celery's) */
  format?: LogFormat;
  /** The worker's node name, for the JSON `worker` field (a function: it is known after the logger is made). */
  worker?: () => string | null;
  /** The task running now, for lines that pass no fields (a task's own log calls). */
  context?: () => LogFields | undefined;
}

function stamp(d: Date): string {
  const iso = d.toISOString(); // 2026-11-24T10:00:00.123Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)},${iso.slice(20, 23)}`;
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l),
  processName = 'MainProcess',
  options: LogFormatOptions = {},
): Logger {
  const min = ORDER[level];
  if (min === undefined)
    throw new Error(`unknown log level "${level}" (debug, info, warning or warn, error)`);
  if (options.format === 'json') {
    const { worker, context } = options;
    return {
      enabled: (l) => ORDER[l] >= min,
      log(l, message, fields) {
        if (ORDER[l] < min) return;
        const f = fields ?? context?.();
        write(
          `${JSON.stringify({
            time: new Date().toISOString(),
            level: LABEL[l],
            worker: worker?.() ?? null,
            process: processName,
            task_id: f?.taskId ?? null,
            task_name: f?.taskName ?? null,
            message,
          })}\n`,
        );
      },
    };
  }
  return {
    enabled: (l) => ORDER[l] >= min,
    log(l, message) {
      if (ORDER[l] >= min) write(`[${stamp(new Date())}: ${LABEL[l]}/${processName}] ${message}\n`);
    },
  };
}

export function parseLogLevel(value: string): LogLevel {
  const v = value.toLowerCase();
  if (v === 'warning') return 'warn';
  if (v === 'critical' || v === 'fatal') return 'error';
  if (v in ORDER) return v as LogLevel;
  throw new Error(`unknown log level "${value}" (debug, info, warning or warn, error)`);
}

export function parseLogFormat(value: string): LogFormat {
  if (value === 'plain' || value === 'json') return value;
  throw new Error(`unknown log format "${value}" (plain, json)`);
}
