"""Hot-path SQL without the ORM's per-call query compilation.

On the API's busiest write (creating a booking) compiling the ORM's queries cost more
than running them. These helpers build the SQL of a model's INSERT and of a row-to-
instance read once per model, then run it through Django's own cursor: the statements
still go through Django's connection (transactions, ``on_commit``, query logging and
``CaptureQueriesContext`` see them) and values are converted by the fields themselves.

They are for plain models (no multi-table inheritance) and skip ``pre_save``/``post_save``
signals; the models they serve have no receivers on those (a guard test,
``tests/bookings/test_slot_guards.py``, fails if one is attached). SQL written by hand
takes its table and column names from the models' metadata (:func:`table`, :func:`column`,
:func:`columns`), never typed out.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

from django.db import OperationalError, connection, models
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext

from .errors import Busy


def cursor():
    """A cursor for hand-written hot-path SQL: Django's own (transactions, ``on_commit``,
    query logging and ``CaptureQueriesContext`` see its statements); on PostgreSQL one that
    binds parameters on the server, so that the statement is prepared on the connection's
    ``DB_PREPARE_THRESHOLD``-th run of it and planned once
    (``core.backends.postgresql``)."""
    prepared = getattr(connection, "prepared_cursor", None)
    return prepared() if prepared is not None else connection.cursor()


def _auto_pk(model: type[models.Model]) -> bool:
    """Is the primary key drawn by the database (so left out of INSERTs and read back)?"""
    return isinstance(model._meta.pk, models.AutoField | models.BigAutoField)


@cache
def _insert_sql(model: type[models.Model], vendor: str) -> tuple[str, tuple[models.Field, ...]]:
    meta = model._meta
    qn = connection.ops.quote_name
    fields = tuple(f for f in meta.concrete_fields if not (f.primary_key and _auto_pk(model)))
    columns = ", ".join(qn(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    return (f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES ({marks}) "  # noqa: S608 - constants and model metadata only
            f"RETURNING {qn(meta.pk.column)}", fields)


def insert(obj: models.Model) -> models.Model:
    """INSERT ``obj`` (a new instance) in one statement and set its primary key. Fields get
    their ``pre_save`` (auto_now, defaults already set on the instance) and database
    preparation, as ``Model.save`` would give them.

    Inside :func:`batched_inserts` on PostgreSQL the INSERT is queued instead and its
    primary key is set when the block ends."""
    sql, fields = _insert_sql(type(obj), connection.vendor)
    _take_related_ids(obj, fields)
    queue = _queue.get()
    if queue is not None:
        queue.add(obj, sql, fields)
        return obj
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    with cursor() as c:
        c.execute(sql, params)
        pk = c.fetchone()[0]
    _stored(obj, pk)
    return obj


def insert_all(objs: list[models.Model]) -> list[models.Model]:
    """INSERT the new instances ``objs`` (of one model) and set their primary keys: one
    statement for one object, ``bulk_create`` for more; each queued inside
    :func:`batched_inserts`."""
    if len(objs) == 1 or _queue.get() is not None:
        return [insert(obj) for obj in objs]
    if objs:
        type(objs[0]).objects.bulk_create(objs)
    return objs


def _take_related_ids(obj: models.Model, fields) -> None:
    """Foreign keys assigned an object that was unsaved then and has its id now take that
    id (as ``Model.save`` does)."""
    for field in fields:
        if field.is_relation:
            target = _cached_related(obj, field)
            if target is not None and target.pk is not None:
                setattr(obj, field.name, target)  # its id, and it stays cached


def _stored(obj: models.Model, pk) -> None:
    if _auto_pk(type(obj)):
        setattr(obj, obj._meta.pk.attname, pk)
    obj._state.adding = False
    obj._state.db = connection.alias


# --- Queued INSERTs, sent as one statement (PostgreSQL) ---------------------------------------
#
# Inside ``with batched_inserts():`` :func:`insert` only queues its INSERT. When the block
# ends the queued INSERTs are sent as ONE statement, each a data-modifying CTE
# (``WITH t0 AS (INSERT … RETURNING id), t1 AS (INSERT … VALUES (…, (SELECT id FROM t0),
# …) RETURNING id), … SELECT (SELECT id FROM t0), (SELECT id FROM t1), …``): one round
# trip, one statement to parse and plan (prepared like every :func:`cursor` statement),
# and each object then gets its pk. A foreign key to an object still queued is that
# object's CTE's RETURNING id. Foreign keys are checked as the statement ends, when every
# row is there; an exclusion or unique violation fails the whole statement. Other
# statements in the block run at once, as usual: nothing in the block may read a queued
# object's pk or expect its row (``transaction.on_commit`` callbacks run after the block).

_queue: ContextVar[_Batch | None] = ContextVar("core_db_batch", default=None)


class _Batch:
    def __init__(self):
        # (object, its INSERT's column list and VALUES marks, params, {field: queued target})
        self.queued: list[tuple[models.Model, str, list[str], list, dict]] = []
        self.then: list = []  # when_stored callbacks, run after the flush

    def pending(self, obj) -> bool:
        return any(obj is entry[0] for entry in self.queued)

    def add(self, obj: models.Model, sql: str, fields: tuple) -> None:
        refs = {f: target for f in fields if f.is_relation
                and (target := _cached_related(obj, f)) is not None and self.pending(target)}
        if any(f.target_field is not target._meta.pk for f, target in refs.items()):
            self.flush()  # a key to another column than the id: the rows go first
            _take_related_ids(obj, fields)
            refs = {}
        marks, params = [], []
        for field in fields:
            if field in refs:
                index = next(i for i, entry in enumerate(self.queued) if entry[0] is refs[field])
                target_pk = connection.ops.quote_name(refs[field]._meta.pk.column)
                marks.append(f"(SELECT {target_pk} FROM t{index})")  # noqa: S608 - model metadata only
            else:
                marks.append("%s")
                params.append(field.get_db_prep_save(field.pre_save(obj, add=True), connection))
        self.queued.append((obj, sql[:sql.index(" VALUES (")], marks, params, refs))

    def flush(self) -> None:
        queued, self.queued = self.queued, []
        then, self.then = self.then, []
        if not queued:
            return
        qn = connection.ops.quote_name
        ctes, picks, params = [], [], []
        for i, (obj, head, marks, values, _refs) in enumerate(queued):
            pk = qn(obj._meta.pk.column)
            ctes.append(f"t{i} AS ({head} VALUES ({', '.join(marks)}) RETURNING {pk})")
            picks.append(f"(SELECT {pk} FROM t{i})")  # noqa: S608 - model metadata only
            params += values
        sql = f"WITH {', '.join(ctes)} SELECT {', '.join(picks)}"
        with cursor() as c:
            c.execute(sql, params)
            ids = c.fetchone()
        for (obj, _head, _marks, _values, refs), pk in zip(queued, ids, strict=True):
            for field, target in refs.items():
                setattr(obj, field.name, target)  # its id, and it stays cached
            _stored(obj, pk)
        for callback in then:
            callback()


def when_stored(obj: models.Model, callback) -> None:
    """Call ``callback()`` once ``obj`` has its primary key: now, or as the
    :func:`batched_inserts` block that queued its INSERT ends (e.g. to fill a related
    manager's cache, which needs the pk)."""
    queue = _queue.get()
    if queue is not None and queue.pending(obj):
        queue.then.append(callback)
    else:
        callback()


def _cached_related(obj: models.Model, field: models.Field):
    """The related object cached on ``obj`` for foreign key ``field`` when its id is not
    set (an unsaved object assigned to it), else None."""
    if getattr(obj, field.attname) is not None or not field.is_cached(obj):
        return None
    return field.get_cached_value(obj)


@contextmanager
def batched_inserts():
    """Queue the :func:`insert` calls of the block and send them as one statement at its
    end (PostgreSQL; see above). Elsewhere, or nested in another such block, a no-op.
    Caller holds a transaction. Database errors of the queued INSERTs (e.g. an
    ``IntegrityError``) are raised as the block ends; if the block raises, its queue is
    dropped (its transaction is rolled back by the caller)."""
    if connection.vendor != "postgresql" or _queue.get() is not None:
        yield
        return
    batch = _Batch()
    token = _queue.set(batch)
    try:
        yield
    finally:
        _queue.reset(token)
    batch.flush()


@cache
def _select_list(model: type[models.Model], alias: str) -> tuple[str, tuple[str, ...]]:
    qn = connection.ops.quote_name
    fields = model._meta.concrete_fields
    return (", ".join(f"{alias}.{qn(f.column)}" for f in fields),
            tuple(f.attname for f in fields))


def table(model: type[models.Model]) -> str:
    """The quoted table name of ``model``, from its metadata: app SQL never spells a
    table by hand."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[models.Model], name: str, alias: str = "") -> str:
    """The quoted column of field ``name`` of ``model`` (``alias."col"`` with ``alias``),
    from its metadata: app SQL never spells a column by hand."""
    quoted = connection.ops.quote_name(model._meta.get_field(name).column)
    return f"{alias}.{quoted}" if alias else quoted


def columns(model: type[models.Model], alias: str) -> str:
    """``alias."col", …`` for every concrete field of ``model``, in field order (what
    :func:`instance` reads back)."""
    return _select_list(model, alias)[0]


def width(model: type[models.Model]) -> int:
    return len(model._meta.concrete_fields)


def instance(model: type[models.Model], row, offset: int = 0) -> models.Model:
    """The instance of ``model`` from ``row[offset:offset + width(model)]`` (a row selected
    with :func:`columns`), with the backend's value converters applied as the ORM would."""
    names = _select_list(model, "t")[1]
    values = list(row[offset:offset + len(names)])
    for i, col, converters in _converted(model, connection.vendor):
        for converter in converters:
            values[i] = converter(values[i], col, connection)
    return model.from_db(connection.alias, names, values)


@cache
def _converted(model: type[models.Model], vendor: str) -> tuple:
    """(index, column, converters) of the fields of ``model`` that have converters."""
    return tuple((i, col, converters)
                 for i, (col, converters) in enumerate(_converters(model, vendor)) if converters)


@cache
def _converters(model: type[models.Model], vendor: str) -> tuple:
    out = []
    for field in model._meta.concrete_fields:
        col = field.get_col(model._meta.db_table)
        out.append((col, tuple(connection.ops.get_db_converters(col)
                                + col.get_db_converters(connection))))
    return tuple(out)


def field_converter(model: type[models.Model], name: str):
    """``value -> python value`` for a column of field ``name`` read with plain SQL."""
    field = model._meta.get_field(name)
    index = model._meta.concrete_fields.index(field)
    col, converters = _converters(model, connection.vendor)[index]

    def convert(value):
        for converter in converters:
            value = converter(value, col, connection)
        return value

    return convert


# --- Row locks with a bounded wait -------------------------------------------------------
#
# A lock is waited for at most ``timeout_ms`` (``DB_LOCK_TIMEOUT_MS`` by default), set by
# the statement that takes it for the rest of its transaction (``set_config(…, true)``,
# i.e. ``SET LOCAL``), never for the whole connection: other transactions on a pooled
# connection keep PostgreSQL's own default. A wait that runs out is a "busy, retry" (503
# with Retry-After), not a lost database. Request paths lock rows with :func:`locked` /
# :func:`locked_one` (the equipment row with ``equipment.services.lock_equipment``).

# PostgreSQL: lock_not_available (lock_timeout ran out), deadlock_detected (the server
# broke a lock cycle; the transaction may simply be retried).
LOCK_TIMEOUT_SQLSTATES = frozenset({"55P03", "40P01"})
# SQLite: another writer held the database longer than the connection's ``timeout``.
SQLITE_LOCKED = ("database is locked", "database table is locked")


def is_lock_timeout(exc: BaseException) -> bool:
    """Is ``exc`` (a Django ``OperationalError`` or the driver's own) a lock wait that ran
    out, as opposed to a database that cannot be reached?"""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "sqlstate", None) in LOCK_TIMEOUT_SQLSTATES:
            return True
        if type(exc).__module__ == "sqlite3" and any(m in str(exc) for m in SQLITE_LOCKED):
            return True
        exc = exc.__cause__  # Django's wrapper raises `from` the driver's error
    return False


