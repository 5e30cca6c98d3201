"""The Lua scripts of the Redis store: each runs atomically on the shard that holds its room.

Modelled on Centrifugo's ``broker_history_add_stream.lua``: the node generates an epoch and
passes it in, and the script keeps it only if the room has none (``HSETNX``); ids come from
``HINCRBY`` on the room's meta hash, so any number of nodes may append to one room at once.
"""

from __future__ import annotations

# A room whose meta hash is gone (FLUSHALL, a restored backup without it, eviction) starts a new
# epoch. Whatever log or client ids remain belonged to the old epoch: they are dropped, exactly as
# Centrifugo deletes the stream when a new epoch begins. An empty room's meta expires after a day
# unless a message arrives, so looking at a million names leaves no million keys behind; that is
# harmless because a cursor on an empty room is 0, which is never a reset.
_ENSURE_EPOCH = """
local function ensure_epoch(meta, log, cids, fixes, new_epoch)
  if redis.call('HSETNX', meta, 'epoch', new_epoch) == 1 then
    redis.call('DEL', log, cids, fixes)
    redis.call('EXPIRE', meta, 86400)
  end
  return redis.call('HGET', meta, 'epoch')
end
"""

# KEYS: meta, log, cids, rooms index, corrections.
# ARGV: new_epoch, retain (0: keep all), client_id window, room, channel, room cap of this shard
#       (0: none), then for each publish in batch order: client_id ('' for none), target ('' for
#       a plain message: the id an edit or delete corrects), body (a JSON object without id and
#       room).
# Returns: {epoch, last_id, {id, 1} for a new message | {id, 0, body} for a known client_id ...},
#          or {epoch, -1} when the room is new and the shard's index holds the cap already
#          (nothing is stored: checked in the script, so no other node can slip a room in between)
APPEND = (
    _ENSURE_EPOCH
    + """
local meta, log, cids, index, fixes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local retain, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local room, channel = ARGV[4], ARGV[5]
local epoch = ensure_epoch(meta, log, cids, fixes, ARGV[1])
local cap = tonumber(ARGV[6])
if cap > 0 and not redis.call('ZSCORE', index, room) and redis.call('ZCARD', index) >= cap then
  return {epoch, -1}
end
local results, published = {epoch, 0}, {}
for i = 7, #ARGV, 3 do
  local client_id, target, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local known = nil
  if client_id ~= '' then
    local score = redis.call('ZSCORE', cids, client_id)
    if score then
      local entry = redis.call('XRANGE', log, '0-' .. score, '0-' .. score)
      if #entry == 1 then
        known = {tonumber(score), 0, entry[1][2][2]}
      end
    end
  end
  if known then
    results[#results + 1] = known
  else
    local id = redis.call('HINCRBY', meta, 'last_id', 1)
    redis.call('XADD', log, '0-' .. id, 'm', body)
    if client_id ~= '' then
      redis.call('ZADD', cids, id, client_id)
    end
    if target ~= '' then
      redis.call('ZADD', fixes, target, id)
    end
    results[#results + 1] = {id, 1}
    published[#published + 1] = '{"id":' .. id .. ',"room":"' .. room .. '",' .. string.sub(body, 2)
  end
end
local last_id = tonumber(redis.call('HGET', meta, 'last_id') or '0')
results[2] = last_id
if #published > 0 then
  redis.call('PERSIST', meta)
  redis.call('ZADD', index, 0, room)
  local first_id = 1
  if retain > 0 and last_id > retain then
    first_id = last_id - retain + 1
    redis.call('XTRIM', log, 'MINID', '0-' .. first_id)
  end
  -- client ids live as long as their message; an unbounded log keeps the newest `window` only
  redis.call('ZREMRANGEBYSCORE', cids, '-inf', '(' .. first_id)
  -- a correction outlives nothing it corrects: its id is above its target's
  redis.call('ZREMRANGEBYSCORE', fixes, '-inf', '(' .. first_id)
  if retain == 0 then
    redis.call('ZREMRANGEBYRANK', cids, 0, -(window + 1))
  end
  redis.call('PUBLISH', channel,
    '{"epoch":"' .. epoch .. '","messages":[' .. table.concat(published, ',') .. ']}')
end
return results
"""
)

# KEYS: meta, log, cids, corrections.  ARGV: new_epoch.
# Returns: {epoch, last_id, first entry id or false}
BOUNDS = (
    _ENSURE_EPOCH
    + """
local epoch = ensure_epoch(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
local last_id = tonumber(redis.call('HGET', KEYS[1], 'last_id') or '0')
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local first_entry = false
if #first == 1 then
  first_entry = first[1][1]
end
return {epoch, last_id, first_entry}
"""
)

# KEYS: meta, log, cids, rooms index, corrections.  ARGV: new_epoch, room, channel.
# Clears the room: its log starts over in the new epoch (ids from 1 again), it leaves the rooms
# index, and the empty batch published under the new epoch makes every node check the room and
# end its streams as at any reset. The empty meta expires like any empty room's (ensure_epoch).
CLEAR = """
local meta, log, cids, index, fixes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
redis.call('DEL', log, cids, fixes)
redis.call('HSET', meta, 'epoch', ARGV[1], 'last_id', 0)
redis.call('EXPIRE', meta, 86400)
redis.call('ZREM', index, ARGV[2])
redis.call('PUBLISH', ARGV[3], '{"epoch":"' .. ARGV[1] .. '","messages":[]}')
return ARGV[1]
"""
