"""The rate budget in Redis (scaled mode): one budget for every worker."""

import pytest
from django.conf import settings

from hubspot_sync.ratelimit import GENERAL, Limit, RedisBudget, make_budget

pytestmark = pytest.mark.skipif(
    not settings.REDIS_URL, reason="scaled mode only: needs REDIS_URL"
)


class Waited(Exception):
    """Raised instead of sleeping, with the seconds the budget asked for."""


def wait_instead(seconds: float) -> None:
    raise Waited(seconds)


def test_it_keeps_its_keys_under_the_installations_prefix(redis_keys):
    budget = make_budget()

    budget.acquire()

    assert isinstance(budget, RedisBudget)
    keys = redis_keys.redis.scan_iter(match=f"{redis_keys.prefix}:rate:*")
    assert {key.decode() for key in keys} == {f"{redis_keys.prefix}:rate:general:log"}


def test_it_lets_through_the_limit_less_headroom_then_waits_for_the_window():
    budget = make_budget(sleep=wait_instead)
    budget.observe(GENERAL, 3, 60_000)  # 3 a minute, 2 after the 3 % headroom

    budget.acquire()
    budget.acquire()
    with pytest.raises(Waited) as waited:
        budget.acquire()

    assert 59 < waited.value.args[0] <= 60.1


def test_a_429_makes_every_worker_wait():
    refused, other = make_budget(), make_budget(sleep=wait_instead)

    refused.back_off(GENERAL, 5)

    with pytest.raises(Waited) as waited:
        other.acquire()
    assert 4.5 < waited.value.args[0] <= 5.1


def test_a_limit_learned_by_one_worker_is_every_workers():
    make_budget().observe(GENERAL, 100, 10_000)

    assert make_budget().limits[GENERAL] == Limit(100, 10_000)
