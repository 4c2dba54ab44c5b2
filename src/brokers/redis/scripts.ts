/**
 * The broker's Lua scripts: one per atomic operation, each headed by its KEYS and ARGV. Scripts declare
 * every key they touch in KEYS. They run through drivers/redis/scripts.ts (EVALSHA, EVAL on NOSCRIPT).
 */
import { defineScript as script } from '../../drivers/redis/scripts.js';

/**
 * take — move up to `max` ready messages into the unacked hash and index in one atomic step, so no crash
 * can lose a message between the pop and the bookkeeping (kombu does the two in separate round trips).
 * The script is resent when the connection drops with its reply in flight; the receipt makes the resend
 * return the same messages (those still unacked) instead of popping more and stranding the first batch.
 *
 * Every popped message is recorded, whatever it holds, so none exists only in a worker's memory:
 *  - an envelope without a string delivery tag gets a fresh one (ARGV[5] .. '.' .. n);
 *  - a tag already in `unacked` (a publisher reusing tags, an envelope published again while the first
 *    copy waits in the unacked hash of a killed worker) also gets a fresh one, so the two never share an
 *    entry and one is never lost when the other is acked (kombu's HSET would overwrite the first);
 *  - an envelope cjson cannot decode (not JSON, too deeply nested) is stored as a JSON string, so the
 *    entry is still `[envelope, exchange, routing_key]` and a restore pushes the raw bytes back.
 * The worker then runs it or dead-letters it; either way it is acked, so it never cycles in `unacked`.
 *
 * KEYS[1]    unacked        (hash: tag → [envelope, exchange, routing_key])
 * KEYS[2]    unacked_index  (zset: tag → delivery time)
 * KEYS[3]    this take's receipt (string, 60 s)
 * KEYS[4..]  bucket lists, in the order to serve them (priority-major)
 * ARGV[1]    max messages to take
 * ARGV[2]    now, epoch seconds (the unacked_index score)
 * ARGV[3]    an envelope BRPOP already popped (possibly ''), or '' for none
 * ARGV[4]    the KEYS index that envelope came from, 0 for none
 * ARGV[5]    a unique prefix for fresh delivery tags
 * ARGV[6..]  the queue name of each bucket list (ARGV[6] for KEYS[4], …), used as routing key of
 *            envelopes that carry no delivery_info
 * Returns    a flat array {keys index, delivery tag, envelope, flag, …}; flag 0: recorded under its own
 *            tag, 1: its tag was taken (a duplicate), 2: it had none or cjson could not decode it. From a
 *            receipt (resent script) the index is negative, the flag 0 and the third item the whole
 *            unacked entry.
 */
export const TAKE = script(
  'take',
  `
local out = {}
local prev = redis.call('GET', KEYS[3])
if prev then
  local r = cjson.decode(prev)
  for i = 1, #r, 2 do
    local entry = redis.call('HGET', KEYS[1], r[i + 1])
    if entry then
      out[#out + 1] = -r[i]
      out[#out + 1] = r[i + 1]
      out[#out + 1] = entry
      out[#out + 1] = 0
    end
  end
  return out
end
local max = tonumber(ARGV[1])
local receipt = {}
local n = 0
local function record(idx, raw)
  local tag, flag, decoded = '', 0, false
  local ex, rk = '', ''
  local ok, env = pcall(cjson.decode, raw)
  if ok and type(env) == 'table' then
    decoded = true
    local p = env.properties
    if type(p) == 'table' then
      if type(p.delivery_tag) == 'string' then tag = p.delivery_tag end
      if type(p.delivery_info) == 'table' then
        if type(p.delivery_info.exchange) == 'string' then ex = p.delivery_info.exchange end
        if type(p.delivery_info.routing_key) == 'string' then rk = p.delivery_info.routing_key end
      end
    end
  end
  if ex == '' and rk == '' then rk = ARGV[idx + 2] end
  if tag == '' then
    tag = ARGV[5] .. '.' .. n
    flag = 2
  elseif redis.call('HEXISTS', KEYS[1], tag) == 1 then
    tag = ARGV[5] .. '.' .. n
    flag = 1
  end
  local stored = raw
  if not decoded then stored = cjson.encode(raw) end
  redis.call('ZADD', KEYS[2], ARGV[2], tag)
  redis.call('HSET', KEYS[1], tag, '[' .. stored .. ',' .. cjson.encode(ex) .. ',' .. cjson.encode(rk) .. ']')
  receipt[#receipt + 1] = idx
  receipt[#receipt + 1] = tag
  out[#out + 1] = idx
  out[#out + 1] = tag
  out[#out + 1] = raw
  out[#out + 1] = flag
  n = n + 1
end
-- By index, not by ARGV[3] ~= '': an empty envelope is a message too (bad input, recorded like any other).
if tonumber(ARGV[4]) > 0 then record(tonumber(ARGV[4]), ARGV[3]) end
for i = 4, #KEYS do
  while n < max do
    local raw = redis.call('RPOP', KEYS[i])
    if not raw then break end
    record(i, raw)
  end
  if n >= max then break end
end
if #receipt > 0 then redis.call('SET', KEYS[3], cjson.encode(receipt), 'EX', 60) end
return out
`,
);

