"""Measurements in the compact layout (issue 17, part 3): each trial's metrics and units
once in ``TrialMetric``, one narrow row per reading (trial, metric id, time, value) with,
on PostgreSQL, a BRIN index on (trial, time) and no primary-key index. Existing readings
are copied inside the database (two INSERT … SELECT, on SQLite and PostgreSQL alike), then
the old table goes."""

import django.db.models.deletion
from django.db import migrations, models

import trials.models


def _tables(apps, schema_editor):
    qn = schema_editor.connection.ops.quote_name
    return tuple(qn(apps.get_model("trials", name)._meta.db_table)
                 for name in ("LegacyMeasurement", "TrialMetric", "Measurement"))


def drop_primary_key_index(apps, schema_editor):
    """PostgreSQL: no primary-key B-tree on the readings (ids stay unique by their sequence;
    nothing looks a reading up by id). It would cost 22 bytes a reading and a quarter to a
    half of the COPY rate (docs/architecture.md, "Measurements layout"). SQLite's id is
    its rowid, which costs nothing."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor._delete_primary_key(apps.get_model("trials", "Measurement"), strict=True)


def restore_primary_key_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        model = apps.get_model("trials", "Measurement")
        schema_editor.execute(schema_editor._create_primary_key_sql(model, model._meta.pk))


def to_compact(apps, schema_editor):
    legacy, metric, measurement = _tables(apps, schema_editor)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {metric} (trial_id, name, unit) "  # noqa: S608 - model metadata only
                       f"SELECT DISTINCT trial_id, metric, unit FROM {legacy}")
        cursor.execute(
            f"INSERT INTO {measurement} (trial_id, metric_id, ts, value) "  # noqa: S608
            f"SELECT l.trial_id, m.id, l.ts, l.value FROM {legacy} l JOIN {metric} m "
            f"ON m.trial_id = l.trial_id AND m.name = l.metric AND m.unit = l.unit "
            f"ORDER BY l.trial_id, l.ts, l.id")


def to_legacy(apps, schema_editor):
    legacy, metric, measurement = _tables(apps, schema_editor)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {legacy} (trial_id, ts, metric, value, unit) "  # noqa: S608
            f"SELECT r.trial_id, r.ts, m.name, r.value, m.unit FROM {measurement} r "
            f"JOIN {metric} m ON m.id = r.metric_id ORDER BY r.id")


class Migration(migrations.Migration):

    dependencies = [
        ("trials", "0012_verbose_names"),
    ]

    operations = [
        migrations.RenameModel("Measurement", "LegacyMeasurement"),
        migrations.AlterField(
            model_name="legacymeasurement", name="trial",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                    related_name="+", to="trials.trial",
                                    verbose_name="trial"),
        ),
        migrations.CreateModel(
            name="TrialMetric",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                           serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=64, verbose_name="metric")),
                ("unit", models.CharField(blank=True, max_length=16, verbose_name="unit")),
                ("trial", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                            related_name="metrics", to="trials.trial",
                                            verbose_name="trial")),
            ],
            options={"verbose_name": "trial metric", "verbose_name_plural": "trial metrics"},
        ),
        migrations.AddConstraint(
            model_name="trialmetric",
            constraint=models.UniqueConstraint(fields=("trial", "name", "unit"),
                                               name="trial_metric_once"),
        ),
        migrations.CreateModel(
            name="Measurement",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("ts", models.DateTimeField(verbose_name="time")),
                ("value", models.FloatField(verbose_name="value")),
                ("trial", models.ForeignKey(db_constraint=False, db_index=False,
                                            on_delete=django.db.models.deletion.CASCADE,
                                            related_name="measurements", to="trials.trial",
                                            verbose_name="trial")),
                ("metric", models.ForeignKey(db_constraint=False, db_index=False,
                                             on_delete=django.db.models.deletion.DO_NOTHING,
                                             related_name="+", to="trials.trialmetric",
                                             verbose_name="metric")),
            ],
            options={"verbose_name": "measurement", "verbose_name_plural": "measurements",
                     "indexes": [trials.models.TimeIndex(fields=["trial", "ts"],
                                                         name="measurement_trial_ts")]},
        ),
        migrations.RunPython(drop_primary_key_index, restore_primary_key_index),
        migrations.RunPython(to_compact, to_legacy),
        migrations.DeleteModel("LegacyMeasurement"),
    ]
