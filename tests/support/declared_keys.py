"""A Redis client whose Lua scripts fail on any key they touch that was not given to them in KEYS.

Redis Cluster routes a script by its declared keys and refuses one that reaches another slot;
Dragonfly (by default), Upstash and others lock or route by the declared keys alone and refuse or
misbehave on any other. None of those runs here, so the rule is checked on the real Redis the unit
tests use: every ``redis.call`` of a script registered through this client goes through a guard
that raises ``undeclared key`` unless its key is one of the script's KEYS.
"""

from __future__ import annotations

import sys
from typing import Any

import redis
from redis.commands.core import Script

__all__ = ["DeclaredKeysRedis", "GUARD"]

GUARD = """
local declared_keys = {}
for _, name in ipairs(KEYS) do declared_keys[name] = true end
local function declared_call(command, key, ...)
  if key == nil or not declared_keys[key] then
    error('undeclared key ' .. tostring(key) .. ' in ' .. tostring(command))
  end
  return redis.call(command, key, ...)
end
"""
"""Put before a script whose ``redis.call`` became ``declared_call``: every command leadgate's scripts run
takes its key first."""


class DeclaredKeysRedis(redis.Redis):
    """``redis.Redis``, with :data:`GUARD` in every script leadgate registers.

    RQ's own scripts are left as they are: RQ's keys live on ``queue_redis_url``'s Redis, never a cluster.
    """

    def register_script(self, script: Any) -> Script:
        text = script.decode() if isinstance(script, bytes) else str(script)
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller == "rq" or caller.startswith("rq."):
            return super().register_script(text)
        return super().register_script(GUARD + text.replace("redis.call(", "declared_call("))
