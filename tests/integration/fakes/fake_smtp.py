#!/usr/bin/python3
# fake_smtp.py - one process hosting many fake SMTP servers, one per relay behaviour, on loopback.
# Started by tests/integration/conftest.py and scripts/demo.py; it must never talk to anything
# but loopback (a "next_hop" outside 127.0.0.0/8 and ::1 is refused at start-up).
"""Fake SMTP servers for relayguard's integration tests.

Usage: fake_smtp.py --config FILE.json [--log FILE.jsonl]

FILE.json is a list of {"behaviour": NAME, "address": "127.0.2.3", "port": 2525,
"options": {...}}.  The process prints "READY" on stdout once every listener is bound and
writes one JSON object per line to the log for every connection, command, reply and relay
attempt (tests read it, e.g. to prove that an excluded address was never contacted).

Every fake is the same small engine (Fake) with a few hooks overridden.  The plain engine is
the "secure" behaviour: it accepts a plain local part at one of its own domains (H, T, I),
refuses third-party recipients with 554 5.7.1 at RCPT, refuses routed local parts (% ! @ or
quotes) at its own domains with 553 5.7.1 and recipients without a domain with 501 5.1.3.
Recipient paths are decoded the way old MTAs did (source routes, quoted local parts, %, !,
several @, Exchange IMCEA encapsulation); a behaviour that relays one trick class relays only
when that class is the outermost routing step of the recipient.

Options common to every behaviour:
  hostname   host name in the banner (default mx.BEHAVIOUR.test); H = hostname, T = hostname
             without its first label when it has 3+ labels, I = the listener's address literal
  domain     override T
  next_hop   "host:port" (loopback only): relayed messages are delivered there with smtplib,
             addressed to the decoded final recipient; without it relaying just says 250
  quit_delay seconds before the 221 reply to QUIT (default 0: at once)
Behaviour options: greylist/greylist-forever "delay" (seconds, default 1); greeting-pause
"pause" (seconds, default 20); starttls-required "cert" and "key" (PEM files); tarpit "delay"
(seconds before each MAIL/RCPT/DATA reply, default 10); drop-mid-battery "drop_at" (default 6);
late-relay "delay" (seconds between the 250 after the dot and the relay to next_hop, default 3).
"""

import argparse
import asyncio
import base64
import binascii
import ipaddress
import json
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field

LINE_LIMIT = 65536            # StreamReader limit: longer lines end the session
IDLE_TIMEOUT = 300            # seconds without a command before 421 (RFC 5321 4.5.3.2.7)
MESSAGE_LIMIT = 10 * 1024 * 1024
MAX_DECODE_STEPS = 8          # routing steps followed in one recipient path
PIECE_PAUSE = 0.01           # seconds between the pieces of a reply split across writes
MAX_ERRORS = 20               # protocol errors before 421 and close
DELIVERY_TIMEOUT = 10         # seconds for one smtplib delivery to next_hop
GARBAGE_REPLIES = (
    b"hello?\r\n",
    b"\x00\xff\xfe\x1b[31mjunk\x7f\x80\r\n",
    b"2x0 what is this\r\n",
    b"OK\r\n",
)


# --- address decoding (pure) ---------------------------------------------------------------

class AddressError(ValueError):
    """A path that no MTA would accept as an address."""


@dataclass
class Decoded:
    """The final mailbox a recipient path routes to, and the routing steps that led there."""
    local: str
    domain: "str | None"
    tricks: list = field(default_factory=list)
    foreign: bool = False
    plain: bool = True       # the final local part holds none of % ! @ and was not quoted

    def mailbox(self):
        """mailbox - the final address as text (local part quoted when it must be)."""
        local = self.local
        if any(c in local for c in ' "\\@,;:<>()[]') or local == "":
            local = '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if self.domain is None:
            return local
        return local + "@" + self.domain


def strip_path(argument):
    """strip_path - the mailbox text inside "<...>" of a MAIL/RCPT argument, and its parameters.

    Tolerates a missing pair of brackets (old clients) and quoted strings holding '>'."""
    text = argument.strip()
    if not text.startswith("<"):
        mailbox, _, params = text.partition(" ")
        return mailbox, params.strip()
    in_quotes = False
    escaped = False
    for index in range(1, len(text)):
        c = text[index]
        if escaped:
            escaped = False
        elif c == "\\" and in_quotes:
            escaped = True
        elif c == '"':
            in_quotes = not in_quotes
        elif c == ">" and not in_quotes:
            return text[1:index], text[index + 1:].strip()
    raise AddressError("path without closing '>'")


def split_quoted(text):
    """split_quoted - (local, rest) for a path starting with a quoted string; local unescaped."""
    out = []
    index = 1
    while index < len(text):
        c = text[index]
        if c == "\\":
            index += 1
            if index >= len(text):
                break
            out.append(text[index])
        elif c == '"':
            return "".join(out), text[index + 1:]
        else:
            out.append(c)
        index += 1
    raise AddressError("unterminated quoted string")


