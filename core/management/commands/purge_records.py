from django.core.management.base import BaseCommand

from core import retention


class Command(BaseCommand):
    help = ("Purge records past their retention: idempotency keys, outbox delivery logs, raw "
            "equipment observations … (what celery beat does on a schedule; for the embedded "
            "demo, which has none).")

    def handle(self, *args, **options):
        counts = retention.purge_all()
        self.stdout.write(self.style.SUCCESS("Purged " + ", ".join(
            f"{count} {label}" for label, count in counts.items()) + "."))
