/**
 * Python-style reprs of JSON-like values. Pure.
 *
 * - `argsRepr` / `kwargsRepr` / `safeRepr` reproduce Celery's `saferepr(value, 1024)` (celery/utils/saferepr.py),
 *   which is what Celery puts in the `argsrepr`/`kwargsrepr` headers and what logs, events and Flower show.
 *   It is NOT Python's repr(): strings are always single-quoted with only `'` escaped (a newline stays a raw
 *   newline), containers deeper than 3 levels print as `[...]`/`{...}`, and output is cut once about 1024
 *   characters are spent, with `, ...` and the still-open brackets closed.
 * - `pyRepr` is Python's own repr() (quote choice, `\n`, `\xNN`, `\uNNNN` escapes for non-printables).
 *
 * A JavaScript value is repr'd as the value Python gets from our JSON: an integral number is an int, other
 * numbers are floats in Python's notation (`1e-05`, `1e+16`). Golden-tested against Celery 5.2 in
 * test/fixtures/celery52/repr.json.
 */
const MAX = 1024;
const MAX_LEVELS = 3;

/** Python float repr: shortest round-trip digits, scientific when the exponent is < -4 or >= 16. */
function reprNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Number.POSITIVE_INFINITY) return 'inf';
  if (n === Number.NEGATIVE_INFINITY) return '-inf';
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n); // JSON writes digits: a Python int
  const [mantissa = '', exp = '0'] = n.toExponential().split('e');
  const e = Number(exp);
  if (e >= -4 && e < 16) return String(n);
  const sign = e < 0 ? '-' : '+';
  return `${mantissa}e${sign}${String(Math.abs(e)).padStart(2, '0')}`;
}

// ---- Python repr() ----

/** Characters str.isprintable() rejects: Unicode categories C* and Z* except the ASCII space. */
const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

function escapeNonPrintable(code: number): string {
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\U${code.toString(16).padStart(8, '0')}`;
}

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
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) out += escapeNonPrintable(code);
    else out += ch;
  }
  return out + quote;
}

/** Python's repr() of the value Python would decode from our JSON. */
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

// ---- Celery's saferepr ----

/**
 * Tokens of the streaming repr. Brackets (`open`/`close`) are never cut; separators are dropped once the
 * budget is spent; `str` (a quoted string) and `text` (a number, None, `[...]`) are truncated to the budget.
 */
type Token = { kind: 'open' | 'close' | 'sep'; value: string } | { kind: 'str' | 'text'; value: string };

/** Python `len()`: code points, not UTF-16 units. */
function pyLen(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Celery's text truncate: cut to `maxlen` code points, back to the last space, then `...`. */
function truncate(s: string, maxlen: number): string {
  if (s.length < maxlen || pyLen(s) < maxlen) return s;
  const head = Array.from(s).slice(0, maxlen).join('');
  const space = head.lastIndexOf(' ');
  return `${space === -1 ? head : head.slice(0, space)}...`;
}

const quoted = (s: string, budget: number): string => `'${truncate(s, budget).replaceAll("'", "\\'")}'`;

interface Walk {
  stopped: boolean;
}

function* tokens(value: unknown, level: number, walk: Walk, top: boolean): Generator<Token> {
  if (typeof value === 'string' || value instanceof Date) {
    yield { kind: 'str', value: typeof value === 'string' ? value : value.toISOString() };
    return;
  }
  const isArray = Array.isArray(value);
  if (!isArray && (typeof value !== 'object' || value === null || Buffer.isBuffer(value))) {
    yield { kind: 'text', value: pyRepr(value) };
    return;
  }
  const [open, close] = isArray ? (top ? ['(', ')'] : ['[', ']']) : ['{', '}'];
  if (level >= MAX_LEVELS) {
    yield { kind: 'text', value: `${open}...${close}` };
    return;
  }
  yield { kind: 'open', value: open };
  if (isArray) {
    const items = value as unknown[];
    for (let i = 0; i < items.length && !walk.stopped; i++) {
      yield* tokens(items[i], level + 1, walk, false);
      if (i < items.length - 1 && !walk.stopped) yield { kind: 'sep', value: ', ' };
    }
    // A one-element tuple closes with ',)'.
    yield { kind: 'close', value: top && items.length === 1 ? ',)' : close };
  } else {
    const entries = Object.entries(value as Record<string, unknown>);
    for (let i = 0; i < entries.length && !walk.stopped; i++) {
      const [k, v] = entries[i] as [string, unknown];
      yield { kind: 'str', value: k };
      if (!walk.stopped) yield { kind: 'sep', value: ': ' };
      if (!walk.stopped) yield* tokens(v, level + 1, walk, false);
      if (i < entries.length - 1 && !walk.stopped) yield { kind: 'sep', value: ', ' };
    }
    yield { kind: 'close', value: close };
  }
}

/**
 * Celery's saferepr of `value` with a budget of `maxlen` characters. A top-level array is shown as a
 * Python tuple (the args tuple). Once the budget is spent the next token is dropped, `, ...` is written
 * and only the brackets still open are closed, exactly as Celery does.
 */
export function safeRepr(value: unknown, maxlen = MAX, asTuple = false): string {
  const walk: Walk = { stopped: false };
  let budget = maxlen;
  let out = '';
  const stream = tokens(value, 0, walk, asTuple);
  for (const tok of stream) {
    if (budget <= 0) {
      out += ', ...';
      walk.stopped = true;
      for (const rest of stream) if (rest.kind === 'close') out += rest.value;
      break;
    }
    let val: string;
    if (tok.kind === 'str') val = quoted(tok.value, budget);
    else if (tok.kind === 'text') val = truncate(tok.value, budget);
    else val = tok.value;
    out += val;
    budget -= pyLen(val);
  }
  return out;
}

/** `argsrepr` header: saferepr of the positional-argument tuple, `(2, 3)`, `(1,)`, `()`. */
export function argsRepr(args: readonly unknown[]): string {
  return safeRepr(args, MAX, true);
}

/** `kwargsrepr` header: saferepr of the keyword-argument dict. */
export function kwargsRepr(kwargs: Record<string, unknown>): string {
  return safeRepr(kwargs, MAX);
}
