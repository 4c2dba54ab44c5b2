/**
 * How Celeriac runs Lua on Redis, for the broker's scripts (brokers/redis/scripts.ts) and the result
 * backend's (backends/redis/scripts.ts). Owns: the LuaScript shape (name, source, SHA1 computed once at
 * load) and `runScript`, which sends EVALSHA and falls back to EVAL when the server does not know the SHA
 * (first use, restart, failover, SCRIPT FLUSH), so no script needs loading up front.
 * Each script lives with its owner, one per atomic operation, headed by its KEYS and ARGV, and declares
 * every key it touches in KEYS.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface LuaScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

export function defineScript(name: string, lua: string): LuaScript {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** Run a script by SHA, loading it by EVAL when the server does not know it (first use, restart). */
export async function runScript(
  client: Redis,
  s: LuaScript,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
): Promise<unknown> {
  try {
    return await client.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
    return client.eval(s.lua, keys.length, ...keys, ...args);
  }
}
