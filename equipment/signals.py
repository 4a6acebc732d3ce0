"""What the equipment layer announces; higher layers (bookings) listen.

``equipment_unavailable`` is sent inside the transaction that makes the change, with the
equipment row locked, so a listener's writes commit or roll back with it. Listeners
return the bookings they cancelled (``Signal.send`` hands the answers back to the
service, which reports them).
"""

from django.dispatch import Signal

# sender=Equipment, equipment=…, start=…, end=…, reason=…, by=<user or None>,
# refuse_in_progress=<bool> (maintenance: a listener raises a Conflict rather than let the
# period overlap something in progress). Listeners return a list of the bookings they
# cancelled.
equipment_unavailable = Signal()

# sender=Equipment, equipment=…, start=…, end=…, refuse_in_progress=<bool>: a read, never
# a write. Listeners return the bookings that ``equipment_unavailable`` with the same
# arguments would cancel now, or raise the refusal it would raise (the console's preview
# before it saves).
equipment_unavailable_preview = Signal()
