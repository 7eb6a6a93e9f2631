#!/usr/bin/python3
# fake_dns.py - tiny authoritative DNS server (UDP and TCP) on loopback for the integration tests.
# Started by tests/integration/conftest.py; answers only from its JSON zone, never recurses, never
# sends a packet anywhere but back to the loopback client that asked.
"""Authoritative DNS server for relayguard's integration tests.

Usage: fake_dns.py --zone ZONE.json [--address 127.0.0.1] [--port 0] [--log FILE.jsonl]

Prints "READY PORT" on stdout once UDP and TCP are bound to the same port (--port 0 picks a
free one).  ZONE.json:

    {"zones": ["test"], "ttl": 60,
     "records": {"two-mx.test": {"MX": [[10, "mx1.two-mx.test"]]},
                 "mx1.two-mx.test": {"A": ["127.0.2.40"], "AAAA": ["::1"]},
                 "nullmx.test": {"MX": [[0, "."]]},
                 "info.test": {"TXT": ["one string", ["two", "strings"]]}}}

Names are case-insensitive.  A name under one of "zones" that has records (or names below it:
an empty non-terminal) exists; asking it for a type it lacks is NODATA; any other name under a
zone is NXDOMAIN; both carry the zone's SOA in the authority section (RFC 2308).  Names
outside every zone are REFUSED.  Answers are built without name compression.
"""

import argparse
import asyncio
import ipaddress
import json
import socket
import struct
import sys
import time

HEADER = struct.Struct("!HHHHHH")
UDP_PAYLOAD_MAX = 512         # no EDNS: RFC 1035 4.2.1
TCP_MESSAGE_MAX = 65535
NAME_LENGTH_MAX = 255
LABEL_LENGTH_MAX = 63
POINTER_HOPS_MAX = 32
TCP_IDLE_TIMEOUT = 10

TYPE_A = 1
TYPE_NS = 2
TYPE_SOA = 6
TYPE_MX = 15
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_ANY = 255
CLASS_IN = 1
TYPE_NAMES = {"A": TYPE_A, "NS": TYPE_NS, "SOA": TYPE_SOA, "MX": TYPE_MX, "TXT": TYPE_TXT,
    "AAAA": TYPE_AAAA}

FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5


class PacketError(ValueError):
    """A query we cannot parse."""


def name_normalise(name):
    """name_normalise - lower-case, no trailing dot ("" is the root)."""
    return name.lower().rstrip(".")


def name_encode(name):
    """name_encode - wire form of a dotted name, uncompressed."""
    out = bytearray()
    name = name.rstrip(".")
    if name:
        for label in name.split("."):
            raw = label.encode("ascii")
            if not raw or len(raw) > LABEL_LENGTH_MAX:
                raise ValueError("bad label in %r" % name)
            out.append(len(raw))
            out += raw
    out.append(0)
    if len(out) > NAME_LENGTH_MAX:
        raise ValueError("name too long: %r" % name)
    return bytes(out)


def name_decode(packet, offset):
    """name_decode - (dotted name, offset after it); follows compression pointers safely."""
    labels = []
    end = None
    hops = 0
    total = 0
    while True:
        if offset >= len(packet):
            raise PacketError("name runs past the packet")
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(packet):
                raise PacketError("truncated pointer")
            hops += 1
            if hops > POINTER_HOPS_MAX:
                raise PacketError("pointer loop")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | packet[offset + 1]
            continue
        if length & 0xC0:
            raise PacketError("bad label type")
        offset += 1
        if length == 0:
            break
        label = packet[offset:offset + length]
        if len(label) != length:
            raise PacketError("label runs past the packet")
        total += length + 1
        if total > NAME_LENGTH_MAX:
            raise PacketError("name too long")
        labels.append(label.decode("ascii", "replace"))
        offset += length
    return ".".join(labels), (end if end is not None else offset)


