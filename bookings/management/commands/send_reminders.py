from django.core.management.base import BaseCommand

from core.management.commands.sweep import run

TASK = "bookings.send_reminders"


class Command(BaseCommand):
    help = (
        "Send the reminders of bookings starting within the reminder lead time. "
        "Runs the sweep once, in this process (`manage.py sweep` runs every sweep)."
    )

    def handle(self, *args, **options):
        result = run(TASK)
        self.stdout.write(self.style.SUCCESS(f"{TASK}: done ({result})"))
