# The reasons the platform writes into a booking's history are catalogued (core.reasons):
# each event keeps the reason's code and parameters beside its English text, and is shown
# in its reader's language. The columns come with database defaults (no table rewrite);
# 0015 gives existing events their codes, outside this migration's lock.

from django.db import migrations, models

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
    ]
