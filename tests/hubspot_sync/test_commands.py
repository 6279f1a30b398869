import io
import json

import pytest
from django.core.management import CommandError, call_command

from hubspot_sync.models import ItemState, SyncItem
from tests.hubspot_sync.test_engine import make_orders

pytestmark = pytest.mark.django_db


def run_command(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_syncs_and_says_what_it_did(hubspot):
    make_orders(count=1, lines_each=3)

    output = run_command("sync_hubspot", "--wait", "-v", "0")

    assert "4 items sent (associated 3, verified 4)" in output


def test_it_sends_again_only_the_states_asked_for(hubspot):
    make_orders(count=1, lines_each=3)
    run_command("sync_hubspot", "--wait", "-v", "0")
    SyncItem.objects.filter(key="test:536365:1").update(state=ItemState.MISMATCH)
    SyncItem.objects.filter(key="test:536365:2").update(state=ItemState.FAILED)

    output = run_command("sync_hubspot", "--wait", "--retry", "mismatch", "-v", "0")

    assert "1 item sent (verified 1)" in output
    assert SyncItem.objects.get(key="test:536365:1").state == ItemState.VERIFIED
    assert SyncItem.objects.get(key="test:536365:2").state == ItemState.FAILED


def test_it_refuses_a_state_that_cannot_be_retried():
    with pytest.raises(CommandError, match="invalid choice: 'verified'"):
        call_command("sync_hubspot", "--retry", "verified")


def test_it_fails_loudly_when_the_run_cannot_finish(hubspot):
    make_orders(count=1, lines_each=1)
    hubspot.stop()

    with pytest.raises(CommandError, match="could not finish: HubSpot setup failed"):
        run_command("sync_hubspot", "--wait", "-v", "0")


def test_status_counts_skips_that_a_read_back_settled(hubspot):
    make_orders(count=2, lines_each=50)
    hubspot.configure(quirks={"drop_result": 0.05})
    run_command("sync_hubspot", "--wait", "-v", "0")

    status = json.loads(run_command("tally_status", "--json"))

    assert status["unreported_skips"] == 0
    assert status["unreported_skips_seen"] > 0
    assert status["items_by_state"]["line_items"]["verified"] == 100
