"""Django's Redis cache, keeping one redis-py client per connection pool.

Django's ``RedisCacheClient`` builds a new ``redis.Redis`` client (and its table of
response callbacks) for every cache call, which cost more than the round trip itself on
the calls every API request makes (the key cache and the rate-limit counter in
``organizations.auth``). A redis-py client is thread-safe and holds no connection of its
own (the pool does), so one per pool is enough.
"""

from __future__ import annotations

from django.core.cache.backends import redis
from django.utils.functional import cached_property


class RedisCacheClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(redis.RedisCache):
    @cached_property
    def _cache(self):
        return RedisCacheClient(self._servers, **self._options)
