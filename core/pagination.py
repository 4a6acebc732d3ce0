"""Cursor pagination for the API lists that grow without bound (issue 17, part 4).

``CursorPage`` is DRF's ``CursorPagination`` (opaque base64 cursors, ``next`` /
``previous`` / ``results``, no ``count``) made a true keyset: the cursor holds the
values of *every* ordering field of the row it stops at, the last of which is unique
(the id), and the next page is ``WHERE (start, id) < (:start, :id)`` — a row-value
comparison that an index on the same columns answers by seeking, so a page 500,000 rows
deep costs what page 1 costs. DRF's own cursor keeps only the first field plus an
offset for ties, which skips or repeats rows when many share a value (bookings that
start at the same hour) and walks the tie group on every page.

A list states its order once, with the unique tiebreak last, all in one direction::

    pagination_class = CursorPage.by("-start", "-id")

New rows that sort before the cursor never shift a later page (no row read twice, none
skipped); rows inserted after the cursor show on the pages still to come. A cursor that
does not decode, or whose values do not fit the list's order, is a 400 problem
(``invalid_cursor``), never DRF's 404. Lists whose total is cheap to count (hubs,
equipment, webhook endpoints …) keep ``PageNumberPagination``, the settings' default.
"""

from __future__ import annotations

import datetime
import json
from base64 import b64decode, b64encode
from urllib import parse

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.utils.translation import gettext_lazy as _
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.utils.urls import replace_query_param

from .errors import MAX_ID, ValidationFailed, define

INVALID_CURSOR = define(
    "invalid_cursor", ValidationFailed,
    _("This cursor is not valid for this list; start again without a cursor and follow "
      "the next and previous links."), field="cursor")

