"""One HubSpot rate budget per account, shared by every worker on every machine.

HubSpot counts requests per app in a rolling window (190 per 10 s on
Professional and Enterprise, 100 on Free and Starter) and per account per day;
searches have their own 5 per second. Every request first asks the budget for
a slot: in the database in the embedded mode, in Redis in the scaled mode.
Both keep a log of the grants in the current window, so that the window rolls
exactly as HubSpot's does, and leave a little headroom for the clock skew
between a grant and the request's arrival.
"""

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction

from hubspot_sync.models import RateBucket, RateGrant

logger = logging.getLogger(__name__)

GENERAL = "general"
SEARCH = "search"


class DailyLimitReached(Exception):
    def __init__(self, until: float) -> None:
        super().__init__("HubSpot's daily API limit is used up")
        self.until = until


@dataclass(frozen=True)
class Limit:
    max_requests: int
    interval_ms: int

    def allowed(self, headroom: float) -> int:
        return max(1, int(self.max_requests * (1 - headroom)))


def default_limits() -> dict[str, Limit]:
    return {
        GENERAL: Limit(settings.HUBSPOT_RATE_LIMIT, settings.HUBSPOT_RATE_INTERVAL_MS),
        SEARCH: Limit(settings.HUBSPOT_SEARCH_RATE_LIMIT, 1000),
    }