def domain_is_valid(domain):
    """domain_is_valid - a host name (trailing dot allowed) or an address literal."""
    if domain.startswith("["):
        return domain.endswith("]") and len(domain) > 2
    name = domain[:-1] if domain.endswith(".") else domain
    if not name or len(name) > 255:
        return False
    for label in name.split("."):
        if not label or len(label) > 63:
            return False
        if not all(c.isalnum() or c == "-" for c in label) or not label.isascii():
            return False
    return True


def imcea_decode(text):
    """imcea_decode - undo Exchange's IMCEA escaping ("+40" is '@'); None when malformed."""
    out = []
    index = 0
    while index < len(text):
        c = text[index]
        if c == "+":
            pair = text[index + 1:index + 3]
            try:
                out.append(chr(int(pair, 16)))
            except ValueError:
                return None
            index += 3
            continue
        out.append(c)
        index += 1
    return "".join(out)


def decode_address(address, is_own):
    """decode_address - follow a recipient path the way a permissive old MTA routes it.

    is_own(domain) says whether a domain is this server's own. Returns Decoded; raises
    AddressError for paths no MTA would take. Tricks are recorded outermost first:
    source-route, trailing-at, quoted, double-at, encapsulated, bang, percent."""
    tricks = []
    current = address
    for _ in range(MAX_DECODE_STEPS):
        if current == "":
            raise AddressError("empty address")
        if current.startswith("@"):
            colon = current.find(":")
            if colon < 0:
                raise AddressError("source route without ':'")
            for hop in current[:colon].split(","):
                if len(hop) < 2 or not hop.startswith("@") or not domain_is_valid(hop[1:]):
                    raise AddressError("bad source route hop")
            tricks.append("source-route")
            current = current[colon + 1:]
            continue
        quoted = current.startswith('"')
        if quoted:
            local, rest = split_quoted(current)
            if rest == "":
                domain = None
            elif rest == "@":
                tricks.append("trailing-at")
                current = current[:len(current) - 1]
                continue
            elif rest.startswith("@") and "@" not in rest[1:]:
                domain = rest[1:]
            else:
                raise AddressError("junk after quoted local part")
        else:
            if any(c in current for c in ' "<>\t\r\n\\'):
                raise AddressError("bad character in address")
            at = current.rfind("@")
            if at < 0:
                local, domain = current, None
            elif at == len(current) - 1:
                if at == 0:
                    raise AddressError("lone '@'")
                tricks.append("trailing-at")
                current = current[:at]
                continue
            else:
                local, domain = current[:at], current[at + 1:]
            if local == "":
                raise AddressError("empty local part")
        if domain is not None and not domain_is_valid(domain):
            raise AddressError("bad domain")
        if domain is not None and not is_own(domain):
            plain = not quoted and not any(c in local for c in "%!@")
            return Decoded(local, domain, tricks, foreign=True, plain=plain)
        # The domain is ours (or missing, which an MTA qualifies with its own):
        # a permissive MTA now routes on what the local part holds.
        if quoted:
            if "@" in local:
                tricks.append("quoted")
                current = local
                continue
            if "%" in local or "!" in local:
                current = local    # dequoting alone is no trick; the % or ! is
                continue
            return Decoded(local, domain, tricks, foreign=False, plain=False)
        if "@" in local:
            tricks.append("double-at")
            current = local
            continue
        if local.upper().startswith("IMCEASMTP-"):
            inner = imcea_decode(local[len("IMCEASMTP-"):])
            if inner is not None and "@" in inner:
                tricks.append("encapsulated")
                current = inner
                continue
        if "!" in local:
            host, _, user = local.partition("!")
            if not host or not user:
                raise AddressError("bad bang path")
            tricks.append("bang")
            current = user + "@" + host
            continue
        if "%" in local:
            user, _, host = local.rpartition("%")
            if not host or not user:
                raise AddressError("bad percent hack")
            tricks.append("percent")
            current = user + "@" + host
            continue
        return Decoded(local, domain, tricks, foreign=False, plain=True)
    raise AddressError("too many routing steps")


def derive_mail_domain(hostname):
    """derive_mail_domain - T: the host name without its first label when it has 3+ labels."""
    labels = hostname.split(".")
    if len(labels) >= 3:
        return ".".join(labels[1:])
    return hostname


def address_literal(address):
    """address_literal - "[127.0.2.3]" or "[IPv6:::1]" for a listener address."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        return "[IPv6:%s]" % ip.compressed
    return "[%s]" % ip.compressed


def literal_address(literal):
    """literal_address - the ipaddress object inside "[a.b.c.d]" / "[IPv6:...]", or None."""
    if not (literal.startswith("[") and literal.endswith("]")):
        return None
    inner = literal[1:-1]
    try:
        if inner.lower().startswith("ipv6:"):
            return ipaddress.IPv6Address(inner[5:])
        return ipaddress.IPv4Address(inner)
    except ValueError:
        return None


# --- logging -----------------------------------------------------------------------------

class EventLog:
    """JSON-lines event log shared by every listener (and delivery threads) of the process."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.stream = open(path, "a", encoding="utf-8") if path else None

    def write(self, **event):
        """write - append one event with a timestamp; flushed at once so tests see it."""
        if self.stream is None:
            return
        event["time"] = round(time.time(), 6)
        line = json.dumps(event, ensure_ascii=True)
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


