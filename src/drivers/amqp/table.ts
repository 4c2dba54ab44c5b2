/**
 * AMQP field tables as py-amqp (Celery's client) writes and reads them, bridged to amqplib.
 *
 * Why this file exists: amqplib guesses integer widths ('b' for -128..127, 's' for 16 bits) and py-amqp
 * reads those tags differently ('b' as unsigned, 's' as a short *string*), so a header such as
 * `retries: 200` would corrupt the frame for a Python worker. And py-amqp writes integers beyond 32 bits
 * with tag 'L', which amqplib's decoder does not know: one such header from a Python client closes the
 * whole connection, and the redelivered message closes it again (a poison loop). So we
 *  - type every value we send ourselves: integers as 'I' (int32) or 'l' (int64), other numbers as 'd',
 *    null as 'V', arrays as 'A', objects as 'F' (the tags py-amqp reads as Celery expects; `timelimit`
 *    stays an array);
 *  - give amqplib a field-table decoder that also reads 'L' and 'U' (see driver.ts for how it is
 *    installed), and turn amqplib's typed wrappers (timestamps, decimals, byte strings) into JSON values.
 */

/** amqplib's "typed value" trapdoor: `{ '!': type, value }`. */
interface Typed {
  '!': string;
  value: unknown;
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

function typedNumber(n: number): Typed {
  if (Number.isInteger(n)) {
    if (n >= INT32_MIN && n <= INT32_MAX) return { '!': 'int', value: n };
    // py-amqp reads 'l' as unsigned 64-bit: right for positive values only; negative ones go as doubles.
    if (n > 0 && Number.isSafeInteger(n)) return { '!': 'long', value: n };
  }
  return { '!': 'double', value: n };
}

/** A JSON-like value typed for amqplib's encoder so that py-amqp reads it back as the same value. */
export function toFieldValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return typedNumber(v);
    case 'bigint':
      return { '!': 'long', value: Number(v) };
    case 'object':
      if (Array.isArray(v)) return v.map(toFieldValue);
      if (Buffer.isBuffer(v)) return v;
      if (v instanceof Date) return v.toISOString();
      return toFieldTable(v as Record<string, unknown>);
    default:
      return String(v);
  }
}

export function toFieldTable(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined) out[k] = toFieldValue(v);
  }
  return out;
}

/** Turn a decoded table back into plain JSON values (timestamps → ISO strings, decimals → numbers). */
export function fromFieldValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(fromFieldValue);
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  const t = v as Partial<Typed>;
  if (typeof t['!'] === 'string' && 'value' in t) {
    if (t['!'] === 'timestamp') return new Date(Number(t.value) * 1000).toISOString();
    if (t['!'] === 'decimal') {
      const d = t.value as { places: number; digits: number };
      return d.digits / 10 ** d.places;
    }
    return fromFieldValue(t.value);
  }
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) out[k] = fromFieldValue(val);
  return out;
}

/**
 * A field-table decoder for amqplib (replaces `codec.decodeFields`). Same output shapes as amqplib's own
 * (so amqplib's internals are unaffected), plus the tags py-amqp and the 0-9-1 spec write that amqplib
 * rejects: 'L' (int64, py-amqp's big integers) and 'U' (int16 in the spec's table).
 */
export function decodeFields(buf: Buffer): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  let off = 0;
  const value = (): unknown => {
    const tag = String.fromCharCode(buf[off++] as number);
    let v: unknown;
    switch (tag) {
      case 't':
        v = buf[off] !== 0;
        off += 1;
        break;
      case 'b':
        v = buf.readInt8(off);
        off += 1;
        break;
      case 'B':
        v = buf.readUInt8(off);
        off += 1;
        break;
      case 's':
      case 'U':
        v = buf.readInt16BE(off);
        off += 2;
        break;
      case 'u':
        v = buf.readUInt16BE(off);
        off += 2;
        break;
      case 'I':
        v = buf.readInt32BE(off);
        off += 4;
        break;
      case 'i':
        v = buf.readUInt32BE(off);
        off += 4;
        break;
      case 'l':
      case 'L':
        v = Number(buf.readBigInt64BE(off));
        off += 8;
        break;
      case 'f':
        v = buf.readFloatBE(off);
        off += 4;
        break;
      case 'd':
        v = buf.readDoubleBE(off);
        off += 8;
        break;
      case 'D': {
        const places = buf.readUInt8(off);
        const digits = buf.readInt32BE(off + 1);
        off += 5;
        v = { '!': 'decimal', value: { places, digits } };
        break;
      }
      case 'T':
        v = { '!': 'timestamp', value: Number(buf.readBigUInt64BE(off)) };
        off += 8;
        break;
      case 'S':
      case 'x': {
        const len = buf.readUInt32BE(off);
        off += 4;
        const slice = buf.subarray(off, off + len);
        off += len;
        v = tag === 'S' ? slice.toString('utf8') : slice;
        break;
      }
      case 'F': {
        const len = buf.readUInt32BE(off);
        off += 4;
        v = decodeFields(buf.subarray(off, off + len));
        off += len;
        break;
      }
      case 'A': {
        const len = buf.readUInt32BE(off);
        off += 4;
        const end = off + len;
        const arr: unknown[] = [];
        while (off < end) arr.push(value());
        v = arr;
        break;
      }
      case 'V':
        v = null;
        break;
      default:
        throw new TypeError(`Unexpected AMQP field type tag "${tag}"`);
    }
    return v;
  };
  while (off < buf.length) {
    const klen = buf.readUInt8(off);
    off += 1;
    const key = buf.toString('utf8', off, off + klen);
    off += klen;
    fields[key] = value();
  }
  return fields;
}