/**
 * requeue — give deliveries this consumer holds back to their queues (reject with requeue, and every
 * unsettled delivery when the consumer closes).
 *
 * KEYS[1]     unacked
 * KEYS[2]     unacked_index
 * KEYS[2+i]   the list to push the i-th envelope to
 * ARGV[1]     'RPUSH' (front of the queue: it is served next) or 'LPUSH' (back)
 * ARGV[2i]    the i-th delivery tag
 * ARGV[2i+1]  the i-th envelope, already marked redelivered
 * A tag no longer in `unacked` was restored or acked by someone else meanwhile: it is skipped, so a message
 * is never pushed twice. Returns the number pushed.
 */
export const REQUEUE = script(
  'requeue',
  `
local pushed = 0
for i = 3, #KEYS do
  local tag = ARGV[(i - 2) * 2]
  if redis.call('HDEL', KEYS[1], tag) == 1 then
    redis.call('ZREM', KEYS[2], tag)
    redis.call(ARGV[1], KEYS[i], ARGV[(i - 2) * 2 + 1])
    pushed = pushed + 1
  else
    redis.call('ZREM', KEYS[2], tag)
  end
end
return pushed
`,
);

/**
 * restore_stale — kombu's visibility-timeout restore of one delivery whose holder stopped renewing it.
 *
 * KEYS[1]   unacked
 * KEYS[2]   unacked_index
 * KEYS[3..] the lists to RPUSH the envelope to (front: a restored message runs next, as in kombu); several
 *           when the exchange binds the routing key to several queues
 * ARGV[1]   delivery tag
 * ARGV[2]   ceiling: now - visibility_timeout
 * ARGV[3]   the envelope, marked redelivered
 * Restores only if the delivery is still unacked and its score is still at or below the ceiling, so a
 * holder that renewed its lease or acked meanwhile, or another restorer that got there first, make this a
 * no-op. Returns 1 when restored.
 */
export const RESTORE_STALE = script(
  'restore_stale',
  `
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 3, #KEYS do redis.call('RPUSH', KEYS[i], ARGV[3]) end
return 1
`,
);

/**
 * renew — refresh the lease (unacked_index score) of deliveries this consumer still holds, so no
 * visibility-timeout restore re-queues a message a live worker keeps (ETA tasks, long tasks).
 *
 * KEYS[1]   unacked_index
 * ARGV[1]   now, epoch seconds
 * ARGV[2..] delivery tags
 * Returns the tags that are gone from the index: restored by someone else (the lease was lost) or acked.
 */
export const RENEW = script(
  'renew',
  `
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
`,
);

/**
 * record_again — write deliveries this consumer holds back into `unacked` after the server lost them
 * (a restart without persistence): the holder still has the message and will ack it, so it must exist
 * for the visibility-timeout restore should the holder die before.
 *
 * KEYS[1]    unacked
 * KEYS[2]    unacked_index
 * ARGV[1]    now, epoch seconds
 * ARGV[2i]   the i-th delivery tag
 * ARGV[2i+1] its unacked entry, [envelope, exchange, routing_key]
 * A tag already back in `unacked` belongs to whoever recorded it (another consumer took a restored copy):
 * it is left alone. Returns the tags recorded.
 */
export const RECORD_AGAIN = script(
  'record_again',
  `
local done = {}
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[1], ARGV[i])
    done[#done + 1] = ARGV[i]
  end
end
return done
`,
);

/**
 * release_mutex — release the unacked_mutex only if we still own it (a lock that expired and was taken
 * by another restorer must not be deleted).
 *
 * KEYS[1]  unacked_mutex
 * ARGV[1]  our token
 */
export const RELEASE_MUTEX = script(
  'release_mutex',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);
