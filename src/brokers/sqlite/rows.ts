/**
 * Rows of the SQLite `messages` table as messages. Anything can be written to the file by other tools
 * (the sqlite3 shell, a script, a damaged disk), so a row is never trusted: headers and properties must
 * be JSON objects, and a row that is not is handed out as Delivery.undecodable (the worker dead-letters
 * it) instead of failing the whole take, which would leave every message of the batch claimed and never
 * delivered. Also the browse adapter (Broker.browse) for the dead-letter tooling: a plain SELECT, and a
 * DELETE of rows still ready.
 */
import type { Database } from 'better-sqlite3';
import { ProtocolError } from '../../errors.js';
import type { WireMessage } from '../../protocol/message.js';
import type { QueueSnapshot } from '../broker.js';

export interface MessageRow {
  content_type: unknown;
  content_encoding: unknown;
  headers: unknown;
  properties: unknown;
  body: unknown;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function jsonObject(text: unknown, column: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(String(text));
  } catch (err) {
    throw new ProtocolError(`the ${column} column is not JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(v)) throw new ProtocolError(`the ${column} column is not a JSON object`);
  return v;
}

/** The row as a message; `undecodable` says why its headers or properties could not be read. */
export function rowMessage(row: MessageRow): { message: WireMessage; undecodable?: Error } {
  const body = Buffer.isBuffer(row.body) ? row.body : Buffer.from(String(row.body ?? ''), 'utf8');
  try {
    return {
      message: {
        body,
        contentType: String(row.content_type),
        contentEncoding: String(row.content_encoding),
        headers: jsonObject(row.headers, 'headers'),
        properties: jsonObject(row.properties, 'properties'),
      },
    };
  } catch (err) {
    // The body as stored, and the raw columns in headers of their own, so the dead letter keeps them all.
    return {
      message: {
        body,
        contentType: String(row.content_type),
        contentEncoding: String(row.content_encoding),
        headers: {
          'x-celeriac-raw-headers': String(row.headers),
          'x-celeriac-raw-properties': String(row.properties),
        },
        properties: {},
      },
      undecodable: err as Error,
    };
  }
}

export function browseSqlite(
  db: Database,
  write: <T>(fn: () => T) => Promise<T>,
  queue: string,
  limit: number,
): QueueSnapshot {
  const rows = db
    .prepare(
      "SELECT id, content_type, content_encoding, headers, properties, body FROM messages WHERE state = 'ready' AND queue = ? ORDER BY priority, redelivered DESC, id LIMIT ?",
    )
    .all(queue, limit) as Array<MessageRow & { id: number }>;
  return {
    messages: rows.map((r) => rowMessage(r).message),
    async remove(indices) {
      const ids = indices.map((i) => rows[i]?.id).filter((id): id is number => id !== undefined);
      if (!ids.length) return 0;
      const del = db.prepare("DELETE FROM messages WHERE id = ? AND state = 'ready'");
      return write(() => db.transaction(() => ids.reduce((n, id) => n + del.run(id).changes, 0)).immediate());
    },
    async close() {},
  };
}
