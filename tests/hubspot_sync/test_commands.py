import io
import json
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from hubspot_sync import engine
from hubspot_sync.models import ItemState, SyncItem, SyncRun
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


class Terminal(io.StringIO):
    """Captured output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


# The phases and batches a run reports, one step after another; an import
# polled again reports the same line twice.
STEPS = [
    (SyncRun.Phase.OBJECTS, 1),
    (SyncRun.Phase.OBJECTS, 1),
    (SyncRun.Phase.ASSOCIATIONS, 2),
    (SyncRun.Phase.FINISHED, 3),
]


def fake_run_inline(run_id, progress=None):
    """engine.run_inline, reporting STEPS and ending the run done."""
    for phase, done in STEPS:
        SyncRun.objects.filter(pk=run_id).update(
            phase=phase, batches_done=done, batches_total=3
        )
        if progress:
            progress(SyncRun.objects.get(pk=run_id))
    started = timezone.now()
    SyncRun.objects.filter(pk=run_id).update(
        state=SyncRun.State.DONE,
        started=started,
        finished=started + timedelta(seconds=72),
        items_total=3,
        summary={"verified": 3},
    )
    return SyncRun.objects.get(pk=run_id)


def run_with_progress(out: io.StringIO) -> int:
    with mock.patch.object(engine, "run_inline", side_effect=fake_run_inline):
        call_command("sync_hubspot", "--wait", stdout=out)
    return SyncRun.objects.get().pk


def test_it_prints_each_progress_line_on_its_own_line_when_not_a_terminal():
    out = io.StringIO()

    run = run_with_progress(out)

    assert out.getvalue() == (
        f"Run {run}: Deals and line items, batch 1/3\n"
        f"Run {run}: Associations, batch 2/3\n"
        f"Run {run}: Finished, batch 3/3\n"
        f"Run {run} done in 1 min 12 s: 3 items sent (verified 3).\n"
    )


def test_it_overwrites_its_progress_line_on_a_terminal():
    out = Terminal()

    run = run_with_progress(out)

    objects = f"Run {run}: Deals and line items, batch 1/3"
    associations = f"Run {run}: Associations, batch 2/3"
    # A shorter line is padded over the end of the longer one before it.
    finished = f"Run {run}: Finished, batch 3/3".ljust(len(associations))
    associations = associations.ljust(len(objects))
    assert out.getvalue() == (
        f"\r{objects}\r{objects}\r{associations}\r{finished}\n"
        f"Run {run} done in 1 min 12 s: 3 items sent (verified 3).\n"
    )
