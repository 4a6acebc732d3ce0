"""Run the periodic sweeps by hand, in this process.

Production runs them under ``celery beat`` (settings.CELERY_BEAT_SCHEDULE, editable in the
admin console). The embedded demo (``make run``: SQLite, tasks run in-process) has no beat
and no worker, so ``celery call`` would hand a task to nobody: this command runs the same
tasks directly, each as one beat tick would.

    manage.py sweep                  # every sweep of the schedule
    manage.py sweep mark-no-shows    # one or more, by schedule name or task name
    manage.py sweep --list           # what there is
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def schedule() -> dict[str, str]:
    """Schedule name → task name, in the schedule's order."""
    return {name: entry["task"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}


def task_named(task_name: str):
    from celery import current_app as app  # the project's app (apps never import testbed)

    app.loader.import_default_modules()  # every app's tasks module, as a worker would
    try:
        return app.tasks[task_name]
    except KeyError:
        raise CommandError(f"No task {task_name!r} is registered.") from None


def run(task_name: str):
    """Run one task here and now; its result (e.g. how many rows it handled)."""
    return task_named(task_name).apply(throw=True).result


class Command(BaseCommand):
    help = (
        "Run the periodic sweeps (no-shows, expiry of unapproved requests, reminders, "
        "the outbox, booking events, trial collection, dataset releases, purges) once, "
        "in this process: what celery beat does on a schedule, for the embedded demo."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "sweeps",
            nargs="*",
            metavar="SWEEP",
            help="Schedule names (e.g. mark-no-shows) or task names (e.g. "
            "bookings.mark_no_shows); none: all of them.",
        )
        parser.add_argument("--list", action="store_true", help="List the sweeps and stop.")

    def handle(self, *args, sweeps, list, **options):  # noqa: A002 - the option's name
        known = schedule()
        if list:
            for name, task_name in known.items():
                self.stdout.write(f"{name:<34} {task_name}")
            return
        by_task = {task_name: name for name, task_name in known.items()}
        chosen = []
        for wanted in sweeps or known:
            if wanted in known:
                chosen.append((wanted, known[wanted]))
            elif wanted in by_task:
                chosen.append((by_task[wanted], wanted))
            else:
                raise CommandError(
                    f"Unknown sweep {wanted!r}; `manage.py sweep --list` shows them."
                )
        for name, task_name in chosen:
            result = run(task_name)
            self.stdout.write(
                self.style.SUCCESS(f"{name}: done") + ("" if result is None else f" ({result})")
            )