# --- the engine ----------------------------------------------------------------------------

class SessionClosed(Exception):
    """The fake decided to end the connection (after a reply, or silently)."""


class Fake:
    """The engine, and the "secure" behaviour: relays nothing for anyone."""

    name = "secure"
    allowed_tricks = frozenset()   # outermost routing trick classes this fake relays
    advertise_starttls = False
    split_replies = False          # write each reply line in two pieces (several reads)

    def __init__(self, address, port, options, log):
        self.address = address
        self.port = port
        self.options = options
        self.log = log
        self.hostname = options.get("hostname", "mx.%s.test" % self.name)
        self.mail_domain = options.get("domain", derive_mail_domain(self.hostname))
        self.literal = address_literal(address)
        self.ip = ipaddress.ip_address(address)
        self.next_hop = parse_next_hop(options.get("next_hop"))
        self.listener = "%s:%d" % (address, port) if self.ip.version == 4 else "[%s]:%d" % (address, port)
        self.session_count = 0
        self.tasks = set()

    # own domains and senders

    def is_own(self, domain):
        """is_own - H, T or I (case-insensitive, one trailing dot ignored); never localhost."""
        name = domain.lower()
        if name.endswith(".") and not name.startswith("["):
            name = name[:-1]
        if name in (self.hostname.lower(), self.mail_domain.lower()):
            return True
        return literal_address(domain) == self.ip

    def sender_domain(self, sender):
        """sender_domain - the domain of a MAIL FROM mailbox, None when it has none."""
        at = sender.rfind("@")
        if at < 0:
            return None
        return sender[at + 1:]

    # hooks a behaviour overrides

    def banner_lines(self, session):
        return ["%s ESMTP fake %s" % (self.hostname, self.name)]

    async def greet(self, session):
        """greet - send the banner; return False to end the session instead."""
        await session.reply(220, self.banner_lines(session))
        return True

    def ehlo_extensions(self, session):
        extensions = ["PIPELINING", "SIZE %d" % MESSAGE_LIMIT, "8BITMIME", "ENHANCEDSTATUSCODES"]
        if self.advertise_starttls and not session.tls:
            extensions.append("STARTTLS")
        extensions.append("AUTH PLAIN LOGIN")
        return extensions

    def ehlo_allowed(self, session):
        return True

    def helo_allowed(self, session):
        return True

    def command_gate(self, session, verb):
        """command_gate - a reply that refuses verb before its normal handling, or None."""
        return None

    def mail_reply(self, session, sender):
        return 250, ["2.1.0 Ok"]

    def relay_allowed(self, session, decoded):
        """relay_allowed - may this third-party (or routed) recipient be accepted?"""
        return bool(decoded.tricks) and decoded.tricks[0] in self.allowed_tricks

    def rcpt_reply(self, session, path, decoded):
        """rcpt_reply - (code, lines) for a decoded recipient; 2xx adds it to the envelope."""
        if decoded.foreign or decoded.tricks:
            if self.relay_allowed(session, decoded):
                return 250, ["2.1.5 Ok"]
        if decoded.foreign and not decoded.tricks:
            return 554, ["5.7.1 <%s>: Relay access denied" % path]
        if decoded.tricks or not decoded.plain:
            return 553, ["5.7.1 <%s>: routed address syntax refused" % path]
        if decoded.domain is None:
            return 501, ["5.1.3 <%s>: recipient address lacks a domain" % path]
        return 250, ["2.1.5 Ok"]

    def malformed_rcpt_reply(self, session, path):
        return 501, ["5.1.3 <%s>: bad recipient address syntax" % path]

    def data_reply(self, session):
        return 354, ["End data with <CR><LF>.<CR><LF>"]

    def end_of_data_reply(self, session):
        return 250, ["2.0.0 Ok: queued as %s" % session.queue_id()]

    def delivers(self, session):
        """delivers - whether accepted third-party mail is passed on to next_hop."""
        return True

    def auth_accepts(self, session, credentials):
        return False

    def accepts_without_sender(self, session):
        """accepts_without_sender - go on to RCPT after refusing MAIL (only the X03 fake)."""
        return False

    def decorate(self, code, lines):
        """decorate - last chance to reshape a reply (multi-line fakes)."""
        return lines

    async def before_reply(self, session, verb):
        return None

    async def on_rcpt(self, session):
        """on_rcpt - called at each RCPT before it is handled (may close the session)."""
        return None

    async def after_ehlo_command(self, session, verb, argument):
        """after_ehlo_command - return True when the behaviour answered the command itself."""
        return False

    # server plumbing

    async def serve(self):
        """serve - bind the listener; returns the asyncio server."""
        return await asyncio.start_server(self.handle, self.address, self.port,
            limit=LINE_LIMIT, reuse_address=True, backlog=1024)

    async def handle(self, reader, writer):
        """handle - one connection, start to end; never lets an exception escape."""
        self.session_count += 1
        session = Session(self, reader, writer, self.session_count)
        await session.run()

    def spawn(self, coroutine):
        """spawn - run a background task and keep a reference until it ends."""
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def deliver_blocking(self, sender, recipient, message):
        """deliver_blocking - hand one relayed message to next_hop with smtplib (thread)."""
        host, port = self.next_hop
        with smtplib.SMTP(host, port, local_hostname=self.hostname,
            timeout=DELIVERY_TIMEOUT) as client:
            code, reply = client.ehlo()
            if code != 250:
                client.helo()
            code, reply = client.docmd("MAIL", "FROM:<%s>" % sender)
            if code != 250:
                return "MAIL %d %s" % (code, reply.decode("ascii", "replace"))
            code, reply = client.docmd("RCPT", "TO:<%s>" % recipient)
            if code not in (250, 251):
                client.rset()
                return "RCPT %d %s" % (code, reply.decode("ascii", "replace"))
            code, reply = client.data(message)
            return "DATA %d %s" % (code, reply.decode("ascii", "replace"))

    async def relay(self, session, sender, recipients, message):
        """relay - deliver each accepted third-party recipient's copy to next_hop."""
        for decoded in recipients:
            recipient = decoded.mailbox()
            header = ("Received: from %s ([%s]) by %s (fake %s) for <%s>; %s\r\n" % (
                session.helo_name or "unknown", session.peer, self.hostname, self.name,
                recipient, time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
            payload = header.encode("ascii", "replace") + message
            try:
                result = await asyncio.to_thread(self.deliver_blocking, sender, recipient, payload)
            except (OSError, smtplib.SMTPException) as error:
                result = "error %s" % error
            self.log.write(listener=self.listener, behaviour=self.name, session=session.number,
                event="relay", text="%s -> %s via %s:%d: %s" % (
                sender or "<>", recipient, self.next_hop[0], self.next_hop[1], result))


def parse_next_hop(text):
    """parse_next_hop - (host, port) from "127.0.0.1:2526" / "[::1]:2526"; loopback only."""
    if not text:
        return None
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit("fake_smtp: next_hop %s is not a loopback address" % text)
    return host, int(port)


class Session:
    """One SMTP conversation with one client: the state machine of the engine."""

    def __init__(self, fake, reader, writer, number):
        self.fake = fake
        self.reader = reader
        self.writer = writer
        self.number = number
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer = peer[0]
        self.tls = False
        self.greeted = False
        self.helo_name = None
        self.authenticated = False
        self.errors = 0
        self.rcpt_count = 0
        self.messages = 0
        self.reset()

    def reset(self):
        """reset - forget the mail transaction (RSET, HELO, after DATA)."""
        self.sender = None           # None: no MAIL yet; "" null sender
        self.sender_refused = False  # MAIL got 5xx (only mail-refused-rcpt-accepted goes on)
        self.refused_sender = None
        self.recipients = []         # Decoded of every accepted recipient

    def queue_id(self):
        return "F%d%d%d" % (self.fake.port, self.number, self.messages)

    def event(self, kind, text=""):
        self.fake.log.write(listener=self.fake.listener, behaviour=self.fake.name,
            session=self.number, peer=self.peer, event=kind, text=text)

    async def write_raw(self, data):
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, code, lines):
        """reply - send a (possibly multi-line) reply in one write, so that it reaches the
        client in one segment; fakes with split_replies cut every line in two writes instead."""
        lines = self.fake.decorate(code, list(lines)) or [""]
        whole = bytearray()
        for index, line in enumerate(lines):
            separator = " " if index == len(lines) - 1 else "-"
            text = "%d%s%s" % (code, separator, line)
            self.event("send", text)
            data = (text + "\r\n").encode("utf-8", "replace")
            if self.fake.split_replies:
                half = len(data) // 2
                await self.write_raw(data[:half])
                await asyncio.sleep(PIECE_PAUSE)
                await self.write_raw(data[half:])
                await asyncio.sleep(PIECE_PAUSE)
            else:
                whole += data
        if whole:
            self.writer.write(bytes(whole))
        await self.writer.drain()

    async def read_line(self, timeout=IDLE_TIMEOUT):
        """read_line - one line without its line end; None at EOF."""
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            return None
        if line.endswith(b"\r\n"):
            return line[:-2]
        if line.endswith(b"\n"):
            return line[:-1]
        return line  # EOF in the middle of a line: treat what came as the last line

    async def run(self):
        """run - greet, then read and answer commands until QUIT, EOF or a decision to close."""
        self.event("connect", "from %s" % self.peer)
        try:
            if await self.fake.greet(self):
                while True:
                    try:
                        line = await self.read_line()
                    except asyncio.TimeoutError:
                        await self.reply(421, ["4.4.2 %s Error: timeout exceeded" % self.fake.hostname])
                        break
                    if line is None:
                        break
                    text = line.decode("utf-8", "replace")
                    self.event("recv", text)
                    await self.dispatch(text)
        except SessionClosed:
            pass
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, ValueError) as error:
            self.event("error", "%s: %s" % (type(error).__name__, error))
        finally:
            self.event("close")
            try:
                self.writer.close()
                await asyncio.wait_for(self.writer.wait_closed(), 2)
            except (ConnectionError, ssl.SSLError, asyncio.TimeoutError, OSError):
                pass

    async def error(self, code, lines):
        """error - reply and count a protocol error; too many end the session."""
        self.errors += 1
        if self.errors >= MAX_ERRORS:
            await self.reply(421, ["4.7.0 %s Error: too many errors" % self.fake.hostname])
            raise SessionClosed()
        await self.reply(code, lines)

    async def dispatch(self, text):
        """dispatch - the one place where commands move the session between states."""
        verb, _, argument = text.partition(" ")
        verb = verb.upper()
        argument = argument.strip()
        if self.greeted and await self.fake.after_ehlo_command(self, verb, argument):
            return
        gate = self.fake.command_gate(self, verb)
        if gate is not None:
            await self.error(*gate)
            return
        handler = getattr(self, "cmd_" + verb.lower(), None) if verb.isalpha() else None
        if handler is None:
            await self.error(502, ["5.5.2 Error: command not recognized"])
            return
        await handler(argument)

    async def cmd_ehlo(self, argument):
        if not self.fake.ehlo_allowed(self):
            await self.error(502, ["5.5.2 Error: command not recognized"])
            return
        if not argument:
            await self.error(501, ["5.5.4 Syntax: EHLO hostname"])
            return
        self.helo_name = argument
        self.greeted = True
        self.reset()
        lines = ["%s Hello %s [%s]" % (self.fake.hostname, argument, self.peer)]
        lines.extend(self.fake.ehlo_extensions(self))
        await self.reply(250, lines)

    async def cmd_helo(self, argument):
        if not self.fake.helo_allowed(self):
            await self.error(502, ["5.5.2 Error: command not recognized"])
            return
        if not argument:
            await self.error(501, ["5.5.4 Syntax: HELO hostname"])
            return
        self.helo_name = argument
        self.greeted = True
        self.reset()
        await self.reply(250, ["%s Hello %s [%s]" % (self.fake.hostname, argument, self.peer)])

    async def cmd_starttls(self, argument):
        if not self.fake.advertise_starttls or self.tls:
            await self.error(502, ["5.5.1 Error: STARTTLS not available"])
            return
        if argument:
            await self.error(501, ["5.5.4 Syntax: STARTTLS"])
            return
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.fake.options["cert"], self.fake.options["key"])
        await self.reply(220, ["2.0.0 Ready to start TLS"])
        await self.writer.start_tls(context)
        self.tls = True
        self.greeted = False
        self.helo_name = None
        self.authenticated = False
        self.reset()
        self.event("tls", "%s %s" % (self.writer.get_extra_info("ssl_object").version(),
            self.writer.get_extra_info("cipher")[0]))

    async def cmd_auth(self, argument):
        if not self.greeted:
            await self.error(503, ["5.5.1 Error: send HELO/EHLO first"])
            return
        if self.authenticated:
            await self.error(503, ["5.5.1 Error: already authenticated"])
            return
        if self.sender is not None:
            await self.error(503, ["5.5.1 Error: MAIL transaction in progress"])
            return
        mechanism, _, initial = argument.partition(" ")
        mechanism = mechanism.upper()
        if mechanism == "PLAIN":
            response = initial.strip()
            if not response:
                await self.reply(334, [""])
                response = await self.auth_line()
            credentials = self.decode_base64(response)
        elif mechanism == "LOGIN":
            if initial.strip():
                user = self.decode_base64(initial.strip())
            else:
                await self.reply(334, ["VXNlcm5hbWU6"])
                user = self.decode_base64(await self.auth_line())
            await self.reply(334, ["UGFzc3dvcmQ6"])
            password = self.decode_base64(await self.auth_line())
            credentials = None if user is None or password is None else user + b"\0" + password
        else:
            await self.error(504, ["5.5.4 Unrecognized authentication type"])
            return
        if credentials is None:
            await self.error(501, ["5.5.2 Authentication cancelled or malformed"])
            return
        if self.fake.auth_accepts(self, credentials):
            self.authenticated = True
            await self.reply(235, ["2.7.0 Authentication successful"])
            return
        await self.error(535, ["5.7.8 Error: authentication failed"])

    async def auth_line(self):
        line = await self.read_line()
        if line is None:
            raise SessionClosed()
        text = line.decode("ascii", "replace")
        self.event("recv", text)
        return text

    def decode_base64(self, text):
        if text == "*":
            return None
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None

    async def cmd_mail(self, argument):
        if not self.greeted:
            await self.error(503, ["5.5.1 Error: send HELO/EHLO first"])
            return
        if self.sender is not None:
            await self.error(503, ["5.5.1 Error: nested MAIL command"])
            return
        if not argument.upper().startswith("FROM:"):
            await self.error(501, ["5.5.4 Syntax: MAIL FROM:<address>"])
            return
        try:
            sender, _ = strip_path(argument[5:])
        except AddressError:
            await self.error(501, ["5.1.7 Bad sender address syntax"])
            return
        await self.fake.before_reply(self, "MAIL")
        code, lines = self.fake.mail_reply(self, sender)
        self.reset()
        if code // 100 == 2:
            self.sender = sender
        elif code // 100 == 5:
            self.sender_refused = True
            self.refused_sender = sender
        await self.reply(code, lines)

    async def cmd_rcpt(self, argument):
        self.rcpt_count += 1
        await self.fake.on_rcpt(self)
        if self.sender is None and not (self.sender_refused
            and self.fake.accepts_without_sender(self)):
            await self.error(503, ["5.5.1 Error: need MAIL command"])
            return
        if not argument.upper().startswith("TO:"):
            await self.error(501, ["5.5.4 Syntax: RCPT TO:<address>"])
            return
        await self.fake.before_reply(self, "RCPT")
        try:
            path, _ = strip_path(argument[3:])
            decoded = decode_address(path, self.fake.is_own)
        except AddressError:
            code, lines = self.fake.malformed_rcpt_reply(self, argument[3:].strip())
            if code // 100 == 2:
                self.recipients.append(Decoded(argument[3:].strip(), None))
            await self.reply(code, lines)
            return
        code, lines = self.fake.rcpt_reply(self, path, decoded)
        if code // 100 == 2:
            self.recipients.append(decoded)
        await self.reply(code, lines)

    async def cmd_data(self, argument):
        if self.sender is None and not (self.sender_refused and self.recipients):
            await self.error(503, ["5.5.1 Error: need MAIL command"])
            return
        if not self.recipients:
            await self.error(554, ["5.5.1 Error: no valid recipients"])
            return
        await self.fake.before_reply(self, "DATA")
        code, lines = self.fake.data_reply(self)
        if code != 354:
            self.reset()
            await self.reply(code, lines)
            return
        await self.reply(code, lines)
        message = await self.read_message()
        self.messages += 1
        code, lines = self.fake.end_of_data_reply(self)
        if code // 100 == 2:
            relayed = [d for d in self.recipients if d.foreign and d.domain is not None]
            self.event("message", "%d bytes from <%s> for %s" % (len(message),
                self.sender if self.sender is not None else self.refused_sender,
                ", ".join("<%s>" % d.mailbox() for d in self.recipients)))
            if relayed and self.fake.next_hop and self.fake.delivers(self):
                sender = self.sender if self.sender is not None else self.refused_sender
                if sender and "@" not in sender:
                    sender = "%s@%s" % (sender, self.fake.hostname)
                self.fake.spawn(self.fake.relay(self, sender, relayed, message))
        self.reset()
        await self.reply(code, lines)

    async def read_message(self):
        """read_message - DATA lines up to the lone dot, dot-unstuffed, CRLF line ends."""
        chunks = []
        size = 0
        while True:
            line = await self.read_line()
            if line is None:
                raise SessionClosed()
            if line == b".":
                self.event("recv", "<message %d bytes>" % size)
                self.event("recv", ".")
                return b"".join(chunks)
            if line.startswith(b"."):
                line = line[1:]
            size += len(line) + 2
            if size <= MESSAGE_LIMIT:
                chunks.append(line + b"\r\n")

    async def cmd_rset(self, argument):
        self.reset()
        await self.reply(250, ["2.0.0 Ok"])

    async def cmd_noop(self, argument):
        await self.reply(250, ["2.0.0 Ok"])

    async def cmd_vrfy(self, argument):
        await self.reply(252, ["2.0.0 Cannot VRFY user, but will accept message"])

    async def cmd_help(self, argument):
        await self.reply(214, ["2.0.0 fake %s: see RFC 5321" % self.fake.name])

    async def cmd_quit(self, argument):
        await asyncio.sleep(float(self.fake.options.get("quit_delay", 0)))
        await self.reply(221, ["2.0.0 Bye"])
        raise SessionClosed()