def parse_query(packet):
    """parse_query - (id, flags, qname, qtype, qclass, question bytes); PacketError if bad."""
    if len(packet) < HEADER.size:
        raise PacketError("short header")
    ident, flags, qdcount, _, _, _ = HEADER.unpack_from(packet)
    if flags & FLAG_QR:
        raise PacketError("a response, not a query")
    if qdcount != 1:
        raise PacketError("question count %d" % qdcount)
    qname, offset = name_decode(packet, HEADER.size)
    if offset + 4 > len(packet):
        raise PacketError("truncated question")
    qtype, qclass = struct.unpack_from("!HH", packet, offset)
    return ident, flags, qname, qtype, qclass, packet[HEADER.size:offset + 4]


class Zone:
    """The records served, indexed by lower-case name and type."""

    def __init__(self, data):
        self.ttl = int(data.get("ttl", 60))
        self.apexes = [name_normalise(z) for z in data.get("zones", [])]
        self.records = {}
        for name, types in data.get("records", {}).items():
            entry = self.records.setdefault(name_normalise(name), {})
            for type_name, values in types.items():
                entry[TYPE_NAMES[type_name.upper()]] = values

    def apex_of(self, name):
        """apex_of - the longest zone apex containing name, or None."""
        best = None
        for apex in self.apexes:
            if name == apex or apex == "" or name.endswith("." + apex):
                if best is None or len(apex) > len(best):
                    best = apex
        return best

    def exists(self, name):
        """exists - true for names with records and for empty non-terminals."""
        if name in self.records or name in self.apexes:
            return True
        suffix = "." + name
        return any(other.endswith(suffix) for other in self.records)

    def soa_record(self, apex):
        mname = "ns." + apex if apex else "ns"
        rname = "hostmaster." + apex if apex else "hostmaster"
        rdata = name_encode(mname) + name_encode(rname) + struct.pack("!IIIII",
            1, 3600, 600, 86400, self.ttl)
        return rr_encode(apex, TYPE_SOA, self.ttl, rdata)

    def rrset(self, name, qtype):
        """rrset - encoded records of name for qtype (every type for ANY)."""
        entry = self.records.get(name, {})
        out = []
        types = list(entry) if qtype == TYPE_ANY else [qtype]
        for rtype in types:
            for value in entry.get(rtype, []):
                out.append(rr_encode(name, rtype, self.ttl, rdata_encode(rtype, value)))
        if name in self.apexes and qtype in (TYPE_SOA, TYPE_ANY):
            out.append(self.soa_record(name))
        return out


def rdata_encode(rtype, value):
    """rdata_encode - wire RDATA for one zone-file value."""
    if rtype == TYPE_A:
        return ipaddress.IPv4Address(value).packed
    if rtype == TYPE_AAAA:
        return ipaddress.IPv6Address(value).packed
    if rtype == TYPE_MX:
        preference, exchange = value
        return struct.pack("!H", int(preference)) + name_encode(exchange)
    if rtype == TYPE_NS:
        return name_encode(value)
    if rtype == TYPE_TXT:
        strings = [value] if isinstance(value, str) else value
        out = bytearray()
        for text in strings:
            raw = text.encode("utf-8")
            for start in range(0, max(len(raw), 1), 255):
                chunk = raw[start:start + 255]
                out.append(len(chunk))
                out += chunk
        return bytes(out)
    raise ValueError("unsupported type %d" % rtype)


def rr_encode(name, rtype, ttl, rdata):
    return name_encode(name) + struct.pack("!HHIH", rtype, CLASS_IN, ttl, len(rdata)) + rdata


