/**
 * JSON as kombu speaks it. We write plain JSON (Celery 5.2 workers cannot decode kombu >= 5.3's type
 * markers), so a Date becomes an ISO string. We read the markers `{"__type__": …, "__value__": …}` that
 * kombu >= 5.3 writes: datetime becomes a Date, base64 a Buffer, uuid a canonical string, and decimal,
 * date, time and bytes keep their text (JavaScript has no lossless equivalent). Pure: no I/O.
 */
import { EncodeError, ProtocolError } from '../errors.js';

/**
 * JSON.stringify, with its failures as EncodeError: TypeError for a BigInt or a circular structure,
 * RangeError when the value is nested deeper than the stack (a result 100,000 levels deep).
 */
export function encodeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    const e = err as Error;
    const why = e instanceof RangeError ? `nested too deeply to encode (${e.message})` : e.message;
    throw new EncodeError(`cannot encode as JSON: ${why}`, { cause: err });
  }
}

/**
 * JSON byte for byte as Python's `json.dumps` writes it by default (kombu's encoder): `", "` and `": "`
 * separators, non-ASCII escaped as `\uXXXX` (ensure_ascii). For the few places where our bytes must
 * equal a Python peer's, such as a Redis chord part, which a sorted set deduplicates by its bytes.
 */
export function encodePythonJson(value: unknown): string {
  if (value === null || value === undefined || typeof value === 'function') return 'null';
  if (typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function')
    return encodePythonJson((value as { toJSON(): unknown }).toJSON());
  if (Array.isArray(value)) return `[${value.map(encodePythonJson).join(', ')}]`;
  if (typeof value === 'object') {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || typeof v === 'function') continue; // as JSON.stringify leaves them out
      parts.push(`${asciiJson(k)}: ${encodePythonJson(v)}`);
    }
    return `{${parts.join(', ')}}`;
  }
  return typeof value === 'string' ? asciiJson(value) : (JSON.stringify(value) ?? 'null');
}

const asciiJson = (s: string): string =>
  JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function uuidFromHex(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function reviveMarker(value: Record<string, unknown>): unknown {
  const type = value.__type__;
  const v = value.__value__;
  switch (type) {
    case 'datetime':
      return parseIsoDate(String(v));
    case 'date':
    case 'time':
    case 'decimal':
    case 'bytes':
      return String(v);
    case 'uuid': {
      const hex = typeof v === 'object' && v !== null ? (v as { hex?: unknown }).hex : v;
      return uuidFromHex(String(hex).replace(/-/g, ''));
    }
    case 'base64':
      return Buffer.from(String(v), 'base64');
    default:
      throw new ProtocolError(`unknown kombu JSON type marker "${String(type)}"`);
  }
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 2 && '__type__' in value && '__value__' in value) {
      return reviveMarker(value as Record<string, unknown>);
    }
  }
  return value;
}

export function decodeJson(text: string): unknown {
  // The reviver costs a call per value; only pay it when a marker can be present.
  return text.includes('"__type__"') ? JSON.parse(text, reviver) : JSON.parse(text);
}

/**
 * Parse an ISO-8601 timestamp as Celery writes it (microseconds, `+00:00` offset). A naive timestamp
 * (no offset) is read as UTC, the default `timezone` setting, never as the machine's local time.
 */
export function parseIsoDate(text: string): Date {
  const hasOffset = /(?:[zZ]|[+-]\d\d:?\d\d)$/.test(text);
  const d = new Date(hasOffset ? text : `${text}Z`);
  if (Number.isNaN(d.getTime())) throw new ProtocolError(`invalid ISO-8601 timestamp "${text}"`);
  return d;
}

/**
 * Format as Python's `datetime.isoformat()` of an aware UTC datetime: `2026-11-23T23:08:07.278000+00:00`.
 * Like Python, a whole second has no fraction at all: `2030-01-02T03:04:05+00:00` (captured from Celery 5.2).
 */
export function toIsoUtc(d: Date): string {
  const t = d.getTime();
  if (t === lastIso.t) return lastIso.s;
  const s = d.toISOString(); // 2026-11-23T23:08:07.278Z
  const out = d.getUTCMilliseconds() === 0 ? `${s.slice(0, -5)}+00:00` : `${s.slice(0, -1)}000+00:00`;
  lastIso.t = t;
  lastIso.s = out;
  return out;
}
/**
 * The last timestamp formatted: a busy worker stores dozens of results within one millisecond, each with
 * its `date_done`, and formatting was ~1.5 µs of a no-op task's ~28. One entry: nothing to grow or evict.
 */
const lastIso = { t: Number.NaN, s: '' };
