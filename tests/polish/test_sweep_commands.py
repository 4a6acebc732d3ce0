"""Every periodic sweep can be run by hand in the embedded demo (no beat, no worker), and
every command the README gives exists and runs against the test database as written."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
from django.utils import timezone

from bookings.models import Booking
from tests.fixtures.world import local, make_booking

pytestmark = pytest.mark.django_db
README = Path(__file__).resolve().parents[2] / "README.md"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_sweep_runs_every_sweep_of_the_beat_schedule():
    output = run("sweep")
    for name in settings.CELERY_BEAT_SCHEDULE:
        assert f"{name}: done" in output


@pytest.mark.parametrize("name", list(settings.CELERY_BEAT_SCHEDULE))
def test_each_sweep_runs_by_its_schedule_name(name):
    assert f"{name}: done" in run("sweep", name)


def test_a_sweep_runs_by_its_task_name_too():
    assert "mark-no-shows: done" in run("sweep", "bookings.mark_no_shows")


def test_sweep_lists_the_sweeps():
    output = run("sweep", "--list")
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert name in output and entry["task"] in output


def test_an_unknown_sweep_is_refused_and_nothing_runs(equipment, sme):
    booking = make_booking(equipment, sme, local(-1, 9), local(-1, 11))
    with pytest.raises(CommandError, match="Unknown sweep"):
        run("sweep", "mark-no-shows", "no-such-sweep")
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def test_the_no_show_sweep_marks_a_booking_nobody_checked_in(equipment, sme):
    booking = make_booking(equipment, sme, local(-1, 9), local(-1, 11))
    assert booking.start < timezone.now()
    run("mark_no_shows")
    booking.refresh_from_db()
    assert booking.status == Booking.Status.NO_SHOW


def test_the_expiry_sweep_expires_an_unapproved_request(equipment, sme):
    booking = make_booking(
        equipment, sme, local(-1, 9), local(-1, 11), status=Booking.Status.REQUESTED
    )
    run("sweep", "expire-requests")
    booking.refresh_from_db()
    assert booking.status != Booking.Status.REQUESTED


def readme_commands() -> list[str]:
    """Every `manage.py …` the README shows, as written (up to the closing backtick)."""
    text = README.read_text()
    return [m.group(1).strip() for m in re.finditer(r"manage\.py ([^`|\n]+)`", text)]


# Commands the README shows that serve or run for ever, or that rebuild the world; tested
# elsewhere (tests/test_seed_demo.py, tests/collector) or Django's own.
LONG_RUNNING = {"runserver", "run_collector", "demo_plant", "seed_demo", "migrate", "collectstatic"}


def test_the_readme_names_only_commands_that_exist():
    commands = readme_commands()
    assert commands, "no manage.py command found in the README"
    known = get_commands()
    for command in commands:
        assert shlex.split(command)[0] in known, command


def test_the_readme_no_longer_sends_sweeps_to_a_worker_that_is_not_there():
    assert "celery -A testbed call" not in README.read_text()


def test_every_readme_command_runs_as_written(sme):
    ran = set()
    for command in readme_commands():
        words = shlex.split(command.replace("[", " ").replace("]", " ").replace("…", " "))
        if words[0] in LONG_RUNNING:
            continue
        words = [{"SLUG": sme.slug, "NAME": "readme", "ID": ""}.get(w, w) for w in words]
        run(*[w for w in words if w])
        ran.add(words[0])
    assert {
        "sweep",
        "mark_no_shows",
        "expire_requests",
        "send_reminders",
        "outbox",
        "purge_records",
        "create_api_key",
        "collect_due_trials",
        "release_due_datasets",
    } <= ran
