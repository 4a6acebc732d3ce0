# The reasons the platform writes into a booking's history are catalogued (core.reasons):
# each event keeps the reason's code and parameters beside its English text, and is shown
# in its reader's language. Existing events written by the platform get their code here.

import re

from django.db import migrations, models

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


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0013_booking_operator_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='bookingevent',
            name='reason_args',
            field=models.JSONField(blank=True, null=True, verbose_name='reason parameters'),
        ),
        migrations.AddField(
            model_name='bookingevent',
            name='reason_code',
            field=models.CharField(blank=True, db_default='', default='', help_text='e.g. no_check_in', max_length=40, verbose_name='reason code'),
        ),
        migrations.AlterField(
            model_name='bookingevent',
            name='reason',
            field=models.TextField(blank=True, help_text='As typed; a reason the platform wrote is in English here and shown to each reader in their language (its code below).', verbose_name='reason'),
        ),
        migrations.RunPython(catalogue_reasons, migrations.RunPython.noop, elidable=True),
    ]
