"""Which addresses a webhook may reach."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from pipeline.events.targets import TargetRefused, address_allowed, resolve_target

REFUSED = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.5",
    "172.16.4.4",
    "192.168.1.10",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "0.0.0.0",
    "224.0.0.251",  # multicast
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",  # unique-local
    "fd12:3456::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
    "ff02::1",
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused_by_default(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), ())


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), ())


@pytest.mark.parametrize(
    ("address", "networks", "allowed"),
    [
        ("127.0.0.1", ["127.0.0.0/8"], True),
        ("10.20.3.4", ["10.20.0.0/16"], True),
        ("10.21.3.4", ["10.20.0.0/16"], False),
        ("169.254.169.254", ["10.0.0.0/8"], False),
        ("::ffff:127.0.0.1", ["127.0.0.1/32"], True),
        ("::1", ["127.0.0.0/8"], False),
    ],
)
def test_allowed_networks_open_only_what_they_list(
    address: str, networks: list[str], allowed: bool
) -> None:
    parsed = [ipaddress.ip_network(network) for network in networks]
    assert address_allowed(ipaddress.ip_address(address), parsed) is allowed


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "169.254.169.254", "[::1]"])
def test_resolution_checks_every_address_and_names_the_setting(host: str) -> None:
    with pytest.raises(TargetRefused, match="allowed_networks"):
        resolve_target(host, 80, ())


def test_an_allowed_target_connects_to_the_checked_address() -> None:
    target = resolve_target("127.0.0.1", 8080, [ipaddress.ip_network("127.0.0.0/8")])
    assert target.addresses == ((socket.AF_INET, ("127.0.0.1", 8080)),)
