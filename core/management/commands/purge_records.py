from django.core.management.base import BaseCommand

from core import idempotency, outbox


class Command(BaseCommand):
    help = ("Purge records past their retention: idempotency keys and outbox delivery logs "
            "(what celery beat does on a schedule; for the embedded demo, which has none).")

    def handle(self, *args, **options):
        keys = idempotency.purge_expired()
        logs = outbox.purge_delivery_logs()
        self.stdout.write(self.style.SUCCESS(
            f"Purged {keys} idempotency key(s) and {logs} delivery log row(s)."))