# --- behaviours ----------------------------------------------------------------------------

class Secure(Fake):
    name = "secure"


class Open(Fake):
    """Relays everything for everyone."""
    name = "open"

    def rcpt_reply(self, session, path, decoded):
        return 250, ["2.1.5 Ok"]

    def malformed_rcpt_reply(self, session, path):
        return 250, ["2.1.5 Ok"]


class Percent(Fake):
    name = "percent"
    allowed_tricks = frozenset({"percent"})


class Bang(Fake):
    name = "bang"
    allowed_tricks = frozenset({"bang"})


class Quoted(Fake):
    name = "quoted"
    allowed_tricks = frozenset({"quoted"})


class SourceRoute(Fake):
    name = "source-route"
    allowed_tricks = frozenset({"source-route"})


class DoubleAt(Fake):
    name = "double-at"
    allowed_tricks = frozenset({"double-at"})


class TrailingAt(Fake):
    name = "trailing-at"
    allowed_tricks = frozenset({"trailing-at"})


class Encapsulated(Fake):
    """Exchange 5.5 before SP3: IMCEASMTP-u+40V@own is rerouted (MS KB Q237927)."""
    name = "encapsulated"
    allowed_tricks = frozenset({"encapsulated"})


class LocalSenderSpoof(Fake):
    """Trusts senders that claim to be local: own domains, localhost, no domain, postmaster@H."""
    name = "local-sender-spoof"

    def sender_trusted(self, sender):
        if sender == "":
            return False
        domain = self.sender_domain(sender)
        if domain is None:
            return True
        if domain.lower() == "localhost" or self.is_own(domain):
            return True
        return sender.lower() == "postmaster@" + self.hostname.lower()

    def rcpt_reply(self, session, path, decoded):
        if self.sender_trusted(session.sender or ""):
            return 250, ["2.1.5 Ok"]
        return super().rcpt_reply(session, path, decoded)


