"""Invariant 8: one guard for every outbound request (issue 12, server-side request forgery).

Real loopback servers stand for the internal services an attacker aims at (no mocks of
requests): with no allowance they are never reached, whichever spelling names them; with
an allowance (deployment-wide, or one hub's) the very same server is reached, so each
refusal is proven to be the guard's doing. Name resolution is faked only where a test
needs a name to resolve somewhere (DNS rebinding, TLS on a host name)."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import trustme

from bookings import services as booking_services
from core import outbound, outbox, webhooks
from core.models import OutboxMessage, WebhookEndpoint
from equipment.models import Equipment, Hub
from tests.factories import HubFactory
from tests.fixtures.peers import POLL, complete, results_csv
from tests.fixtures.world import key_client, local, make_equipment
from trials.models import Trial

pytestmark = pytest.mark.django_db

LOOPBACK = ["127.0.0.0/8", "::1/128"]
REFUSED = str(outbound.REFUSED)
GATEWAY_REFUSED = ("The gateway's address is not allowed for outbound requests "
                   "(outbound_refused).")


# --- loopback peers ---------------------------------------------------------------------

@dataclass
class Peer:
    host: str
    port: int
    hits: list[dict] = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)
    sni: list[str] = field(default_factory=list)

    def url(self, host: str | None = None, path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture
def serve():
    """``serve(host, port=0, tls=None)`` → a Peer answering every GET/POST from its script."""
    servers = []

    def start(host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None,
              **script) -> Peer:
        peer = Peer(host=host, port=0, **script)

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                peer.hits.append({"path": self.path, "host": self.headers.get("Host"),
                                  "body": self.rfile.read(length)})
                self.send_response(peer.status)
                for name, value in peer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(peer.body)))
                self.end_headers()
                self.wfile.write(peer.body)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args):
                pass

        server_cls = _V6Server if ":" in host else ThreadingHTTPServer
        server = server_cls((host, port), Handler)
        server.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: peer.sni.append(name)
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        peer.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs=POLL, daemon=True).start()
        servers.append(server)
        return peer

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Replaces the security tests' resolver guard: besides loopback names, the numeric
    spellings of addresses resolve here (the guard must judge what they resolve to);
    every other name still fails unless a test fakes it."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name != "localhost" and not set(name.lower()) <= set("0123456789abcdefx.:"):
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: no network in these tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def no_allowance(settings):
    """A production deployment: nothing internal allowed (plain http allowed only so that
    the loopback peers can stand for internal services)."""
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    settings.OUTBOUND_ALLOW_HTTP = True
    return settings


@pytest.fixture
def fake_dns(monkeypatch):
    """``fake_dns({"name": ["ip", …] or callable})``: those names resolve as given (and
    every lookup is counted); any other name resolves as before."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def install(table: dict):
        def getaddrinfo(host, port, *args, **kwargs):
            name = host.decode() if isinstance(host, bytes) else str(host)
            if name in table:
                lookups.append(name)
                entry = table[name]
                addresses = entry() if callable(entry) else entry
                return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM,
                         6, "", (ip, port or 0)) for ip in addresses]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return lookups

    return install


def post(url: str, hub: Hub | None = None) -> webhooks.Delivery:
    return webhooks.deliver(url=url, secret=webhooks.new_secret(), msg_id="msg_test",
                            event_type="booking.requested", data={"booking": 1}, timeout=5,
                            hub=hub)


# --- the guard: every spelling of an internal address -----------------------------------

SPELLINGS = [
    "http://127.0.0.1:{port}/hook",
    "http://[::1]:{port6}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",  # IPv4-mapped IPv6
    "http://2130706433:{port}/hook",  # decimal
    "http://0x7f000001:{port}/hook",  # hex
    "http://0177.0.0.1:{port}/hook",  # octal
    "http://127.1:{port}/hook",  # short form
    "http://localhost:{port}/hook",  # a name that resolves to loopback
]


