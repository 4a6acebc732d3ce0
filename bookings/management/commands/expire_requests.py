from django.core.management.base import BaseCommand

from core.management.commands.sweep import run

TASK = "bookings.expire_requests"


class Command(BaseCommand):
    help = (
        "Expire the booking requests the hub operator did not approve before their start. "
        "Runs the sweep once, in this process (`manage.py sweep` runs every sweep)."
    )

    def handle(self, *args, **options):
        result = run(TASK)
        self.stdout.write(self.style.SUCCESS(f"{TASK}: done ({result})"))