class NullSender(Fake):
    """Lets bounces (MAIL FROM:<>) go anywhere."""
    name = "null-sender"

    def rcpt_reply(self, session, path, decoded):
        if session.sender == "":
            return 250, ["2.1.5 Ok"]
        return super().rcpt_reply(session, path, decoded)


class AcceptThenDrop(Open):
    """A dev sink: accepts every recipient and message, delivers nothing."""
    name = "accept-then-drop"

    def delivers(self, session):
        return False


class RejectAtData(Open):
    name = "reject-at-data"

    def data_reply(self, session):
        return 554, ["5.7.1 Relaying denied: message refused at DATA"]


class RejectAfterDot(Open):
    name = "reject-after-dot"

    def delivers(self, session):
        return False

    def end_of_data_reply(self, session):
        return 554, ["5.7.1 Relaying denied: message refused after end of data"]


class Greylist(Open):
    """Greylists each (client IP, sender, recipient) triplet for "delay" seconds, then relays."""
    name = "greylist"

    def __init__(self, *args):
        super().__init__(*args)
        self.delay = float(self.options.get("delay", 1))
        self.first_seen = {}

    def rcpt_reply(self, session, path, decoded):
        key = (session.peer, (session.sender or "").lower(), path.lower())
        now = time.monotonic()
        first = self.first_seen.setdefault(key, now)
        if now - first >= self.delay:
            return 250, ["2.1.5 Ok"]
        return 450, ["4.7.1 <%s>: Recipient address rejected: greylisted, try again later" % path]

    def malformed_rcpt_reply(self, session, path):
        return self.rcpt_reply(session, path, None)


