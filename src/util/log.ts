/**
 * Logs in Celery's familiar shape: `[2026-11-24 10:00:00,123: INFO/MainProcess] Task tasks.add[id] received`.
 * Callers check `enabled(level)` before building a message on hot paths, so logging off costs nothing.
 */
/** `warn` and `warning` are the same level: JavaScript's name and Python's (Celery's `-l warning`). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'warning' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, warning: 30, error: 40 };
const LABEL: Record<LogLevel, string> = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  warning: 'WARNING',
  error: 'ERROR',
};

export interface Logger {
  enabled(level: LogLevel): boolean;
  log(level: LogLevel, message: string): void;
}

function stamp(d: Date): string {
  const iso = d.toISOString(); // 2026-11-24T10:00:00.123Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)},${iso.slice(20, 23)}`;
}

export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stderr.write(l),
  processName = 'MainProcess',
): Logger {
  const min = ORDER[level];
  if (min === undefined)
    throw new Error(`unknown log level "${level}" (debug, info, warning or warn, error)`);
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