INVALID_PAGE_SIZE = define(
    "invalid_page_size", ValidationFailed,
    _("Give page_size as a whole number from 1 to %(max)d."), field="page_size")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class CursorPage(CursorPagination):
    """Keyset pagination on ``ordering`` (set it with :meth:`by`). Clients follow the
    ``next`` / ``previous`` links; ``page_size`` (1 … 500) sets the page's length."""

    ordering: tuple[str, ...] = ("-id",)
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    cursor_query_description = _(
        "Opaque position in the list: pass the cursor from a previous page's `next` or "
        "`previous` link unchanged. Omit it for the first page.")
    page_size_query_description = _("Number of results per page (at most 500).")

    @classmethod
    def by(cls, *ordering: str) -> type[CursorPage]:
        """A CursorPage ordered on ``ordering``: local, non-null fields in one direction,
        the last of them unique (the id) so every row has its own position."""
        if not ordering or len({o.startswith("-") for o in ordering}) != 1:
            raise ValueError("Order a cursor list on fields in one direction, e.g. "
                             "('-start', '-id').")
        if any("__" in o for o in ordering):
            raise ValueError("A cursor list orders on the model's own fields only.")
        name = "CursorPageBy" + "".join(o.lstrip("-").title().replace("_", "")
                                        for o in ordering)
        return type(name, (cls,), {"ordering": tuple(ordering),
                                   "__module__": cls.__module__})

    # --- the page -----------------------------------------------------------------------

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)
        self._fields = [self._field(queryset.model, o.lstrip("-")) for o in self.ordering]

        self.cursor = self.decode_cursor(request)
        reverse = bool(self.cursor and self.cursor.reverse)
        current = self._values(self.cursor.position) if self.cursor else None

        order = _reversed(self.ordering) if reverse else self.ordering
        queryset = queryset.order_by(*order)
        if current is not None:
            queryset = queryset.filter(keyset_after(order, current))

        results = list(queryset[:self.page_size + 1])
        self.page = results[:self.page_size]
        following = (self._get_position_from_instance(results[-1], self.ordering)
                     if len(results) > len(self.page) else None)
        position = self.cursor.position if self.cursor else None

        if reverse:
            self.page.reverse()
            self.has_next, self.next_position = position is not None, position
            self.has_previous, self.previous_position = following is not None, following
        else:
            self.has_next, self.next_position = following is not None, following
            self.has_previous, self.previous_position = position is not None, position
        self.display_page_controls = bool(self.has_previous or self.has_next)
        return self.page

    def get_ordering(self, request, queryset, view):
        """The list's own order, always: an ``ordering=`` filter (none of the cursor lists
        offers one) could break the one-direction, unique-last rule the keyset needs."""
        return tuple(self.ordering)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise INVALID_PAGE_SIZE.error(max=self.max_page_size)
        return size

    # The next link stops at the page's last row, the previous at its first: with a unique
    # position per row DRF's tie offsets are always 0, so its link code applies as is.

    # --- the cursor ---------------------------------------------------------------------

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            tokens = parse.parse_qs(b64decode(encoded.encode("ascii"), validate=True)
                                    .decode("ascii"), strict_parsing=True)
            reverse = {"0": False, "1": True}[tokens.get("r", ["0"])[0]]
            position = tokens["p"][0]
            if tokens.get("o", ["0"]) != ["0"]:
                raise ValueError("offset")
        except (ValueError, KeyError, UnicodeError, TypeError):
            raise INVALID_CURSOR.error() from None
        self._values(position)  # refuse a position that does not fit this list's order
        return Cursor(offset=0, reverse=reverse, position=position)

    def encode_cursor(self, cursor):
        return replace_query_param(self.base_url, self.cursor_query_param,
                                self.cursor_token(cursor.position, reverse=cursor.reverse))

    @staticmethod
    def cursor_token(position: str, *, reverse: bool = False) -> str:
        """The opaque ``cursor`` value for a position (see :meth:`position_of`)."""
        tokens = {"p": position, **({"r": "1"} if reverse else {})}
        return b64encode(parse.urlencode(tokens).encode("ascii")).decode("ascii")

    @classmethod
    def position_of(cls, values) -> str:
        """The position of a row whose ordering fields hold ``values`` (in order)."""
        return json.dumps([_plain(v) for v in values], separators=(",", ":"))

    def _get_position_from_instance(self, instance, ordering):
        get = instance.get if isinstance(instance, dict) else (
            lambda name: getattr(instance, name))
        return self.position_of(get(o.lstrip("-")) for o in ordering)

    def _values(self, position: str) -> list:
        try:
            raw = json.loads(position)
            if not isinstance(raw, list) or len(raw) != len(self._fields):
                raise ValueError("length")
            values = [field.to_python(value) for field, value in zip(self._fields, raw,
                                                                     strict=True)]
        except (ValueError, TypeError, DjangoValidationError):
            raise INVALID_CURSOR.error() from None
        if any(v is None or (isinstance(v, datetime.datetime) and v.tzinfo is None)
               or (isinstance(v, int) and abs(v) > MAX_ID) for v in values):
            raise INVALID_CURSOR.error()
        return values

    # --- the schema -----------------------------------------------------------------------

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size,
                                           default=self.page_size)
        return parameters

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "description": "A cursor page: no total count; follow `next` until it is null.",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The following page, or null on the last.",
                         "example": "https://testbed.example/api/v1/bookings/?cursor=cD0lNUIx"},
                "previous": {**link, "description": "The page before, or null on the first."},
                "results": schema,
            },
        }

    @staticmethod
    def _field(model, name):
        try:
            return model._meta.get_field("id" if name == "pk" else name)
        except FieldDoesNotExist:
            raise ValueError(f"{model.__name__} has no field {name!r} to order on.") from None


def _plain(value):
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, int | str):
        return value
    return str(value)


def _reversed(ordering):
    return tuple(o[1:] if o.startswith("-") else f"-{o}" for o in ordering)


def keyset_after(ordering, values):
    """The condition "after ``values`` in ``ordering``" (fields in one direction), for
    ``filter()``: a row-value comparison, ``(start, id) > (%s, %s)``, which an index on
    the same columns answers by seeking."""
    columns = Tuple(*(F(o.lstrip("-")) for o in ordering))
    lookup = TupleLessThan if ordering[0].startswith("-") else TupleGreaterThan
    return lookup(columns, list(values))


