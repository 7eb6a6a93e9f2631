#!/usr/bin/env python3
# gen-ip4set.py - write a deterministic rbldnsd ip4set (singles, ranges, exclusions) and a
# dnsperf query file (half listed, half unlisted) for the DNSBL benchmark. Standard library only.
"""Generate the DNSBL benchmark data.

Usage: gen-ip4set.py [--entries N] [--seed S] [--zone Z] [--queries-count Q]
                     DATA_FILE [QUERY_FILE]

DATA_FILE gets $SOA/$NS/$TTL, a default value with "$" substitution, 127.0.0.2 (the
RFC 5782 test entry), 20 /16, 200 /20, 1000 /24 and 500 /28 ranges, 100 exclusions inside
the /24s (punched holes), then N unique single addresses (first octet never 0, 10, 127 or
224-255, never equal to an excluded address). QUERY_FILE gets Q lines "d.c.b.a.ZONE A" in
random order: half drawn from the singles, half random addresses that nothing lists.
The same arguments always give byte-identical files.
"""
import argparse
import bisect
import random
import sys

RANGE_PLAN = ((16, 20), (20, 200), (24, 1000), (28, 500))
EXCLUSIONS = 100
SKIPPED_FIRST_OCTETS = {0, 10, 127} | set(range(224, 256))
DEFAULT_VALUE = ":127.0.0.2:Open relay $ - see https://bl.example.org/lookup?ip=$"


def dotted(address):
    """a.b.c.d of a 32-bit integer"""
    return "%d.%d.%d.%d" % (address >> 24, (address >> 16) & 255, (address >> 8) & 255,
                            address & 255)


def random_public(rng):
    """a random address whose first octet is not reserved here"""
    while True:
        address = rng.getrandbits(32)
        if address >> 24 not in SKIPPED_FIRST_OCTETS:
            return address


def make_ranges(rng):
    """list of (first, last, text) ranges following RANGE_PLAN"""
    ranges, seen = [], set()
    for length, count in RANGE_PLAN:
        size = 1 << (32 - length)
        while count > 0:
            first = random_public(rng) & ~(size - 1) & 0xffffffff
            if (first, length) in seen:
                continue  # a prefix listed twice is a warning in ip4trie
            seen.add((first, length))
            ranges.append((first, first + size - 1, "%s/%d" % (dotted(first), length)))
            count -= 1
    return ranges


def merge(ranges):
    """the ranges as sorted, disjoint (first, last) intervals"""
    merged = []
    for first, last, _ in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    return merged


def covered(address, starts, merged):
    """True if address falls in one of the merged intervals"""
    at = bisect.bisect_right(starts, address) - 1
    return at >= 0 and address <= merged[at][1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000000)
    parser.add_argument("--seed", type=int, default=5782)
    parser.add_argument("--zone", default="relays.bl.example.org")
    parser.add_argument("--queries-count", type=int, default=200000)
    parser.add_argument("data_file")
    parser.add_argument("query_file", nargs="?")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    ranges = make_ranges(rng)
    slash24 = [r for r in ranges if r[1] - r[0] == 255]
    excluded = set()
    while len(excluded) < EXCLUSIONS:
        first = slash24[rng.randrange(len(slash24))][0]
        excluded.add(first + 1 + rng.randrange(254))
    singles = set()
    while len(singles) < args.entries:
        address = random_public(rng)
        if address not in excluded:
            singles.add(address)
    singles = sorted(singles)
    rng.shuffle(singles)

    with open(args.data_file, "w") as out:
        out.write("$SOA 0 ns1.example.org hostmaster.example.org 0 1h 15m 1w 60\n")
        out.write("$NS 3600 ns1.example.org ns2.example.org\n")
        out.write("$TTL 900\n")
        out.write(DEFAULT_VALUE + "\n")
        out.write("127.0.0.2\n")
        for _, _, text in ranges:
            out.write(text + "\n")
        for address in sorted(excluded):
            out.write("!%s\n" % dotted(address))
        out.write("".join(dotted(a) + "\n" for a in singles))

    if args.query_file:
        ordered = merge(ranges)
        starts = [r[0] for r in ordered]
        listed_set = set(singles)
        half = args.queries_count // 2
        names = []
        for _ in range(half):
            names.append(singles[rng.randrange(len(singles))])
        while len(names) < args.queries_count:
            address = random_public(rng)
            if address in listed_set or covered(address, starts, ordered):
                continue
            names.append(address)
        rng.shuffle(names)
        with open(args.query_file, "w") as out:
            for address in names:
                octets = dotted(address).split(".")
                out.write("%s.%s A\n" % (".".join(reversed(octets)), args.zone))
    return 0


if __name__ == "__main__":
    sys.exit(main())
