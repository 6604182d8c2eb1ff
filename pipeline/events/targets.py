"""Which addresses a webhook may reach: public ones, and private ones only where allowed.

A site file names a webhook by URL; left unchecked, the delivery process could be pointed at
the machine itself (127.0.0.1), the cloud metadata service (169.254.169.254) or the plant's
internal network. So the host is resolved and every address it resolves to is checked; the
connection then goes to a checked address (not a second lookup, which a rebinding DNS server
could answer differently). Refused: loopback, private (RFC 1918, fc00::/7 unique-local),
link-local, CGNAT, multicast, reserved and unspecified addresses, and IPv4-mapped IPv6 forms
of them; unless inside one of the sink's `allowed_networks`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(Exception):
    """The destination resolves to an address the sink may not reach."""


@dataclass(frozen=True)
class Target:
    host: str  # as written in the URL (the Host header and the TLS server name)
    port: int
    addresses: tuple[tuple[int, tuple[str, int] | tuple[str, int, int, int]], ...]
    # (socket family, socket address) of every checked address, in resolver order


def _plain(address: IpAddress) -> IpAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_allowed(address: IpAddress, allowed: Sequence[IpNetwork]) -> bool:
    """Public unicast addresses always; any other only inside `allowed`."""
    address = _plain(address)
    if any(address.version == network.version and address in network for network in allowed):
        return True
    return address.is_global and not address.is_multicast


def resolve_target(host: str, port: int, allowed: Sequence[IpNetwork]) -> Target:
    """Resolve `host` and check every address. Raises TargetRefused (naming the address and
    the setting that allows it) or OSError (the name does not resolve)."""
    name = host.strip("[]")  # IPv6 literals are bracketed in URLs
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses = []
    for family, _, _, _, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if not address_allowed(address, allowed):
            raise TargetRefused(
                f"{host} resolves to {address}, a loopback, private, link-local or reserved "
                f"address; webhooks reach those only when allowed_networks lists them "
                f"(e.g. allowed_networks: [{ipaddress.ip_network(address)}])"
            )
        addresses.append((int(family), tuple(sockaddr)))
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    unique = tuple(dict.fromkeys(addresses))
    return Target(host=name, port=port, addresses=unique)  # type: ignore[arg-type]
