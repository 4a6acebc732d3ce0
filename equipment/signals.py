"""What the equipment layer announces; higher layers (bookings) listen.

Both are sent inside the transaction that makes the change, so a listener's writes
commit or roll back with it.
"""

from django.dispatch import Signal

# sender=Equipment, equipment=…, start=…, end=…, reason=…, by=<user or None>
equipment_unavailable = Signal()