@pytest.mark.parametrize("template", SPELLINGS)
def test_loopback_in_any_spelling_is_refused_unless_allowed(template, serve, no_allowance):
    v4, v6 = serve("127.0.0.1"), serve("::1")
    url = template.format(port=v4.port, port6=v6.port)

    with pytest.raises(outbound.OutboundRefused) as refused:
        outbound.check_url(url)
    assert [(v.code, v.field) for v in refused.value.violations] == [(outbound.CODE, "url")]
    result = post(url)
    assert (result.ok, result.status_code, result.error) == (False, None,
                                                             webhooks.ERROR_REFUSED)
    assert v4.hits == v6.hits == []

    # The same URL reaches the server once loopback is allowed: the refusal was the guard.
    no_allowance.OUTBOUND_ALLOWED_NETWORKS = LOOPBACK
    outbound.check_url(url)
    assert post(url).ok
    assert len(v4.hits + v6.hits) == 1


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://10.0.0.5/", "http://172.16.0.1/", "http://192.168.1.1/",  # private
    "http://100.64.0.1/",  # shared address space (carrier-grade NAT)
    "http://0.0.0.0:5432/", "http://[::]/",  # unspecified
    "http://224.0.0.1/", "http://240.0.0.1/", "http://255.255.255.255/",  # multicast, reserved
    "http://[fe80::1]/", "http://[fc00::1]/",  # IPv6 link-local, unique local
    "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::1]/",  # NAT64 and 6to4 of 127.0.0.1
    "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped 169.254.169.254 in hex
])
def test_internal_addresses_are_refused_before_any_connection(url, no_allowance):
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url(url)
    assert post(url).error == webhooks.ERROR_REFUSED  # refused, not "could not connect"


def test_public_addresses_pass_the_check(no_allowance):
    for url in ("https://93.184.215.14/", "http://8.8.8.8:8080/x",
                "https://[2606:4700:4700::1111]/", "http://[::ffff:8.8.8.8]/"):
        outbound.check_url(url)


def test_only_allowed_schemes(no_allowance):
    no_allowance.OUTBOUND_ALLOW_HTTP = False  # production
    with pytest.raises(outbound.OutboundRefused) as refused:
        outbound.check_url("http://93.184.215.14/hook")
    assert refused.value.message == str(outbound.BAD_SCHEME)
    outbound.check_url("https://93.184.215.14/hook")
    no_allowance.OUTBOUND_ALLOW_HTTP = True
    for url in ("ftp://93.184.215.14/x", "file:///etc/passwd", "gopher://93.184.215.14/",
                "//93.184.215.14/x", "https:///nohost", "https://93.184.215.14:99999/"):
        with pytest.raises(outbound.OutboundRefused):
            outbound.check_url(url)


def test_a_name_resolving_to_any_internal_address_is_refused(no_allowance, fake_dns, serve):
    peer = serve("127.0.0.1")
    fake_dns({"mixed.example": ["93.184.215.14", "127.0.0.1"]})
    url = peer.url("mixed.example")
    with pytest.raises(outbound.OutboundRefused):
        outbound.check_url(url)
    assert post(url).error == webhooks.ERROR_REFUSED
    assert peer.hits == []


def test_connection_is_pinned_to_the_checked_address(settings, serve, fake_dns):
    """DNS rebinding: the name resolves to an allowed address when checked and to a
    refused one afterwards; the request still goes to the checked one, looked up once."""
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    allowed = serve("127.0.0.1")
    internal = serve("127.0.0.2", port=allowed.port)  # same port, another address
    answers = iter([["127.0.0.1"]])
    lookups = fake_dns({"gw.rebind.example": lambda: next(answers, ["127.0.0.2"])})

    result = post(allowed.url("gw.rebind.example"))

    assert result.ok, result.error
    assert len(allowed.hits) == 1 and internal.hits == []
    assert allowed.hits[0]["host"] == f"gw.rebind.example:{allowed.port}"
    assert lookups == ["gw.rebind.example"]
    # Checked again at the next request: now the name points inside, and it is refused.
    assert post(allowed.url("gw.rebind.example")).error == webhooks.ERROR_REFUSED
    assert internal.hits == []


