"""No server-side request forgery through a customer's endpoint (issue 16): a test file, a delivery, a
stream notification or a stream's RTP goes only to public addresses, or to networks the operator
allows; a name that resolves to a private address counts as that address; the customer never sees the
body of what its server answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callrec_ari.delivery.http_transport import HttpTransport
from callrec_ari.delivery.packaging import Package, package_call
from callrec_ari.delivery.routing import Route
from callrec_ari.delivery.settings import DeliveryConfigError, DeliverySettings, load_delivery_settings
from callrec_ari.delivery.sftp_transport import SftpTransport
from callrec_ari.delivery.transport import DeliveryFailure, Upload
from callrec_ari.portal.contracts.testsend import send_test_file
from callrec_ari.rules import destinations
from callrec_ari.rules.delivery import Outcome
from callrec_ari.streaming.metadata import build_metadata
from callrec_ari.streaming.notify import REFUSED_DESTINATION, StreamNotifier
from callrec_ari.streaming.settings import StreamSettings
from callrec_ari.streaming.tap import StreamTap
from tests.delivery.conftest import SECRET, call_record, free_port, segments_for
from tests.streaming.websocket_fakes import PLAN, FakeAri
from tests.support.customer_server import CustomerServer, serving
from tests.support.network import LOOPBACK

REFUSED = ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
           "100.64.0.1", "0.0.0.0", "224.0.0.1", "192.0.2.7", "::1", "fe80::1", "fc00::1",
           "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2001:db8::1", "ff02::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused_unless_allowed(address: str) -> None:
    assert not destinations.allowed(address, ())
    with pytest.raises(destinations.DestinationRefused, match="not a public address"):
        destinations.check(address, ())
    wide = destinations.parse_networks(["0.0.0.0/0", "::/0"])
    assert destinations.allowed(address, wide)


@pytest.mark.parametrize("address", ["8.8.8.8", "203.0.114.1", "2606:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert destinations.allowed(address, ())


def test_the_allow_list_is_exact_and_checked_at_load() -> None:
    nets = destinations.parse_networks(["10.20.0.0/16", "127.0.0.1"])
    assert destinations.allowed("10.20.3.4", nets) and destinations.allowed("127.0.0.1", nets)
    assert not destinations.allowed("10.21.0.1", nets) and not destinations.allowed("127.0.0.2", nets)
    with pytest.raises(DeliveryConfigError, match="allow_destinations"):
        load_delivery_settings(None, {"CALLREC_DELIVERY_ALLOW_DESTINATIONS": "10.0.0.0/8,not-a-net",
                                      "CALLREC_DELIVERY_CONNECTION_SECRET": "x" * 20})


@pytest.fixture
async def server() -> AsyncIterator[CustomerServer]:
    """Standing for what must not be reached (or a customer's, when allowed)."""
    async with serving(CustomerServer(body='{"status": "stored"}')) as srv:
        yield srv


@pytest.fixture
def package(tmp_path: Path) -> Package:
    return package_call(call_record("c-ssrf"), segments_for(tmp_path / "wav", "c-ssrf"), tmp_path / "outbox")


def upload(package: Package) -> Upload:
    return Upload("c-ssrf", package.key, package.zip_path, package.size, package.sha256)


async def send(url: str, package: Package, networks: tuple[str, ...] = ()) -> DeliveryFailure | None:
    transport = HttpTransport(url, SECRET, connect_timeout=2, networks=destinations.parse_networks(networks))
    try:
        await transport.send(upload(package))
    except DeliveryFailure as exc:
        return exc
    finally:
        await transport.close()
    return None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_a_delivery_to_loopback_sends_nothing(server: CustomerServer, package: Package,
                                                    host: str) -> None:
    # "localhost" is a name: the addresses it resolves to are checked as the connection is made
    failure = await send(f"http://{host}:{server.port}/recordings", package)
    assert failure is not None and failure.error_id == destinations.REFUSED
    assert failure.outcome is Outcome.TRANSIENT  # kept and retried: the operator may allow it
    assert server.hits == 0
    # the same server, once the operator allows loopback: delivered
    assert await send(f"http://127.0.0.1:{server.port}/recordings", package, LOOPBACK) is None
    assert server.hits == 1


async def test_cloud_metadata_and_private_ranges_are_never_contacted(package: Package) -> None:
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/recordings",
                "https://[fd00::1]/recordings"):
        failure = await send(url, package)
        # refused by the guard before any connection attempt (net/destinations.py): one that was
        # tried would end otherwise (answered, refused by the network, timed out), never as this
        assert failure is not None and failure.error_id == destinations.REFUSED, url


