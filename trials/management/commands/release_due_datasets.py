from django.core.management.base import BaseCommand

from trials.tasks import release_due_datasets


class Command(BaseCommand):
    help = "Open dataset releases that became due and enqueue every delivery that is due."

    def handle(self, *args, **options):
        count = release_due_datasets()
        self.stdout.write(f"{count} release(s) enqueued for delivery.")
