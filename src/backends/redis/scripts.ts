/** The result backend's Lua script (see ../../brokers/redis/scripts.ts for how scripts run). */
import { createHash } from 'node:crypto';
import type { LuaScript } from '../../brokers/redis/scripts.js';

/**
 * store_result — write a task's meta and publish it on the channel of the same name, unless a SUCCESS is
 * already stored (Celery's guard: a redelivered copy of a finished task must not overwrite its result).
 *
 * KEYS[1]  celery-task-meta-<task_id>
 * ARGV[1]  the meta, JSON
 * ARGV[2]  seconds to keep it ('0': forever, plain SET)
 * Returns 1 when written and published, 0 when skipped.
 */
const lua = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, m = pcall(cjson.decode, cur)
  if ok and type(m) == 'table' and m.status == 'SUCCESS' then return 0 end
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SETEX', KEYS[1], ARGV[2], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`;

export const STORE_RESULT: LuaScript = {
  name: 'store_result',
  lua,
  sha: createHash('sha1').update(lua).digest('hex'),
};
