"""Shared helpers for Python compat tests.

    import nbdtest as t

    def main():
        srv = t.Server("ours", t.NBDKIT, "memory", "1M")
        h = srv.connect()              # a connected nbd.NBD handle
        t.expect_eq("size", 1 << 20, h.get_size())

    t.run(main)

t.run() turns exceptions into a failure (exit 1) with the traceback and
the tail of every server log, t.Skip into exit 77, and always stops every
server it started.  Also here: a raw-socket NBD client (RawClient) for
bad-input tests, and a background client (Hammer) that keeps reading
and writing through libnbd and checks its data.
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

NBDKIT = os.environ.get("NBDKIT") or sys.exit("NBDKIT is not set (run through compat-tests/run)")
REF_NBDKIT = os.environ.get("REF_NBDKIT", "/usr/bin/nbdkit")
C_PLUGINS = os.environ.get("C_PLUGINS", "")
T = os.getcwd()

_servers = []


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def is_reference():
    """True when the server under test is the reference nbdkit itself."""
    return os.path.realpath(NBDKIT) == os.path.realpath(REF_NBDKIT)


def known_bug(msg):
    """Skip this test against the reference, where it hits a known nbdkit
    1.32.5 bug (unless COMPAT_KNOWN_BUGS=1, to show the bug)."""
    if is_reference() and os.environ.get("COMPAT_KNOWN_BUGS") != "1":
        raise Skip("known nbdkit 1.32.5 bug: " + msg)


def fail(msg):
    raise Fail(msg)


def expect_eq(what, expected, got):
    if expected != got:
        raise Fail("%s\n  expected: %r\n  got:      %r" % (what, _short(expected), _short(got)))
    print("ok: %s = %r" % (what, _short(got)))


def expect(what, cond, detail=""):
    if not cond:
        raise Fail("%s%s" % (what, ("\n  " + detail) if detail else ""))
    print("ok: %s" % what)


def _short(v):
    """Long byte strings (also inside tuples and lists) as <N bytes: first..>."""
    if isinstance(v, (bytes, bytearray)) and len(v) > 32:
        return "<%d bytes: %s...>" % (len(v), bytes(v[:16]).hex())
    if isinstance(v, tuple):
        return tuple(_short(x) for x in v)
    if isinstance(v, list):
        return [_short(x) for x in v]
    return v


def expect_nbd_error(what, errno_name, fn, *args, **kw):
    """Call fn; it must raise nbd.Error with the given errno name (e.g. "EINVAL")."""
    import nbd
    try:
        fn(*args, **kw)
    except nbd.Error as e:
        got = e.errno  # libnbd gives the errno's name, e.g. "EINVAL"
        if errno_name is not None and got != errno_name:
            raise Fail("%s: expected error %s\n  got: %s (%s)" % (what, errno_name, got, e.string))
        print("ok: %s fails with %s" % (what, got))
        return e
    raise Fail("%s: expected error %s\n  got: success" % (what, errno_name))


class Server:
    """A server run in the foreground on NAME.sock in the test dir, stderr to NAME.log."""

    def __init__(self, name, binary, *args, wait=True, prefix=()):
        self.name = name
        self.binary = binary
        self.args = list(args)
        self.sock = os.path.join(T, name + ".sock")
        self.logfile = os.path.join(T, name + ".log")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.log = open(self.logfile, "wb")
        self.proc = subprocess.Popen(list(prefix) + [binary, "-f", "-U", self.sock] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        _servers.append(self)
        if wait:
            self.wait_ready()

    def wait_ready(self, secs=10):
        end = time.time() + secs
        while time.time() < end:
            if os.path.exists(self.sock):
                return
            if self.proc.poll() is not None:
                raise Fail("server %s exited with status %s before creating its socket"
                           % (self.name, self.proc.returncode))
            time.sleep(0.05)
        raise Fail("server %s did not create its socket within %d s" % (self.name, secs))

    @property
    def pid(self):
        return self.proc.pid

    def uri(self, export=""):
        return "nbd+unix:///%s?socket=%s" % (export, self.sock)

    def alive(self):
        return self.proc.poll() is None

    def expect_alive(self, when=""):
        if not self.alive():
            raise Fail("server %s died%s (exit status %s)"
                       % (self.name, (" " + when) if when else "", self.proc.returncode))

    def connect(self, export="", structured=True, strict=None, meta=()):
        import nbd
        h = nbd.NBD()
        h.set_request_structured_replies(structured)
        for m in meta:
            h.add_meta_context(m)
        if strict is not None:
            h.set_strict_mode(strict)
        h.set_export_name(export)
        h.connect_unix(self.sock)
        return h

    def raw(self, timeout=10):
        return RawClient(self.sock, timeout)

    def stop(self, secs=5):
        """SIGTERM; returns the exit status.  Fails if it doesn't exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(secs)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Fail("server %s did not exit within %d s of SIGTERM" % (self.name, secs))
        return self.proc.returncode

    def log_text(self):
        self.log.flush()
        with open(self.logfile, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=20):
        lines = self.log_text().splitlines()
        return "\n".join(lines[-n:]) if lines else "(empty)"


