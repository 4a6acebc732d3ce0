from django.core.management.base import BaseCommand

from trials.tasks import collect_due_trials


class Command(BaseCommand):
    help = "Enqueue collection for every completed trial whose results are still missing."

    def handle(self, *args, **options):
        count = collect_due_trials()
        self.stdout.write(f"{count} trial(s) enqueued for collection.")
