/**
 * Loads amqplib once, lazily, with our field-table decoder installed (table.ts says why).
 *
 * amqplib's generated frame codec (lib/defs.js) copies `codec.decodeFields` into a local when it is first
 * loaded, so the decoder must be swapped in the shared codec module *before* amqplib itself loads. If some
 * other code loaded amqplib earlier in this process, the swap cannot take effect: `decoderProblem()` says so
 * (headers with 64-bit integers from Python clients would then close the connection) and the broker logs
 * it through the worker's logger instead of failing.
 */
import { createRequire } from 'node:module';
import { DriverMissingError } from '../../errors.js';
import { decodeFields } from './table.js';

export type Amqplib = typeof import('amqplib');

let loaded: Amqplib | null = null;
/** False when amqplib was loaded by someone else first, so py-amqp's 'L' integers cannot be read. */
export let decoderInstalled = false;

export function loadAmqplib(scheme = 'amqp'): Amqplib {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  let defsPath: string;
  try {
    defsPath = require.resolve('amqplib/lib/defs.js');
  } catch {
    throw new DriverMissingError('amqplib', scheme);
  }
  const codec = require('amqplib/lib/codec.js') as { decodeFields: unknown };
  if (!require.cache[defsPath]) {
    codec.decodeFields = decodeFields;
    decoderInstalled = true;
  }
  loaded = require('amqplib') as Amqplib;
  return loaded;
}

/** Why headers from Python peers may fail to decode in this process, or null when all is well. */
export function decoderProblem(): string | null {
  if (!loaded || decoderInstalled) return null;
  return (
    'amqplib was loaded before celeriac could install its field-table decoder; message headers with ' +
    'integers beyond 32 bits (py-amqp tag "L") will close the connection'
  );
}
