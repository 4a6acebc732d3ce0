# Existing events written by the platform get the code and parameters of their reason
# (core.reasons; the columns came in 0014), so they too are shown in their reader's
# language. Not atomic: each UPDATE commits on its own, so no lock is held on the events
# or the bookings beyond the rows one statement changes; it may stop and run again (it
# only touches events without a code yet).

import re

from django.db import migrations

# The English texts this release's catalogue writes, as earlier releases wrote them.
FIXED = {
    "Not approved before its start.": "not_approved_in_time",
    "Checked in automatically: the machine became active.": "checked_in_by_machine",
    "Equipment is down.": "equipment_down",
    "Equipment is retired.": "equipment_retired",
}
PATTERNS = [
    ("No check-in within ", re.compile(r"No check-in within (?P<minutes>\d+) minutes of the "
                                       r"start\.\Z"), "no_check_in"),
    ("Maintenance: ", re.compile(r"Maintenance: (?P<reason>.*)\Z", re.S), "maintenance"),
    ("Approved in the admin console by ",
     re.compile(r"Approved in the admin console by (?P<user>.*)\Z", re.S), "approved_in_admin"),
    ("Rejected in the admin console by ",
     re.compile(r"Rejected in the admin console by (?P<user>.*)\Z", re.S), "rejected_in_admin"),
    ("Cancelled in the admin console by ",
     re.compile(r"Cancelled in the admin console by (?P<user>.*)\Z", re.S),
     "cancelled_in_admin"),
]
BATCH = 2000


def catalogue_reasons(apps, schema_editor):
    BookingEvent = apps.get_model("bookings", "BookingEvent")
    Booking = apps.get_model("bookings", "Booking")
    events = BookingEvent.objects.using(schema_editor.connection.alias)
    for text, code in FIXED.items():
        events.filter(reason=text, reason_code="").update(reason_code=code)
    for prefix, pattern, code in PATTERNS:
        batch = []
        for event in (events.filter(reason__startswith=prefix, reason_code="")
                      .only("pk", "reason").iterator(chunk_size=BATCH)):
            match = pattern.match(event.reason)
            if match is None:
                continue
            args = match.groupdict()
            if "minutes" in args:
                args["minutes"] = int(args["minutes"])
            event.reason_code, event.reason_args = code, args
            batch.append(event)
            if len(batch) == BATCH:
                events.bulk_update(batch, ["reason_code", "reason_args"])
                batch = []
        events.bulk_update(batch, ["reason_code", "reason_args"])
    # A booking's decision reason is what a person wrote; a bulk action in the admin
    # console wrote none (its event keeps "… in the admin console by …").
    (Booking.objects.using(schema_editor.connection.alias)
     .filter(decision_reason__regex=r"^(Approved|Rejected) in the admin console by ")
     .update(decision_reason=""))


def restore_decision_reasons(apps, schema_editor):
    """Backwards: a bulk admin decision's text is the booking's decision reason again."""
    BookingEvent = apps.get_model("bookings", "BookingEvent")
    Booking = apps.get_model("bookings", "Booking")
    alias = schema_editor.connection.alias
    decided = (BookingEvent.objects.using(alias)
               .filter(reason_code__in=("approved_in_admin", "rejected_in_admin"))
               .order_by("booking_id", "-at", "-pk").values_list("booking_id", "to_status",
                                                               "reason"))
    for booking_id, status, text in decided.iterator(chunk_size=BATCH):
        (Booking.objects.using(alias).filter(pk=booking_id, status=status, decision_reason="")
         .update(decision_reason=text))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('bookings', '0014_event_reason_code'),
    ]

    operations = [
        migrations.RunPython(catalogue_reasons, restore_decision_reasons, elidable=True),
    ]
