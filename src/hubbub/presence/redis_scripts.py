"""Redis scripts of presence across nodes (the key names are in ``redis_layout``).

Per room, on the shard that holds the room (keys tagged ``{room}`` like the store's):

- ``hubbub:{room}:who``: hash, node id -> that node's snapshot of the room (JSON);
- ``hubbub:{room}:who:exp``: sorted set, node id -> when the snapshot expires (ms, Redis clock);
- ``hubbub:{room}:who:ch``: the channel snapshots and typing notices travel on.

A snapshot is ``{"node", "v", "ttl", "users": {name: connections}, "anonymous"}``; ``v``
grows with every snapshot of one node, so an older one never replaces a newer one.
Both keys expire with their last live entry, so a room nobody refreshes leaves nothing
behind. Times come from Redis (``TIME``), so nodes' clocks need not agree.
"""

from __future__ import annotations

# KEYS: hash, expiry set, channel. ARGV: node, snapshot, ttl (ms), gone ("1": drop it).
# Drops expired entries, writes (or drops) this node's, publishes the snapshot.
PUT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, node in ipairs(dead) do redis.call('HDEL', KEYS[1], node) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if ARGV[4] == '1' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then
  local keep = math.max(1, tonumber(last[2]) - now)
  redis.call('PEXPIRE', KEYS[1], keep)
  redis.call('PEXPIRE', KEYS[2], keep)
else
  redis.call('DEL', KEYS[1], KEYS[2])
end
redis.call('PUBLISH', KEYS[3], ARGV[2])
return 1
"""

# KEYS: hash, expiry set. Returns node, ms left, snapshot for every live entry.
READ = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  local snapshot = redis.call('HGET', KEYS[1], live[i])
  if snapshot then
    out[#out + 1] = live[i]
    out[#out + 1] = tostring(tonumber(live[i + 1]) - now)
    out[#out + 1] = snapshot
  end
end
return out
"""
