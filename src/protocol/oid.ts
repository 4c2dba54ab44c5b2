/**
 * Identifiers Celery puts on the wire: task ids are UUID4; `reply_to` is a UUID3 "oid" stable per
 * process (Celery's `app.thread_oid`), which the rpc:// backend uses as the reply queue name. Pure.
 */
import { createHash, randomUUID } from 'node:crypto';

export const uuid = (): string => randomUUID();

/** RFC 4122 name-based UUID (version 3, MD5) in the OID namespace, as Python's uuid.uuid3(NAMESPACE_OID, name). */
export function uuid3Oid(name: string): string {
  const ns = Buffer.from('6ba7b8129dad11d180b400c04fd430c8', 'hex');
  const hash = createHash('md5').update(ns).update(name, 'utf8').digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x30;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
