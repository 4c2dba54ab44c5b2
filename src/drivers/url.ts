/**
 * Parsing the broker and result backend URLs, shared by both registries and by backends that connect
 * through the broker's URL (rpc://). Owns the one message a malformed URL gets.
 */
import { ConfigError } from '../errors.js';

/** `url` as a URL, or a ConfigError naming `what` it was meant to be ('broker', 'result backend'). */
export function parseUrl(url: string, what: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new ConfigError(`Invalid ${what} URL "${url}" (expected e.g. redis://localhost:6379/0)`);
  }
}
