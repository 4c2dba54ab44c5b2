/**
 * Serializers, compression and the accept-list. Only JSON ships: message content is never evaluated or
 * unpickled. Content types are accepted only when named in `acceptContent` (by short name or full type).
 * Compression follows Celery: 'zlib' and 'gzip' both write a raw zlib stream labelled application/x-gzip.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { ContentDisallowed, MessageTooLarge, ProtocolError } from '../errors.js';
import { decodeJson, encodeJson } from './json.js';

export interface Serializer {
  readonly name: string;
  readonly contentType: string;
  readonly contentEncoding: string;
  encode(value: unknown): Buffer;
  decode(body: Buffer): unknown;
}

const json: Serializer = {
  name: 'json',
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  encode: (value) => Buffer.from(encodeJson(value), 'utf8'),
  decode: (body) => decodeJson(body.toString('utf8')),
};

const byName = new Map<string, Serializer>([['json', json]]);
const byType = new Map<string, Serializer>([[json.contentType, json]]);

/** Add a serializer (e.g. msgpack). It is used to decode only when its name is in `acceptContent`. */
export function registerSerializer(s: Serializer): void {
  byName.set(s.name, s);
  byType.set(s.contentType, s);
}

export function serializerByName(name: string): Serializer {
  const s = byName.get(name);
  if (!s) throw new ProtocolError(`no serializer named "${name}" is registered`);
  return s;
}

/** Decode a body after checking its content type against the accept-list. */
export function decodeBody(body: Buffer, contentType: string, accept: readonly string[]): unknown {
  const s = byType.get(contentType);
  if (!s || !(accept.includes(s.name) || accept.includes(contentType)))
    throw new ContentDisallowed(contentType);
  try {
    return s.decode(body);
  } catch (err) {
    throw new ProtocolError(`cannot decode ${contentType} body: ${(err as Error).message}`, { cause: err });
  }
}

export const GZIP_CONTENT_TYPE = 'application/x-gzip';

/** Map a compression option ('zlib', 'gzip' or a content type) to the header value Celery writes. */
export function compressionHeader(option: string): string {
  if (option === 'zlib' || option === 'gzip' || option === GZIP_CONTENT_TYPE) return GZIP_CONTENT_TYPE;
  throw new ProtocolError(`unsupported compression "${option}" (supported: zlib, gzip)`);
}

export function compress(body: Buffer, header: string): Buffer {
  if (header !== GZIP_CONTENT_TYPE) throw new ProtocolError(`unsupported compression "${header}"`);
  return deflateSync(body);
}

/**
 * Inflate a compressed body, at most `maxBytes` of output: a small zlib body can inflate to gigabytes
 * (a zip bomb), so the size limit applies to what comes out, and inflating stops at it.
 */
export function decompress(body: Buffer, header: string, maxBytes = Number.POSITIVE_INFINITY): Buffer {
  if (header !== GZIP_CONTENT_TYPE) throw new ProtocolError(`unsupported compression "${header}"`);
  try {
    return Number.isFinite(maxBytes) ? inflateSync(body, { maxOutputLength: maxBytes }) : inflateSync(body);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new MessageTooLarge(null, maxBytes);
    throw new ProtocolError(`cannot decompress ${header} body: ${(err as Error).message}`, { cause: err });
  }
}
