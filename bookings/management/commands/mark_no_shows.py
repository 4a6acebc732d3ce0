from django.core.management.base import BaseCommand

from core.management.commands.sweep import run

TASK = "bookings.mark_no_shows"


class Command(BaseCommand):
    help = (
        "Mark confirmed bookings not checked in within the grace period after their start "
        "as no-shows. "
        "Runs the sweep once, in this process (`manage.py sweep` runs every sweep)."
    )

    def handle(self, *args, **options):
        result = run(TASK)
        self.stdout.write(self.style.SUCCESS(f"{TASK}: done ({result})"))