async def test_a_test_file_to_loopback_is_refused_and_reaches_nothing(server: CustomerServer) -> None:
    route = Route(name="contract 7 connection 3", type="http", url=f"http://127.0.0.1:{server.port}/x",
                  secret=SECRET)
    result = await send_test_file(route, "7", "09000001001", DeliverySettings(), timeout=5)
    assert (result["ok"], result["error_id"]) == (False, destinations.REFUSED)
    assert "not a public address" in result["message"] and server.hits == 0


async def test_the_customer_never_sees_its_servers_answer(server: CustomerServer) -> None:
    server.status, server.body = 500, "<html>internal admin page: db password hunter2</html>"
    route = Route(name="contract 7 connection 3", type="http", url=f"http://127.0.0.1:{server.port}/x",
                  secret=SECRET)
    result = await send_test_file(route, "7", "09000001001", DeliverySettings(allow_destinations=LOOPBACK),
                                  timeout=5)
    assert (result["ok"], result["status"]) == (False, 500) and server.hits == 1
    assert "hunter2" not in str(result) and "admin" not in str(result)
    server.status, server.body = 422, '{"error_id": "checksum-mismatch", "message": "secret detail 42"}'
    result = await send_test_file(route, "7", "09000001001", DeliverySettings(allow_destinations=LOOPBACK),
                                  timeout=5)
    assert result["error_id"] == "checksum-mismatch" and "secret detail" not in str(result)


async def test_sftp_to_a_private_address_is_refused_before_connecting(package: Package) -> None:
    transport = SftpTransport("127.0.0.1", free_port(), "u", "/nonexistent-key", ".", connect_timeout=2)
    with pytest.raises(DeliveryFailure) as info:
        await transport.send(upload(package))
    assert info.value.error_id == destinations.REFUSED


async def test_stream_notifications_to_loopback_are_refused(server: CustomerServer) -> None:
    settings = StreamSettings(control_url=f"http://127.0.0.1:{server.port}/streams", secret=SECRET)
    meta = build_metadata(call_id="c-ssrf", line="1", caller="2", callee="3", direction="outgoing",
                          started_at=datetime.now(UTC), settings=settings, rtp_source="127.0.0.1:10000")
    async with StreamNotifier(settings) as notifier:
        result = await notifier.start(meta)
    assert not result and result.error_id == REFUSED_DESTINATION and server.hits == 0
    allowed = StreamSettings(control_url=settings.control_url, secret=SECRET, allow_destinations=LOOPBACK)
    async with StreamNotifier(allowed) as notifier:
        assert await notifier.start(meta)
    assert server.hits == 1


async def test_a_streams_rtp_to_a_private_address_is_never_created() -> None:
    # Asterisk would send the call's audio to the address: the tap refuses before asking for the channel
    ari = FakeAri(not_in_stasis_for=0)
    settings = StreamSettings(control_url="https://streams.example.com/in", secret=SECRET,
                              rtp_host="10.0.0.1", rtp_port=4000)
    tap = StreamTap(ari, settings, PLAN, "bridge-1")  # type: ignore[arg-type]
    assert not await tap.begin(datetime.now(UTC))
    assert ari.calls == []
