"""A DNS server on 127.0.0.1 standing in for the world's DNS (which the tests, the soak run and the benchmarks
must not reach): it answers the names of its table with their addresses, and any name ending in
`.<a>-<b>-<c>-<d>.ip.example` with the address a.b.c.d (so that a load can name new names that resolve, as
nip.io does); it says NXDOMAIN for the others, and never answers a name that starts with `never` (a server
that does not reply). It counts the queries it gets.

Messages are read and written with dnspython; the locator itself resolves through c-ares (aiodns).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Mapping

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

SILENT_PREFIX = "never"
WILDCARD = ".ip.example"


def address_of(name: str, table: Mapping[str, ipaddress.IPv4Address | ipaddress.IPv6Address]) -> str | None:
    found = table.get(name)
    if found is not None:
        return str(found)
    if name.endswith(WILDCARD):
        dashed = name.removesuffix(WILDCARD).rpartition(".")[2]
        try:
            return str(ipaddress.IPv4Address(dashed.replace("-", ".")))
        except ValueError:
            return None
    return None


class FakeDNS:
    """`FakeDNS({"name.example": "192.0.2.1"})`; `server` is the `host:port` to give LOCATOR_GEO_DNS_SERVERS."""

    def __init__(self, table: Mapping[str, str]) -> None:
        self.table = {name.lower().rstrip("."): ipaddress.ip_address(address) for name, address in table.items()}
        self.queries = 0
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)  # floods queue, as a real server's would
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="fake-dns", daemon=True)
        self._thread.start()

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self._sock.recvfrom(65536)
            except OSError:  # closed
                return
            with self._lock:
                self.queries += 1
            answer = self.answer(data)
            if answer is not None:
                self._sock.sendto(answer, peer)

    def answer(self, data: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        if name.startswith(SILENT_PREFIX):
            return None
        response = dns.message.make_response(query)
        text = address_of(name, self.table)
        if text is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return bytes(response.to_wire())
        address = ipaddress.ip_address(text)
        if question.rdtype == (dns.rdatatype.A if address.version == 4 else dns.rdatatype.AAAA):
            kind = "A" if address.version == 4 else "AAAA"
            response.answer.append(dns.rrset.from_text(question.name, 60, "IN", kind, text))
        return bytes(response.to_wire())

    def close(self) -> None:
        self._sock.close()