def test_https_keeps_sni_and_certificate_checks_on_the_host_name(settings, serve, fake_dns,
                                                                 tmp_path):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    fake_dns({"gateway.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("gateway.example").configure_cert(tls)
    peer = serve("127.0.0.1", tls=tls)

    with outbound.request("GET", peer.url("gateway.example", "/x", "https"),
                          verify=str(ca_file), timeout=5) as response:
        assert response.status_code == 200
    assert peer.sni == ["gateway.example"]
    assert peer.hits[0]["host"] == f"gateway.example:{peer.port}"
    # The certificate is checked against the name asked for, not the pinned address.
    with (pytest.raises(requests.exceptions.SSLError),
          outbound.request("GET", peer.url("other.example", "/x", "https"),
                           verify=str(ca_file), timeout=5)):
        pass


def test_redirects_are_not_followed(settings, serve):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    internal = serve("127.0.0.2")
    bouncer = serve("127.0.0.1", status=302, headers={"Location": internal.url()})
    result = post(bouncer.url())
    assert (result.ok, result.status_code, result.error) == (False, 302, "HTTP 302")
    assert len(bouncer.hits) == 1 and internal.hits == []


# --- result sources: collection ---------------------------------------------------------

def _booking(equipment, sme):
    booking = booking_services.create_booking(
        equipment_id=equipment.pk, organization=sme, start=local(1, 9), end=local(1, 11),
        purpose="trial")
    booking_services.check_in_booking(booking_id=booking.pk, organization=equipment.hub.operator,
                                      now=booking.start)
    return booking


def _collect(booking, capture) -> Trial:
    with capture(execute=True):
        complete(booking, booking.equipment.hub.operator)
    return Trial.objects.get(pk=booking.pk)


@pytest.fixture
def gateway_peer(serve):
    peer = serve("127.0.0.1")
    peer.body = results_csv(local(1, 9), rows=3)
    return peer


@pytest.fixture
def other_hub(other_operator):
    return HubFactory(operator=other_operator, name="Changping", slug="changping",
                      opening_hours=Hub._meta.get_field("opening_hours").default())


def test_redirect_from_the_gateway_fails_the_trial(settings, serve, hub, category, sme,
                                                   django_capture_on_commit_callbacks):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    internal = serve("127.0.0.2")
    bouncer = serve("127.0.0.1", status=307, headers={"Location": internal.url()})
    eq = make_equipment(hub, category, "gw", result_source_kind="http",
                        result_source_url=bouncer.url("127.0.0.1", "/results"))
    trial = _collect(_booking(eq, sme), django_capture_on_commit_callbacks)
    assert trial.status == Trial.Status.FAILED
    assert trial.last_error == ("The gateway answered HTTP 307; expected 200 with CSV or "
                                "JSON.")
    assert len(bouncer.hits) == 1 and internal.hits == []


def test_hub_allowance_works_for_that_hub_only(no_allowance, gateway_peer, hub, other_hub,
                                               category, sme,
                                               django_capture_on_commit_callbacks):
    hub.outbound_allowed_networks = "127.0.0.0/8\n::1/128"
    hub.save()
    url = gateway_peer.url(path="/results")
    ours = make_equipment(hub, category, "ours", result_source_kind="http",
                          result_source_url=url, result_source_secret="internal-token")
    theirs = make_equipment(other_hub, category, "theirs", result_source_kind="http",
                            result_source_url=url, result_source_secret="attacker-token")

    collected = _collect(_booking(ours, sme), django_capture_on_commit_callbacks)
    refused = _collect(_booking(theirs, sme), django_capture_on_commit_callbacks)

    assert collected.status == Trial.Status.COLLECTED, collected.last_error
    assert refused.status == Trial.Status.FAILED
    assert refused.last_error == GATEWAY_REFUSED
    assert len(gateway_peer.hits) == 1  # only the allowed hub's request reached it


def test_deployment_wide_allowance_works_for_every_hub(no_allowance, gateway_peer, other_hub,
                                                       category, sme,
                                                       django_capture_on_commit_callbacks):
    no_allowance.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    eq = make_equipment(other_hub, category, "theirs", result_source_kind="http",
                        result_source_url=gateway_peer.url(path="/results"))
    trial = _collect(_booking(eq, sme), django_capture_on_commit_callbacks)
    assert trial.status == Trial.Status.COLLECTED, trial.last_error


def test_gateway_url_saved_while_allowed_is_refused_at_collection_once_disallowed(
        no_allowance, gateway_peer, hub, category, sme, operator,
        django_capture_on_commit_callbacks):
    hub.outbound_allowed_networks = "127.0.0.0/8"
    hub.save()
    eq = make_equipment(hub, category, "gw")
    r = key_client(operator).patch(f"/api/v1/equipment/{eq.pk}/", {"result_source": {
        "kind": "http", "url": gateway_peer.url(path="/results"), "secret": "s"}},
        format="json")
    assert r.status_code == 200, r.content
    booking = _booking(eq, sme)
    hub.outbound_allowed_networks = ""  # platform staff withdraw the allowance
    hub.save()

    trial = _collect(booking, django_capture_on_commit_callbacks)

    assert trial.status == Trial.Status.FAILED
    assert trial.last_error == GATEWAY_REFUSED
    assert gateway_peer.hits == []
    sme_view = key_client(sme).get(f"/api/v1/trials/{trial.pk}/").json()
    assert sme_view["last_error"] == GATEWAY_REFUSED


# --- saving a URL through the API -------------------------------------------------------

def test_equipment_result_source_url_checked_on_save(no_allowance, hub, other_hub, category,
                                                     operator, other_operator):
    hub.outbound_allowed_networks = "10.20.0.0/16"
    hub.save()
    ours = make_equipment(hub, category, "ours")
    theirs = make_equipment(other_hub, category, "theirs")
    for url in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:5432/",
                "http://[::ffff:127.0.0.1]/", "http://10.21.0.1/"):
        r = key_client(operator).patch(f"/api/v1/equipment/{ours.pk}/", {
            "result_source": {"kind": "http", "url": url, "secret": "x"}}, format="json")
        assert r.status_code == 400, (url, r.content)
        assert r["Content-Type"] == "application/problem+json"
        assert r.json()["errors"] == {"result_source.url": [REFUSED]}
    ours.refresh_from_db()
    assert (ours.result_source_kind, ours.result_source_url) == ("none", "")

    allowed = {"result_source": {"kind": "http", "url": "http://10.20.3.4:8080/r"}}
    r = key_client(operator).patch(f"/api/v1/equipment/{ours.pk}/", allowed, format="json")
    assert r.status_code == 200, r.content
    # The same private address on another operator's hub: not allowed there.
    r = key_client(other_operator).patch(f"/api/v1/equipment/{theirs.pk}/", allowed,
                                         format="json")
    assert r.status_code == 400
    assert r.json()["errors"] == {"result_source.url": [REFUSED]}
    # Creating equipment is checked the same way.
    r = key_client(other_operator).post("/api/v1/equipment/", {
        "hub": other_hub.slug, "slug": "new", "name": "New", "category": category.slug,
        "result_source": {"kind": "http", "url": "http://192.168.0.10/"}}, format="json")
    assert r.status_code == 400 and "result_source.url" in r.json()["errors"]
    assert not Equipment.objects.filter(slug="new").exists()


def test_operators_cannot_set_their_hubs_allowance(no_allowance, hub, operator):
    r = key_client(operator).patch(f"/api/v1/hubs/{hub.slug}/",
                                   {"outbound_allowed_networks": "0.0.0.0/0",
                                    "name": "Renamed"}, format="json")
    assert r.status_code == 200
    hub.refresh_from_db()
    assert (hub.name, hub.outbound_allowed_networks) == ("Renamed", "")
    assert "outbound_allowed_networks" not in r.json()


def test_webhook_url_checked_on_save(no_allowance, operator):
    client = key_client(operator)
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/hook",
                "http://localhost:5432/"):
        r = client.post("/api/v1/webhooks/", {"url": url, "event_types": ["booking.*"]},
                        format="json")
        assert r.status_code == 400, (url, r.content)
        assert r.json()["errors"] == {"url": [REFUSED]}
    assert not WebhookEndpoint.objects.exists()
    r = client.post("/api/v1/webhooks/", {"url": "https://93.184.215.14/hook",
                                          "event_types": ["booking.*"]}, format="json")
    assert r.status_code == 201
    r = client.patch(f"/api/v1/webhooks/{r.json()['id']}/",
                     {"url": "http://192.168.1.10/hook"}, format="json")
    assert r.status_code == 400
    assert r.json()["errors"] == {"url": [REFUSED]}
    assert WebhookEndpoint.objects.get().url == "https://93.184.215.14/hook"