def build_response(zone, packet, log=None, peer=None, transport="udp"):
    """build_response - the reply packet for one query, or None to stay silent."""
    try:
        ident, flags, qname, qtype, qclass, question = parse_query(packet)
    except PacketError as error:
        if len(packet) >= HEADER.size and not HEADER.unpack_from(packet)[1] & FLAG_QR:
            ident, flags = HEADER.unpack_from(packet)[:2]
            log_event(log, peer, transport, "?", 0, "FORMERR (%s)" % error)
            return HEADER.pack(ident, FLAG_QR | (flags & 0x7800) | (flags & FLAG_RD)
                | RCODE_FORMERR, 0, 0, 0, 0)
        return None
    opcode = (flags >> 11) & 0xF
    base_flags = FLAG_QR | (opcode << 11) | (flags & FLAG_RD)
    name = name_normalise(qname)
    answers, authority = [], []
    if opcode != 0:
        rcode = RCODE_NOTIMP
    elif qclass != CLASS_IN or zone.apex_of(name) is None:
        rcode = RCODE_REFUSED
    else:
        base_flags |= FLAG_AA
        apex = zone.apex_of(name)
        if not zone.exists(name):
            rcode = RCODE_NXDOMAIN
            authority.append(zone.soa_record(apex))
        else:
            rcode = RCODE_NOERROR
            answers = zone.rrset(name, qtype)
            if not answers:
                authority.append(zone.soa_record(apex))
    log_event(log, peer, transport, qname, qtype,
        "rcode=%d answers=%d" % (rcode, len(answers)))
    body = question + b"".join(answers) + b"".join(authority)
    response = HEADER.pack(ident, base_flags | rcode, 1, len(answers), len(authority), 0) + body
    if transport == "udp" and len(response) > UDP_PAYLOAD_MAX:
        response = HEADER.pack(ident, base_flags | FLAG_TC | rcode, 1, 0, 0, 0) + question
    return response


def log_event(log, peer, transport, qname, qtype, result):
    if log is None:
        return
    log.write(json.dumps({"time": round(time.time(), 6), "peer": peer, "transport": transport,
        "qname": qname, "qtype": qtype, "result": result}) + "\n")
    log.flush()


class UdpServer(asyncio.DatagramProtocol):
    def __init__(self, zone, log):
        self.zone = zone
        self.log = log
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, address):
        response = build_response(self.zone, data, self.log, address[0], "udp")
        if response is not None:
            self.transport.sendto(response, address)


async def tcp_session(zone, log, reader, writer):
    """tcp_session - length-prefixed queries (RFC 7766) until EOF or idle timeout."""
    peer = (writer.get_extra_info("peername") or ("?",))[0]
    try:
        while True:
            prefix = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
            (length,) = struct.unpack("!H", prefix)
            packet = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_TIMEOUT)
            response = build_response(zone, packet, log, peer, "tcp")
            if response is None:
                break
            writer.write(struct.pack("!H", len(response)) + response)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(zone, address, port, log):
    """serve - bind UDP and TCP on one port (a free one when port is 0), print READY PORT."""
    loop = asyncio.get_running_loop()
    if not ipaddress.ip_address(address).is_loopback:
        raise SystemExit("fake_dns: %s is not a loopback address" % address)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for _ in range(20):
        transport, _ = await loop.create_datagram_endpoint(lambda: UdpServer(zone, log),
            local_addr=(address, port), family=family)
        bound = transport.get_extra_info("sockname")[1]
        try:
            server = await asyncio.start_server(lambda r, w: tcp_session(zone, log, r, w),
                address, bound, reuse_address=True)
            break
        except OSError:
            transport.close()
            if port:
                raise
    else:
        raise SystemExit("fake_dns: no port free for both UDP and TCP")
    print("READY %d" % bound, flush=True)
    await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description="authoritative DNS server for relayguard's tests")
    parser.add_argument("--zone", required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log")
    args = parser.parse_args()
    with open(args.zone, encoding="utf-8") as stream:
        zone = Zone(json.load(stream))
    log = open(args.log, "a", encoding="utf-8") if args.log else None
    try:
        asyncio.run(serve(zone, args.address, args.port, log))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
