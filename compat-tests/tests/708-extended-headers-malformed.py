# Malformed extended requests, while a well-behaved client keeps working:
# a payload on a command that takes none is read and refused (EINVAL, the
# stream stays in sync), unknown flags and 64-bit ranges past the end are
# refused, and a compact header after extended headers or a payload over
# the 64 MiB limit ends that connection.  One log line each.
import struct
import nbdtest as t

LIMIT = 64 << 20


def error_chunk(c, what, handle, errno):
    chunks = c.reply_chunks()
    t.expect_eq(what + ": one error chunk", (1, t.REPLY_TYPE_ERROR, handle),
                (len(chunks), chunks[0]["type"], chunks[0]["handle"]))
    err, mlen = struct.unpack(">IH", chunks[0]["payload"][:6])
    t.expect_eq(what + ": error", errno, err)
    t.expect(what + ": a message says why", mlen > 0)


def still_in_sync(c, what, handle):
    c.ext_request(t.CMD_READ, 0, len(t.GUARD), handle=handle)
    got, _ = t.read_chunks_data(c.reply_chunks(), 0, len(t.GUARD))
    t.expect_eq(what + ": the next read is answered", t.GUARD, got)


def scenario(srv):
    c = srv.raw().handshake_ext()
    c.ext_request(t.CMD_READ, 0, 100, handle=1, flags=t.FLAG_PAYLOAD_LEN, payload=b"R" * 100)
    error_chunk(c, "read with a 100-byte payload", 1, t.EINVAL)
    still_in_sync(c, "after the payload", 2)
    c.ext_request(t.CMD_WRITE_ZEROES, 0, 10, handle=3, flags=t.FLAG_PAYLOAD_LEN,
                  payload=b"Z" * 10)
    error_chunk(c, "write zeroes with a payload", 3, t.EINVAL)
    c.ext_request(t.CMD_READ, 0, 512, handle=4, flags=0x40)
    error_chunk(c, "read with unknown flag 0x40", 4, t.EINVAL)
    c.ext_request(t.CMD_READ, 0, 1 << 40, handle=5)
    error_chunk(c, "1 TiB read", 5, t.EINVAL)
    c.ext_request(t.CMD_TRIM, 4096, (1 << 64) - 4096, handle=6)
    error_chunk(c, "trim whose end overflows 64 bits", 6, t.EINVAL)
    still_in_sync(c, "after the refusals", 7)
    c.close()

    c = srv.raw().handshake_ext()
    c.request(t.CMD_READ, 0, 512, handle=8)
    t.expect("a compact request after extended headers: disconnected", c.wait_closed(5))
    c.close()

    c = srv.raw().handshake_ext()
    c.ext_request(t.CMD_WRITE, 0, LIMIT + 1, handle=9, flags=t.FLAG_PAYLOAD_LEN)
    t.expect("a payload over 64 MiB: disconnected without reading it", c.wait_closed(5))
    c.close()

    c = srv.raw().handshake_ext()
    c.ext_request(t.CMD_WRITE, 0, 1 << 62, handle=10)
    t.expect("a write of 2^62 bytes: disconnected without reading it", c.wait_closed(5))
    c.close()


# (Error chunks carry the reason only when asked.)
t.run(lambda: t.bad_input(scenario, log_lines=8, args=("--send-error-messages",)))