def _agreement_body(hub, endpoint_url):
    return {"university": "tsinghua", "hub": hub.slug, "categories": ["cnc"],
            "endpoint_url": endpoint_url, "valid_from": "2020-01-01T00:00:00+08:00"}


def test_agreement_endpoint_checked_on_save(no_allowance, hub, other_hub, category, operator,
                                            other_operator):
    from tests.fixtures.world import make_org
    from trials.models import SharingAgreement

    make_org("tsinghua", "university")
    r = key_client(operator).post("/api/v1/agreements/",
                                  _agreement_body(hub, "http://10.0.0.5/hook"), format="json")
    assert r.status_code == 400, r.content
    assert r.json()["errors"] == {"endpoint_url": [REFUSED]}
    assert not SharingAgreement.objects.exists()

    hub.outbound_allowed_networks = "10.0.0.0/24"
    hub.save()
    r = key_client(operator).post("/api/v1/agreements/",
                                  _agreement_body(hub, "http://10.0.0.5/hook"), format="json")
    assert r.status_code == 201, r.content
    agreement_id = r.json()["id"]
    r = key_client(other_operator).post(
        "/api/v1/agreements/", _agreement_body(other_hub, "http://10.0.0.5/hook"),
        format="json")
    assert r.status_code == 400 and r.json()["errors"] == {"endpoint_url": [REFUSED]}

    r = key_client(operator).patch(f"/api/v1/agreements/{agreement_id}/",
                                   {"endpoint_url": "http://[::1]:9/"}, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["errors"] == {"endpoint_url": [REFUSED]}
    assert SharingAgreement.objects.get().endpoint_url == "http://10.0.0.5/hook"


# --- sending: operator webhooks ---------------------------------------------------------

def test_webhook_saved_while_allowed_is_refused_at_delivery_once_disallowed(
        settings, serve, operator, django_capture_on_commit_callbacks):
    receiver = serve("127.0.0.1")
    r = key_client(operator).post("/api/v1/webhooks/", {"url": receiver.url(),
                                                        "event_types": ["booking.*"]},
                                  format="json")
    assert r.status_code == 201, r.content  # loopback allowed (tests' deployment setting)
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with django_capture_on_commit_callbacks(execute=False):
        outbox.queue_webhooks(organization_id=operator.pk, event_type="booking.requested",
                              dedupe_key="outbound-test", data={"booking": 1})
    message = OutboxMessage.objects.get(event_type="booking.requested")

    outbox.deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.PENDING and message.sent_at is None
    assert message.last_error == webhooks.ERROR_REFUSED
    assert receiver.hits == []
    settings.OUTBOUND_ALLOWED_NETWORKS = LOOPBACK  # allowed again: the retry goes out
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created)
    assert outbox.deliver(message_id=message.pk) == OutboxMessage.Status.SENT
    assert len(receiver.hits) == 1


