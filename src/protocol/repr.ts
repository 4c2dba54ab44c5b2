/**
 * Python's repr() of JSON-like values, for the `argsrepr`/`kwargsrepr` headers that Celery's logs,
 * events and Flower show. Truncated like Celery's saferepr to 1024 characters. Pure.
 */
const MAX = 1024;

function reprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

function reprNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Number.POSITIVE_INFINITY) return 'inf';
  if (n === Number.NEGATIVE_INFINITY) return '-inf';
  return String(n);
}

export function pyRepr(value: unknown, depth = 0): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return reprNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return reprString(value);
  if (depth > 20) return '...';
  if (value instanceof Date) return reprString(value.toISOString());
  if (Buffer.isBuffer(value)) return `b${reprString(value.toString('latin1'))}`;
  if (Array.isArray(value)) return `[${value.map((v) => pyRepr(v, depth + 1)).join(', ')}]`;
  if (typeof value === 'object') {
    const parts = Object.entries(value).map(([k, v]) => `${reprString(k)}: ${pyRepr(v, depth + 1)}`);
    return `{${parts.join(', ')}}`;
  }
  return reprString(String(value));
}

function truncate(s: string): string {
  return s.length > MAX ? `${s.slice(0, MAX - 3)}...` : s;
}

/** repr of a positional-argument tuple: `(2, 3)`, `(1,)`, `()`. */
export function argsRepr(args: readonly unknown[]): string {
  if (args.length === 1) return truncate(`(${pyRepr(args[0])},)`);
  return truncate(`(${args.map((a) => pyRepr(a)).join(', ')})`);
}

export function kwargsRepr(kwargs: Record<string, unknown>): string {
  return truncate(pyRepr(kwargs));
}
