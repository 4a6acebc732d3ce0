"""OPC UA result source (asyncua): a subscription to the configured nodes while the
collector holds the equipment (``Driver``, driver.py), a history read of a booking's
window where the server historises and the source says so (``fetch_history``), and "test
connection" (``probe``) (reads.py); connecting, security and the messages we show are in
client.py, the collector's client certificate in certificates.py.

The configuration is DESIGN.md's ``opcua`` row, normalised by ``equipment.sources``.
Every connection goes to the address the outbound guard has just checked: the URL's host
is replaced by that address, never resolved again. A reading keeps the server's source
timestamp (its server timestamp when the device gave none, our clock as a last resort).

asyncua is asyncio: each entry point runs its own event loop in the calling thread
(the collector gives every driver a thread). Django's ORM must not be touched inside
that loop, so everything the source needs is read from the equipment first (``Source``).

Error messages are our own words: the server's answers and exception texts go to the
log, never to the operator or the SME.
"""

from .client import (
    BAD_CONFIG,
    BAD_NODE_ID,
    CANNOT_CONNECT,
    CERTIFICATE_MISMATCH,
    NO_ENDPOINT,
    NODE_MISSING,
    NOT_HISTORIZED,
    NOT_UNDERSTOOD,
    REFUSED,
    REQUEST_FAILED,
    SECURITY_REJECTED,
)
from .driver import Driver
from .reads import fetch_history, probe

__all__ = ["BAD_CONFIG", "BAD_NODE_ID", "CANNOT_CONNECT", "CERTIFICATE_MISMATCH", "NODE_MISSING",
           "NOT_HISTORIZED", "NOT_UNDERSTOOD", "NO_ENDPOINT", "REFUSED", "REQUEST_FAILED",
           "SECURITY_REJECTED", "Driver", "fetch_history", "probe"]