class GreylistForever(Greylist):
    """Answers 450 greylisted to every recipient, however often it comes back."""
    name = "greylist-forever"

    def rcpt_reply(self, session, path, decoded):
        return 450, ["4.7.1 <%s>: Recipient address rejected: greylisted, try again later" % path]


class LateRelay(Open):
    """A relay whose queue runs late: 250 after the dot at once, delivery to next_hop "delay"
    seconds later (after a checker's --confirm-wait; only a long-lived receiver sees it)."""
    name = "late-relay"

    async def relay(self, session, sender, recipients, message):
        await asyncio.sleep(float(self.options.get("delay", 3)))
        await super().relay(session, sender, recipients, message)


class GreetingPause(Open):
    """sendmail greet_pause: silence before the banner; early talkers get 554 and close."""
    name = "greeting-pause"

    async def greet(self, session):
        pause = float(self.options.get("pause", 20))
        try:
            early = await asyncio.wait_for(session.reader.read(1), pause)
        except asyncio.TimeoutError:
            return await super().greet(session)
        if early:
            session.event("recv", "<early talker: %r>" % early)
            await session.reply(554, ["5.5.0 %s ESMTP not accepting messages: early talker" % self.hostname])
        return False


class MultilineBanner(Open):
    """Multi-line banner and multi-line replies, each written in several pieces."""
    name = "multiline-banner"
    split_replies = True

    def banner_lines(self, session):
        return ["%s ESMTP fake multiline-banner" % self.hostname,
            "this banner has three lines",
            "and the last one ends it"]

    def decorate(self, code, lines):
        if code in (250, 354) and len(lines) == 1:
            enhanced = lines[0].split(" ", 1)[0] if lines[0][:1].isdigit() else ""
            prefix = enhanced + " " if enhanced else ""
            return [prefix + "this reply has two lines", lines[0]]
        return lines


