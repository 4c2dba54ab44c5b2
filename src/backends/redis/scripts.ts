/** The result backend's Lua script (see ../../drivers/redis/scripts.ts for how scripts run). */
import { defineScript } from '../../drivers/redis/scripts.js';

/**
 * store_results — write task metas and publish each on the channel of the same name, unless a SUCCESS is
 * already stored under that key (Celery's guard: a redelivered copy of a finished task must not overwrite
 * its result). Takes many results at once: the worker gathers those finished in one event-loop turn, so a
 * busy worker makes one round trip and one script run per batch instead of one per task.
 *
 * KEYS[i]       celery-task-meta-<task_id> of the i-th result
 * ARGV[2i - 1]  its meta, JSON
 * ARGV[2i]      seconds to keep it ('0': forever, plain SET)
 * Returns one 1 (written and published) or 0 (skipped: a SUCCESS was there) per key.
 */
const lua = `
local out = {}
for i = 1, #KEYS do
  local key, meta, ex = KEYS[i], ARGV[2 * i - 1], tonumber(ARGV[2 * i])
  local skip = false
  local cur = redis.call('GET', key)
  if cur then
    local ok, m = pcall(cjson.decode, cur)
    skip = ok and type(m) == 'table' and m.status == 'SUCCESS'
  end
  if skip then
    out[i] = 0
  else
    if ex > 0 then redis.call('SETEX', key, ex, meta) else redis.call('SET', key, meta) end
    redis.call('PUBLISH', key, meta)
    out[i] = 1
  end
end
return out
`;

export const STORE_RESULTS = defineScript('store_results', lua);
