"""One-off reads: "test connection" (``probe``) and the history of a booking's window
(``fetch_history``, for a source in ``history`` mode, by the collection task)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from asyncua import Client, ua
from django.conf import settings

from trials.collector.base import Found, Reading, Sample

from .. import SourceError
from .client import (
    NOT_HISTORIZED,
    Source,
    check_nodes,
    close,
    code_name,
    connect,
    presented_certificate,
    reading,
    run,
    value_of,
)


def probe(equipment, timeout: float = 10.0) -> Sample:
    """Connect, read every configured node once: the metrics found with a sample value
    (None where the node holds no number), and on a secured connection the fingerprint of
    the server's certificate. SourceError in our words otherwise."""
    return run(_probe(Source.of(equipment), timeout))


async def _probe(source: Source, timeout: float) -> Sample:
    async with asyncio.timeout(timeout):
        client = await connect(source, timeout)
        try:
            node_ids = source.node_ids()
            values = dict(zip(node_ids, await check_nodes(client, node_ids,
                                                          ua.AttributeIds.Value),
                              strict=True))
            certificate = presented_certificate(client, source)
        finally:
            await close(client)
    found = Sample(server_certificate=certificate)
    for spec in source.nodes:
        dv = values[spec.node_id]
        raw = dv.Value.Value if dv.Value is not None and dv.StatusCode.is_good() else None
        found.append(Found(spec.metric, spec.unit, value_of(spec, raw)))
    return found


def fetch_history(equipment, start: datetime, end: datetime) -> list[Reading]:
    """The readings the server historised in [start, end), for every configured node;
    SourceError when a node is missing or not historised."""
    source = Source.of(equipment)
    return run(_history(source, start, end, float(settings.TRIAL_SOURCE_TIMEOUT)))


async def _history(source: Source, start: datetime, end: datetime,
                   timeout: float) -> list[Reading]:
    async with asyncio.timeout(timeout * 4):
        client = await connect(source, timeout)
        try:
            node_ids = source.node_ids()
            levels = await check_nodes(client, node_ids, ua.AttributeIds.AccessLevel)
            for node_id, dv in zip(node_ids, levels, strict=True):
                if not ua.ua_binary.test_bit(int(dv.Value.Value or 0),
                                             ua.AccessLevel.HistoryRead):
                    raise SourceError(NOT_HISTORIZED % {"node": node_id})
            history = {node_id: await _read_history(client, node_id, start, end)
                       for node_id in node_ids}
        finally:
            await close(client)
    readings = []
    for spec in source.nodes:
        for dv in history[spec.node_id]:
            found = reading(spec, dv)
            if found is not None and start <= found.ts < end:
                readings.append(found)
    return readings


async def _read_history(client: Client, node_id: str, start: datetime,
                        end: datetime) -> list[ua.DataValue]:
    try:
        return await client.get_node(node_id).read_raw_history(start, end,
                                                               return_bounds=False)
    except ua.UaStatusCodeError as exc:
        if code_name(exc).startswith(("BadHistoryOperation", "BadNotReadable")):
            raise SourceError(NOT_HISTORIZED % {"node": node_id}) from exc
        raise