def _cleanup():
    for s in _servers:
        if s.proc.poll() is None:
            s.proc.send_signal(signal.SIGTERM)
    for s in _servers:
        try:
            s.proc.wait(5)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()


def run(main):
    rc = 0
    try:
        main()
    except Skip as e:
        print("SKIP: %s" % e)
        rc = 77
    except Fail as e:
        print("FAIL: %s" % e)
        rc = 1
    except BaseException:
        traceback.print_exc(file=sys.stdout)
        rc = 1
    if rc == 1:
        for s in _servers:
            print("--- last 20 lines of %s.log ---" % s.name)
            print(s.log_tail(20))
            print("---")
    try:
        _cleanup()
    except BaseException:
        traceback.print_exc(file=sys.stdout)
    sys.stdout.flush()
    os._exit(rc)


# ---------------------------------------------------------------------
# The NBD protocol by hand (doc/proto.md), for bad-input tests.

NBDMAGIC = 0x4e42444d41474943          # "NBDMAGIC"
IHAVEOPT = 0x49484156454F5054          # "IHAVEOPT"
OLDSTYLE_MAGIC = 0x00420281861253
REPLY_MAGIC_OPT = 0x3e889045565a9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668e33ef
EXTENDED_REQUEST_MAGIC = 0x21e41c71
EXTENDED_REPLY_MAGIC = 0x6e8a278c

FLAG_FIXED_NEWSTYLE = 1
FLAG_NO_ZEROES = 2

OPT_EXPORT_NAME = 1
OPT_ABORT = 2
OPT_LIST = 3
OPT_GO = 7
OPT_STRUCTURED_REPLY = 8
OPT_LIST_META_CONTEXT = 9
OPT_SET_META_CONTEXT = 10
OPT_EXTENDED_HEADERS = 11

REP_ACK = 1
REP_SERVER = 2
REP_INFO = 3
REP_ERR_UNSUP = (1 << 31) + 1
REP_ERR_POLICY = (1 << 31) + 2
REP_ERR_INVALID = (1 << 31) + 3
REP_ERR_UNKNOWN = (1 << 31) + 6
REP_ERR_TOO_BIG = (1 << 31) + 9
REP_ERR_EXT_HEADER_REQD = (1 << 31) + 10
REP_META_CONTEXT = 4

CMD_READ = 0
CMD_WRITE = 1
CMD_DISC = 2
CMD_FLUSH = 3
CMD_TRIM = 4
CMD_CACHE = 5
CMD_WRITE_ZEROES = 6
CMD_BLOCK_STATUS = 7

FLAG_FUA = 1 << 0
FLAG_DF = 1 << 2
FLAG_REQ_ONE = 1 << 3
FLAG_PAYLOAD_LEN = 1 << 5

REPLY_FLAG_DONE = 1
REPLY_TYPE_NONE = 0
REPLY_TYPE_OFFSET_DATA = 1
REPLY_TYPE_OFFSET_HOLE = 2
REPLY_TYPE_BLOCK_STATUS = 5
REPLY_TYPE_BLOCK_STATUS_EXT = 6
REPLY_TYPE_ERROR = (1 << 15) + 1

EPERM, EIO, ENOMEM, EINVAL, ENOSPC, EOVERFLOW, ENOTSUP, ESHUTDOWN = 1, 5, 12, 22, 28, 75, 95, 108


class Closed(Exception):
    pass


