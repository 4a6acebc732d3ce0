from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core import outbox
from core.models import OutboxMessage


class Command(BaseCommand):
    help = ("Show stuck outbox messages (failed, or pending for more than --minutes) and "
            "optionally put them back in the queue.")

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=int, default=15,
                            help="pending longer than this counts as stuck (default 15)")
        parser.add_argument("--retry", type=int, nargs="*", metavar="ID",
                            help="retry these messages (no ID: every stuck one)")

    def handle(self, *args, minutes, retry, **options):
        stuck = outbox.stuck_messages(older_than=timezone.timedelta(minutes=minutes))
        rows = list(stuck.order_by("created")[:200])
        if not rows:
            self.stdout.write("No stuck outbox messages.")
        for m in rows:
            self.stdout.write(f"{m.pk:>7} {m.status:<8} {m.channel:<8} {m.event_type:<20} "
                              f"attempts={m.attempts} {m.recipient}  {m.last_error[:80]}")
        if retry is None:
            return
        targets = rows if not retry else list(OutboxMessage.objects.filter(pk__in=retry))
        if retry and len(targets) != len(set(retry)):
            raise CommandError("Unknown outbox message id among those given.")
        for m in targets:
            outbox.retry(m)
        from core.tasks import deliver_due_outbox

        sent = deliver_due_outbox()
        self.stdout.write(self.style.SUCCESS(f"{len(targets)} message(s) re-queued; "
                                             f"{sent} enqueued for delivery."))