class StarttlsRequired(Open):
    """Refuses mail until STARTTLS; behaves as an open relay under TLS."""
    name = "starttls-required"
    advertise_starttls = True

    def command_gate(self, session, verb):
        if not session.tls and verb in ("MAIL", "RCPT", "DATA", "AUTH"):
            return 530, ["5.7.0 Must issue a STARTTLS command first"]
        return None


class HeloOnly(Open):
    """An old server (i5/OS style) that knows HELO but not EHLO."""
    name = "helo-only"

    def ehlo_allowed(self, session):
        return False


class EhloOnly(Secure):
    name = "ehlo-only"

    def helo_allowed(self, session):
        return False


class Reject421(Fake):
    name = "reject-421"

    async def greet(self, session):
        await session.reply(421, ["4.3.2 Service not available"])
        return False


class DropMidBattery(Fake):
    """Hangs up without a word at the 6th RCPT of every connection; relays source routes."""
    name = "drop-mid-battery"
    allowed_tricks = frozenset({"source-route"})

    async def on_rcpt(self, session):
        if session.rcpt_count == int(self.options.get("drop_at", 6)):
            session.event("drop", "closing at RCPT %d without a reply" % session.rcpt_count)
            raise SessionClosed()


class Garbage(Fake):
    """A sane banner and EHLO, then garbage lines instead of replies."""
    name = "garbage"

    async def after_ehlo_command(self, session, verb, argument):
        if verb == "QUIT":
            return False
        data = GARBAGE_REPLIES[session.errors % len(GARBAGE_REPLIES)]
        session.errors += 1
        session.event("send", repr(data))
        await session.write_raw(data)
        return True