class RawClient:
    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.size = None
        self.flags = None

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.s.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise Closed("server closed the connection after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def wait_closed(self, secs=10):
        """True if the server closes the connection (EOF or reset) within secs,
        discarding anything it sends first."""
        self.s.settimeout(secs)
        end = time.time() + secs
        try:
            while time.time() < end:
                if not self.s.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return False

    # --- handshake
    def greeting(self):
        magic, opt = struct.unpack(">QQ", self.recv_exact(16))
        if magic != NBDMAGIC or opt != IHAVEOPT:
            raise Fail("bad greeting %#x %#x" % (magic, opt))
        (self.hflags,) = struct.unpack(">H", self.recv_exact(2))
        return self.hflags

    def client_flags(self, flags=FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES):
        self.send(struct.pack(">I", flags))

    def send_option(self, opt, data=b"", magic=IHAVEOPT, length=None):
        if length is None:
            length = len(data)
        self.send(struct.pack(">QII", magic, opt, length) + data)

    def option_reply(self):
        magic, opt, rtype, length = struct.unpack(">QIII", self.recv_exact(20))
        if magic != REPLY_MAGIC_OPT:
            raise Fail("bad option reply magic %#x" % magic)
        return opt, rtype, self.recv_exact(length)

    def go(self, export=b""):
        """NBD_OPT_GO with no info requests; returns (rtype of the final reply, data)."""
        self.send_option(OPT_GO, struct.pack(">I", len(export)) + export + struct.pack(">H", 0))
        while True:
            opt, rtype, data = self.option_reply()
            if rtype == REP_INFO:
                (info,) = struct.unpack(">H", data[:2])
                if info == 0:
                    self.size, self.flags = struct.unpack(">QH", data[2:12])
                continue
            return rtype, data

    def handshake(self, export=b""):
        """Fixed newstyle handshake up to transmission (simple replies only)."""
        self.greeting()
        self.client_flags()
        rtype, data = self.go(export)
        if rtype != REP_ACK:
            raise Fail("NBD_OPT_GO failed: reply type %#x %r" % (rtype, data))
        return self

    # --- transmission
    def request(self, cmd, offset=0, length=0, handle=1, flags=0, payload=b""):
        self.send(struct.pack(">IHHQQI", REQUEST_MAGIC, flags, cmd, handle, offset, length) + payload)

    def simple_option(self, opt, data=b""):
        """Send an option with a single reply; returns (reply type, data)."""
        self.send_option(opt, data)
        o, rtype, rdata = self.option_reply()
        if o != opt:
            raise Fail("reply to option %d came for option %d" % (opt, o))
        return rtype, rdata

    def set_meta_context(self, *names, export=b""):
        """NBD_OPT_SET_META_CONTEXT; returns {name: id} and the final reply type."""
        data = struct.pack(">I", len(export)) + export + struct.pack(">I", len(names))
        for n in names:
            data += struct.pack(">I", len(n)) + n
        self.send_option(OPT_SET_META_CONTEXT, data)
        ids = {}
        while True:
            _, rtype, rdata = self.option_reply()
            if rtype != REP_META_CONTEXT:
                return ids, rtype
            (cid,) = struct.unpack(">I", rdata[:4])
            ids[rdata[4:]] = cid

    def handshake_ext(self, export=b"", extended=True, structured=False, meta=()):
        """Fixed newstyle handshake asking for extended headers (and/or
        structured replies, meta contexts) before GO.  Sets self.extended."""
        self.greeting()
        self.client_flags()
        self.extended = False
        if extended:
            rtype, _ = self.simple_option(OPT_EXTENDED_HEADERS)
            if rtype != REP_ACK:
                raise Fail("NBD_OPT_EXTENDED_HEADERS: reply type %#x" % rtype)
            self.extended = True
        if structured:
            rtype, _ = self.simple_option(OPT_STRUCTURED_REPLY)
            if rtype != REP_ACK:
                raise Fail("NBD_OPT_STRUCTURED_REPLY: reply type %#x" % rtype)
        if meta:
            self.set_meta_context(*meta, export=export)
        rtype, data = self.go(export)
        if rtype != REP_ACK:
            raise Fail("NBD_OPT_GO failed: reply type %#x %r" % (rtype, data))
        return self

    def ext_request(self, cmd, offset=0, length=0, handle=1, flags=0, payload=b""):
        """A 32-byte extended request (64-bit length)."""
        self.send(struct.pack(">IHHQQQ", EXTENDED_REQUEST_MAGIC, flags, cmd, handle, offset, length)
                  + payload)

    def chunk(self):
        """One structured or extended reply chunk: a dict with flags, type,
        handle, offset (extended header only), payload."""
        (magic,) = struct.unpack(">I", self.recv_exact(4))
        if magic == STRUCTURED_REPLY_MAGIC:
            flags, typ, handle, length = struct.unpack(">HHQI", self.recv_exact(16))
            offset = None
        elif magic == EXTENDED_REPLY_MAGIC:
            flags, typ, handle, offset, length = struct.unpack(">HHQQQ", self.recv_exact(28))
        else:
            raise Fail("expected a reply chunk, got magic %#x" % magic)
        return {"flags": flags, "type": typ, "handle": handle, "offset": offset,
                "payload": self.recv_exact(length)}

    def reply_chunks(self):
        """Chunks up to and including the one flagged DONE."""
        out = []
        while True:
            c = self.chunk()
            out.append(c)
            if c["flags"] & REPLY_FLAG_DONE:
                return out

    def block_status(self, offset, length, flags=0, handle=1):
        """A compact BLOCK_STATUS (one meta context): its descriptors as
        (length, flags) pairs, or ("error", errno) for an error chunk."""
        self.request(CMD_BLOCK_STATUS, offset, length, handle=handle, flags=flags)
        for ch in self.reply_chunks():
            if ch["handle"] != handle:
                raise Fail("reply for handle %d, expected %d" % (ch["handle"], handle))
            if ch["type"] == REPLY_TYPE_BLOCK_STATUS:
                p = ch["payload"]
                return [struct.unpack(">II", p[i:i + 8]) for i in range(4, len(p), 8)]
            if ch["type"] & (1 << 15):
                (err,) = struct.unpack(">I", ch["payload"][:4])
                return ("error", err)
        raise Fail("no block status chunk in the reply")

    def simple_reply(self, read_len=0):
        magic, error, handle = struct.unpack(">IIQ", self.recv_exact(16))
        if magic != SIMPLE_REPLY_MAGIC:
            raise Fail("expected a simple reply, got magic %#x" % magic)
        data = self.recv_exact(read_len) if (read_len and error == 0) else b""
        return error, handle, data


def read_greetings(sel, got, secs, close=False):
    """For many raw clients registered (EVENT_READ) in the selector sel,
    with got[sock] the bytes each has read so far: read until every one
    has its 18-byte newstyle greeting or secs pass.  A greeted socket is
    unregistered (and with close, closed).  Returns (greeted sockets,
    number the server closed before greeting them)."""
    done, closed = [], 0
    end = time.time() + secs
    while sel.get_map() and time.time() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(64)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                closed += 1
                sel.unregister(s)
                continue
            got[s] += data
            if len(got[s]) >= 18:
                if not got[s].startswith(b"NBDMAGICIHAVEOPT"):
                    raise Fail("not a newstyle greeting: %r" % got[s][:18])
                sel.unregister(s)
                done.append(s)
                if close:
                    s.close()
    return done, closed


# ---------------------------------------------------------------------
# A client that reads and writes throughout another test and checks data.

class Hammer:
    """Keeps writing a fresh pattern to [offset, offset+size) of srv and
    reading it back, in a thread, through libnbd.  stop() returns the
    number of round trips done and raises Fail on any error or mismatch."""

    def __init__(self, srv, offset, size=65536, export=""):
        self.srv, self.offset, self.size, self.export = srv, offset, size, export
        self.count = 0
        self.error = None
        self._stop = threading.Event()
        self.h = srv.connect(export)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        try:
            i = 0
            while not self._stop.is_set():
                i += 1
                data = struct.pack(">Q", i) * (self.size // 8)
                self.h.pwrite(data, self.offset)
                got = self.h.pread(self.size, self.offset)
                if got != data:
                    raise Fail("hammer round %d: read back differs from what was written" % i)
                self.count = i
                time.sleep(0.002)
        except BaseException as e:
            self.error = e

    def check(self, when=""):
        if self.error is not None:
            raise Fail("second client failed%s: %s" % ((" " + when) if when else "", self.error))
        if not self.thread.is_alive():
            raise Fail("second client stopped%s" % ((" " + when) if when else ""))

    def progress(self, when="", secs=5):
        """Wait until the hammer completes at least 2 more round trips."""
        start = self.count
        end = time.time() + secs
        while self.count < start + 2 and time.time() < end:
            self.check(when)
            time.sleep(0.01)
        self.check(when)
        if self.count < start + 2:
            raise Fail("second client made no progress for %d s%s" % (secs, (" " + when) if when else ""))

    def stop(self):
        self._stop.set()
        self.thread.join(10)
        if self.error is not None:
            raise Fail("second client failed: %s" % self.error)
        if self.thread.is_alive():
            raise Fail("second client hangs (a request got no reply within 10 s)")
        self.h.shutdown()
        del self.h
        return self.count


# ---------------------------------------------------------------------
# Bad-input scenarios: a misbehaving raw client while a well-behaved one
# keeps reading and writing.

GUARD = bytes(range(256)) * 16      # 4 KiB of known data at offset 0


def bad_input(scenario, size="128M", log_lines=1, args=()):
    """Serve memory SIZE (with server ARGS before it), write GUARD at 0, start a Hammer at 100 MiB, run
    scenario(srv), then check: the server is alive, the hammer kept
    working with correct data, GUARD is intact, the server logged exactly
    log_lines new lines (None: don't check) and no panic/assertion, and
    it exits 0 on SIGTERM."""
    srv = Server("srv", NBDKIT, *args, "memory", size)
    h = srv.connect()
    h.pwrite(GUARD, 0)
    ham = Hammer(srv, 100 << 20)
    ham.progress("before the bad client")
    before = len(srv.log_text().splitlines())
    scenario(srv)
    time.sleep(0.3)
    srv.expect_alive("after the bad client")
    ham.progress("after the bad client")
    expect_eq("data at offset 0 after the bad client", GUARD, h.pread(len(GUARD), 0))
    h2 = srv.connect()
    expect_eq("a new connection reads the same", GUARD, h2.pread(len(GUARD), 0))
    h2.shutdown()
    rounds = ham.stop()
    print("ok: the second client did %d write+read rounds with correct data" % rounds)
    h.shutdown()
    log = srv.log_text()
    new = log.splitlines()[before:]
    print("server log lines for the bad client:\n  " + ("\n  ".join(new) if new else "(none)"))
    for bad in ("panicked", "Assertion", "RUST_BACKTRACE", "Segmentation", "core dumped"):
        expect("no %r in the server log" % bad, bad not in log)
    if log_lines is not None:
        expect_eq("number of log lines for the bad client (nbdkit 1.32.5 logs %d)" % log_lines,
                  log_lines, len(new))
    expect_eq("exit status after SIGTERM", 0, srv.stop())


def read_chunks_data(chunks, offset, count):
    """Reassemble the chunks of a read reply as a client does: returns the
    bytes, and the chunk types in order.  Fails on an error chunk, bytes
    outside the request, bytes sent twice or never."""
    buf = bytearray(count)
    seen = bytearray(count)
    types = []
    for c in chunks:
        p = c["payload"]
        types.append(c["type"])
        if c["type"] == REPLY_TYPE_OFFSET_DATA:
            (o,) = struct.unpack(">Q", p[:8])
            data, n = p[8:], len(p) - 8
        elif c["type"] == REPLY_TYPE_OFFSET_HOLE:
            o, n = struct.unpack(">QI", p)
            data = bytes(n)
        elif c["type"] == REPLY_TYPE_ERROR:
            err, mlen = struct.unpack(">IH", p[:6])
            raise Fail("read failed: error %d %r" % (err, p[6:6 + mlen]))
        else:
            raise Fail("unexpected chunk type %d in a read reply" % c["type"])
        if o < offset or o + n > offset + count:
            raise Fail("chunk %d+%d outside the request %d+%d" % (o, n, offset, count))
        r = o - offset
        if any(seen[r:r + n]):
            raise Fail("bytes at %d sent twice" % o)
        buf[r:r + n] = data
        seen[r:r + n] = b"\1" * n
    if not all(seen):
        raise Fail("some bytes of the read were never sent")
    return bytes(buf), types