def lock_timeout_clause(vendor: str) -> str:
    """A condition to AND into the WHERE of a ``SELECT … FOR UPDATE`` so that its lock wait
    is bounded, with no statement of its own: on PostgreSQL
    ``set_config('lock_timeout', %s, true)`` (what ``SET LOCAL lock_timeout`` does, for the
    rest of the transaction) runs as the row is filtered, before the row lock is waited
    for. Pass :func:`lock_timeout_param` for its placeholder. Empty elsewhere (SQLite
    serialises writers at BEGIN; the connection's ``timeout`` bounds that wait)."""
    return "set_config('lock_timeout', %s, true) IS NOT NULL" if vendor == "postgresql" else ""


def lock_timeout_param(timeout_ms: int | None = None) -> str:
    """The ``lock_timeout`` value for :func:`lock_timeout_clause`: ``timeout_ms``, else
    ``settings.DB_LOCK_TIMEOUT_MS``."""
    from django.conf import settings

    return f"{int(settings.DB_LOCK_TIMEOUT_MS if timeout_ms is None else timeout_ms):d}ms"


@contextmanager
def busy_on_lock_timeout(message: str):
    """Turn a lock wait that ran out inside the block into ``core.errors.Busy``; any other
    database error passes through unchanged."""
    try:
        yield
    except OperationalError as exc:
        if is_lock_timeout(exc):
            raise Busy(message) from exc
        raise