def next_daily_reset(now: float) -> float:
    """HubSpot resets at midnight in the account's time zone; assume UTC."""
    moment = datetime.fromtimestamp(now, UTC)
    midnight = (moment + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return midnight.timestamp()


class Budget:
    """Blocks until a request may go; learns the real limits from HubSpot."""

    def __init__(self, sleep=time.sleep, clock=time.time) -> None:
        self._sleep = sleep
        self._clock = clock
        self.limits = default_limits()
        self.headroom = settings.HUBSPOT_RATE_HEADROOM
        self.waited = 0.0

    def acquire(self, bucket: str = GENERAL) -> None:
        while True:
            wait = self._try(bucket, self.limits[bucket], self._clock())
            if wait <= 0:
                return
            wait += random.uniform(0, 0.02)  # spread workers that woke together
            self.waited += wait
            self._sleep(wait)

    def observe(self, bucket: str, max_requests, interval_ms) -> None:
        """Adopt the limit HubSpot announces in its X-HubSpot-RateLimit headers."""
        if not max_requests or not interval_ms:
            return
        limit = Limit(int(max_requests), int(interval_ms))
        if limit != self.limits[bucket]:
            logger.info("HubSpot rate limit for %s is %s", bucket, limit)
            self.limits[bucket] = limit
            self._store_limit(bucket, limit)

    def back_off(self, bucket: str, seconds: float) -> None:
        """After a 429: every worker waits, not only the one that was refused."""
        self._block(bucket, self._clock() + seconds)

    def daily_exhausted(self) -> float:
        until = next_daily_reset(self._clock())
        self._block_daily(until)
        return until

    def _try(self, bucket: str, limit: Limit, now: float) -> float:
        raise NotImplementedError

    def _store_limit(self, bucket: str, limit: Limit) -> None:
        raise NotImplementedError

    def _block(self, bucket: str, until: float) -> None:
        raise NotImplementedError

    def _block_daily(self, until: float) -> None:
        raise NotImplementedError


class DatabaseBudget(Budget):
    def _bucket(self, name: str, limit: Limit) -> RateBucket:
        bucket, _ = RateBucket.objects.get_or_create(
            name=name,
            defaults={
                "max_requests": limit.max_requests,
                "interval_ms": limit.interval_ms,
            },
        )
        return bucket

    def _try(self, name: str, limit: Limit, now: float) -> float:
        self._bucket(name, limit)
        with transaction.atomic():
            bucket = RateBucket.objects.select_for_update().get(name=name)
            if bucket.daily_blocked_until > now:
                raise DailyLimitReached(bucket.daily_blocked_until)
            if bucket.blocked_until > now:
                return bucket.blocked_until - now
            limit = Limit(bucket.max_requests, bucket.interval_ms)
            window = RateGrant.objects.filter(bucket=bucket)
            window.filter(at__lte=now - limit.interval_ms / 1000).delete()
            times = sorted(window.values_list("at", flat=True))
            if len(times) < limit.allowed(self.headroom):
                RateGrant.objects.create(bucket=bucket, at=now)
                return 0
            return (
                times[len(times) - limit.allowed(self.headroom)]
                + (limit.interval_ms / 1000)
                - now
            )

    def _store_limit(self, name: str, limit: Limit) -> None:
        self._bucket(name, limit)
        RateBucket.objects.filter(name=name).update(
            max_requests=limit.max_requests, interval_ms=limit.interval_ms
        )

    def _block(self, name: str, until: float) -> None:
        self._bucket(name, self.limits[name])
        RateBucket.objects.filter(name=name, blocked_until__lt=until).update(
            blocked_until=until
        )

    def _block_daily(self, until: float) -> None:
        for name, limit in self.limits.items():
            self._bucket(name, limit)
        RateBucket.objects.update(daily_blocked_until=until)


# Sliding-window log in one sorted set per bucket, decided atomically in Redis
# with Redis's own clock, so that workers on several machines agree.
_REDIS_TRY = """
local log, state = KEYS[1], KEYS[2]
local interval, allowed = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local daily = tonumber(redis.call('HGET', state, 'daily') or '0')
if daily > now then return {'daily', tostring(daily)} end
local blocked = tonumber(redis.call('HGET', state, 'blocked') or '0')
if blocked > now then return {'wait', tostring(blocked - now)} end
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - interval)
local count = redis.call('ZCARD', log)
if count < allowed then
  redis.call('ZADD', log, now, ARGV[3])
  redis.call('PEXPIRE', log, math.ceil(interval * 1000) + 1000)
  return {'ok', '0'}
end
local edge = redis.call('ZRANGE', log, count - allowed, count - allowed, 'WITHSCORES')
return {'wait', tostring(tonumber(edge[2]) + interval - now)}
"""


class RedisBudget(Budget):
    def __init__(self, url: str, prefix: str = "tally:rate", **kwargs) -> None:
        super().__init__(**kwargs)
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix
        self._script = self.redis.register_script(_REDIS_TRY)
        for name in self.limits:
            stored = self.redis.hgetall(self._state(name))
            if b"max" in stored:
                self.limits[name] = Limit(int(stored[b"max"]), int(stored[b"interval"]))

    def _state(self, name: str) -> str:
        return f"{self.prefix}:{name}:state"

    def _try(self, name: str, limit: Limit, now: float) -> float:
        verdict, value = self._script(
            keys=[f"{self.prefix}:{name}:log", self._state(name)],
            args=[
                limit.interval_ms / 1000,
                limit.allowed(self.headroom),
                uuid.uuid4().hex,
            ],
        )
        if verdict == b"daily":
            raise DailyLimitReached(float(value))
        return float(value) if verdict == b"wait" else 0.0

    def _store_limit(self, name: str, limit: Limit) -> None:
        self.redis.hset(
            self._state(name),
            mapping={"max": limit.max_requests, "interval": limit.interval_ms},
        )

    def _block(self, name: str, until: float) -> None:
        # Redis's clock decides in the script; convert from this machine's.
        seconds = until - time.time()
        now = _redis_now(self.redis)
        current = float(self.redis.hget(self._state(name), "blocked") or 0)
        self.redis.hset(self._state(name), "blocked", max(current, now + seconds))

    def _block_daily(self, until: float) -> None:
        for name in self.limits:
            self.redis.hset(self._state(name), "daily", until)


def _redis_now(client) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1_000_000


def make_budget(**kwargs) -> Budget:
    if settings.REDIS_URL:
        prefix = f"{settings.TALLY_REDIS_PREFIX}:rate"
        return RedisBudget(settings.REDIS_URL, prefix=prefix, **kwargs)
    return DatabaseBudget(**kwargs)