def test_delivery_errors_never_echo_the_remote(no_allowance, serve):
    no_allowance.OUTBOUND_ALLOWED_NETWORKS = LOOPBACK
    peer = serve("127.0.0.1", status=500)
    peer.body = b"postgres: FATAL password authentication failed for user admin"
    result = post(peer.url())
    assert result.error == "HTTP 500"
    dead = post("http://127.0.0.1:9/hook")  # nothing listens: our words, no socket text
    assert dead.error == webhooks.ERROR_CONNECT


# --- who sees a gateway's address -------------------------------------------------------

def test_result_source_is_shown_to_the_hub_operator_only(hub, category, operator,
                                                         other_operator, sme):
    eq = make_equipment(hub, category, "gw", result_source_kind="http",
                        result_source_url="http://10.20.0.7:8080/results",
                        result_source_secret="s3cret")
    mine = key_client(operator).get(f"/api/v1/equipment/{eq.pk}/").json()
    assert mine["result_source"] == {"kind": "http", "url": "http://10.20.0.7:8080/results"}
    for org in (other_operator, sme):
        client = key_client(org)
        one = client.get(f"/api/v1/equipment/{eq.pk}/")
        listed = client.get("/api/v1/equipment/")
        assert one.status_code == listed.status_code == 200
        assert one.json()["result_source"] == {"kind": "http"}
        assert [e["result_source"] for e in listed.json()["results"]] == [{"kind": "http"}]
        assert "10.20.0.7" not in one.content.decode() + listed.content.decode()


