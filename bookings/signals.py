"""What the booking layer announces; trials (a higher layer) listen.

Sent inside the transaction that changed the booking, after the status is written, so
a listener's writes commit or roll back with it. Listeners enqueue work with
``transaction.on_commit``.
"""

from django.dispatch import Signal

# sender=Booking, booking=<Booking>, from_status=str, to_status=str, actor_user=…, reason=str
booking_status_changed = Signal()