class Tarpit(Open):
    """Waits "delay" seconds before every MAIL, RCPT and DATA reply."""
    name = "tarpit"

    async def before_reply(self, session, verb):
        await asyncio.sleep(float(self.options.get("delay", 10)))


class MailRefusedRcptAccepted(Fake):
    """Linuxconf/AIX sendmail (CVE-2002-1278, CVE-2003-0285): refuses a foreign MAIL FROM with
    5xx but still takes the RCPT and the message, and relays it."""
    name = "mail-refused-rcpt-accepted"

    def mail_reply(self, session, sender):
        domain = self.sender_domain(sender)
        if domain is not None and not self.is_own(domain):
            return 553, ["5.1.8 <%s>: Sender address rejected: Domain not allowed" % sender]
        return 250, ["2.1.0 Ok"]

    def accepts_without_sender(self, session):
        return True

    def rcpt_reply(self, session, path, decoded):
        if session.sender_refused:
            return 250, ["2.1.5 Ok"]
        return super().rcpt_reply(session, path, decoded)


class AuthAny(Fake):
    """Accepts any AUTH credential and then relays for the "authenticated" client."""
    name = "auth-any"

    def auth_accepts(self, session, credentials):
        return True

    def rcpt_reply(self, session, path, decoded):
        if session.authenticated:
            return 250, ["2.1.5 Ok"]
        return super().rcpt_reply(session, path, decoded)


BEHAVIOURS = {cls.name: cls for cls in (
    Secure, Open, Percent, Bang, Quoted, SourceRoute, DoubleAt, TrailingAt, Encapsulated,
    LocalSenderSpoof, NullSender, AcceptThenDrop, RejectAtData, RejectAfterDot, Greylist,
    GreylistForever, GreetingPause, MultilineBanner, StarttlsRequired, HeloOnly, EhloOnly,
    Reject421, DropMidBattery, Garbage, Tarpit, MailRefusedRcptAccepted, AuthAny, LateRelay)}


# --- main ------------------------------------------------------------------------------------

def build_fakes(config, log):
    """build_fakes - one Fake per config entry; loopback listeners only."""
    fakes = []
    for entry in config:
        behaviour = entry["behaviour"]
        if behaviour not in BEHAVIOURS:
            raise SystemExit("fake_smtp: unknown behaviour %r (known: %s)" % (
                behaviour, ", ".join(sorted(BEHAVIOURS))))
        address = entry["address"]
        if not ipaddress.ip_address(address).is_loopback:
            raise SystemExit("fake_smtp: %s is not a loopback address" % address)
        fakes.append(BEHAVIOURS[behaviour](address, int(entry["port"]),
            dict(entry.get("options") or {}), log))
    return fakes


async def main_async(config, log):
    """main_async - bind every listener, say READY, serve until killed."""
    servers = []
    for fake in build_fakes(config, log):
        servers.append(await fake.serve())
        log.write(listener=fake.listener, behaviour=fake.name, event="listen",
            text=fake.hostname)
    print("READY", flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main():
    parser = argparse.ArgumentParser(description="fake SMTP servers for relayguard's tests")
    parser.add_argument("--config", required=True, help="JSON list of listeners")
    parser.add_argument("--log", help="JSON-lines event log")
    args = parser.parse_args()
    with open(args.config, encoding="utf-8") as stream:
        config = json.load(stream)
    try:
        asyncio.run(main_async(config, EventLog(args.log)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