# --- the admin console: where platform staff allow a hub's networks ----------------------

def test_staff_set_a_hubs_networks_in_the_admin(admin_client, hub, operator):
    from django.urls import reverse

    page = reverse("admin:equipment_hub_change", args=[hub.pk])
    form = {"operator": operator.pk, "name_en": hub.name, "slug": hub.slug,
            "timezone": hub.timezone, "opening_hours": '{"mon": [["08:00", "20:00"]]}',
            "address": "", "description": "",
            "equipment-TOTAL_FORMS": "0", "equipment-INITIAL_FORMS": "0",
            "equipment-MIN_NUM_FORMS": "0", "equipment-MAX_NUM_FORMS": "1000"}
    r = admin_client.post(page, {**form, "outbound_allowed_networks": "10.20.0.1/16"})
    assert r.status_code == 200  # the form again, with the error
    assert "Not a network in CIDR notation" in r.content.decode()
    hub.refresh_from_db()
    assert hub.outbound_allowed_networks == ""
    r = admin_client.post(page, {**form, "outbound_allowed_networks": "10.20.0.0/16\nfd00::/8"})
    assert r.status_code == 302
    hub.refresh_from_db()
    assert outbound.allowed_networks(hub)[-2:] == tuple(
        outbound.parse_networks(["10.20.0.0/16", "fd00::/8"]))


def test_the_admin_equipment_form_refuses_an_internal_gateway(no_allowance, rf, admin_user,
                                                              hub, category):
    """The console saves through the model's validation, which holds the check."""
    from django.contrib import admin
    from django.forms.models import model_to_dict

    eq = make_equipment(hub, category, "gw")
    request = rf.get("/admin/")
    request.user = admin_user
    form_class = admin.site._registry[Equipment].get_form(request, eq, change=True)
    data = {**model_to_dict(eq), "specs": "{}", "result_source_kind": "http",
            "result_source_url": "http://169.254.169.254/latest/meta-data/"}
    form = form_class(data=data, instance=eq)
    assert not form.is_valid()
    assert form.errors["result_source_url"] == [REFUSED]
    hub.outbound_allowed_networks = "169.254.169.254/32"  # staff allowed it for this hub
    hub.save()
    eq = Equipment.objects.get(pk=eq.pk)
    form = form_class(data=data, instance=eq)
    assert form.is_valid(), form.errors


def test_the_ca_bundle_setting_verifies_gateways_behind_an_internal_ca(settings, serve, fake_dns,
                                                                       tmp_path):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    ca = trustme.CA()
    ca_file = tmp_path / "hub-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    fake_dns({"gateway.example": ["127.0.0.1"]})
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("gateway.example").configure_cert(tls)
    peer = serve("127.0.0.1", tls=tls)
    url = peer.url("gateway.example", "/hook", "https")

    settings.OUTBOUND_CA_BUNDLE = ""  # the standard store does not know the hub's CA
    assert post(url).error == webhooks.ERROR_TLS
    settings.OUTBOUND_CA_BUNDLE = str(ca_file)
    assert post(url).ok


@pytest.fixture
def endless_receiver():
    """A receiver that answers 200 and then sends its body forever, a little at a time."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"x" * 1024)
                except OSError:
                    return
                stop.wait(0.05)

    threading.Thread(target=answer, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    listener.close()


def test_an_endless_answer_is_read_only_as_far_as_the_excerpt(settings, endless_receiver):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    result = webhooks.deliver(url=endless_receiver, secret=webhooks.new_secret(),
                              msg_id="msg_endless", event_type="booking.requested",
                              data={"booking": 1}, timeout=2)
    assert result.ok and result.status_code == 200
    assert result.response_excerpt == "x" * webhooks.EXCERPT_CHARS
    # Bounded by the delivery's own timeout, not by the receiver (which never stops).
    assert result.duration_ms < 10_000