def _bounded(queryset, timeout_ms: int | None):
    """``queryset`` with :func:`lock_timeout_clause` ANDed into its WHERE (PostgreSQL), so
    the statement that takes its row locks bounds their wait itself."""
    clause = lock_timeout_clause(connection.vendor)
    if not clause:
        return queryset
    return queryset.filter(RawSQL(clause, [lock_timeout_param(timeout_ms)],  # noqa: S611 - a constant clause, its value a parameter
                                  output_field=BooleanField()))


def locked(queryset, *, of: tuple[str, ...] = (), timeout_ms: int | None = None,
           busy_message: str | None = None) -> list:
    """The rows of ``queryset``, each locked (``SELECT … FOR UPDATE``, ``of`` as Django's
    ``select_for_update(of=…)``) until the transaction ends, evaluated now. The wait for
    the locks is bounded by ``timeout_ms`` (default ``settings.DB_LOCK_TIMEOUT_MS``), set
    by the locking statement itself for the rest of the transaction (no extra round trip,
    never connection-wide); a wait that runs out raises ``core.errors.Busy`` (503 "busy"
    with Retry-After at every door). Caller holds a transaction.

    Every request-path row lock goes through this (or, for the equipment row,
    ``equipment.services.lock_equipment``, which does the same in plain SQL)."""
    message = busy_message or gettext(
        "What this request needs is locked by another change right now; nothing was "
        "changed. Retry in a moment.")
    with busy_on_lock_timeout(message):
        return list(_bounded(queryset.select_for_update(of=of), timeout_ms))


def locked_one(queryset, *, of: tuple[str, ...] = (), timeout_ms: int | None = None,
               busy_message: str | None = None):
    """The first row of ``queryset`` (in its order), locked as :func:`locked` locks; None
    when there is none. Filter ``queryset`` to one row (e.g. by primary key): every row
    it matches is locked."""
    rows = locked(queryset, of=of, timeout_ms=timeout_ms, busy_message=busy_message)
    return rows[0] if rows else None
