# NBD_OPT_EXTENDED_HEADERS by hand: negotiation in the spec's order, then
# every reply type in extended form: NONE chunks for success, data and
# hole chunks echoing the request's offset, BLOCK_STATUS_EXT with a
# descriptor count and lengths over 32 bits, error chunks with a message
# (--send-error-messages);
# 64-bit TRIM / WRITE_ZEROES / BLOCK_STATUS lengths act on the whole range.
import struct
import nbdtest as t

G = 1 << 30


def check_done(what, chunks, typ, handle, offset):
    t.expect_eq(what + ": one final chunk", 1, len(chunks))
    c = chunks[0]
    t.expect_eq(what + ": chunk type", typ, c["type"])
    t.expect_eq(what + ": handle", handle, c["handle"])
    t.expect_eq(what + ": offset echoed in the header", offset, c["offset"])
    return c


def main():
    srv = t.Server("srv", t.NBDKIT, "--send-error-messages", "memory", "16G")
    c = srv.raw()
    c.greeting()
    c.client_flags()
    t.expect_eq("EXTENDED_HEADERS with a payload", t.REP_ERR_INVALID,
                c.simple_option(t.OPT_EXTENDED_HEADERS, b"x")[0])
    t.expect_eq("EXTENDED_HEADERS", t.REP_ACK, c.simple_option(t.OPT_EXTENDED_HEADERS)[0])
    t.expect_eq("EXTENDED_HEADERS again", t.REP_ERR_INVALID,
                c.simple_option(t.OPT_EXTENDED_HEADERS)[0])
    t.expect_eq("STRUCTURED_REPLY after it", t.REP_ERR_EXT_HEADER_REQD,
                c.simple_option(t.OPT_STRUCTURED_REPLY)[0])
    ids, rtype = c.set_meta_context(b"base:allocation")
    t.expect_eq("SET_META_CONTEXT after it", (t.REP_ACK, [b"base:allocation"]),
                (rtype, list(ids)))
    ctx = ids[b"base:allocation"]
    rtype, _ = c.go()
    t.expect_eq("GO", t.REP_ACK, rtype)
    t.expect("NBD_FLAG_SEND_DF advertised (structured replies implied)", c.flags & 0x80)
    c.extended = True

    data = bytes(range(256)) * 16
    c.ext_request(t.CMD_WRITE, 5 * G, len(data), handle=1, payload=data)
    check_done("write without PAYLOAD_LEN", c.reply_chunks(), t.REPLY_TYPE_NONE, 1, 5 * G)
    c.ext_request(t.CMD_WRITE, 5 * G + 4096, len(data), handle=2, flags=t.FLAG_PAYLOAD_LEN,
                  payload=data)
    check_done("write with PAYLOAD_LEN", c.reply_chunks(), t.REPLY_TYPE_NONE, 2, 5 * G + 4096)

    # 64 KiB of zeroes, then the 8 KiB just written: a hole and a data chunk.
    off = 5 * G - 65536
    c.ext_request(t.CMD_READ, off, 65536 + 8192, handle=3)
    chunks = c.reply_chunks()
    got, types = t.read_chunks_data(chunks, off, 65536 + 8192)
    t.expect_eq("read across a hole: bytes", bytes(65536) + data + data, got)
    t.expect_eq("read across a hole: chunk types",
                [t.REPLY_TYPE_OFFSET_HOLE, t.REPLY_TYPE_OFFSET_DATA], types)
    t.expect("every chunk echoes the request's offset",
             all(ch["offset"] == off and ch["handle"] == 3 for ch in chunks))
    c.ext_request(t.CMD_READ, off, 65536 + 8192, handle=4, flags=t.FLAG_DF)
    got, types = t.read_chunks_data(c.reply_chunks(), off, 65536 + 8192)
    t.expect_eq("DF: one data chunk", [t.REPLY_TYPE_OFFSET_DATA], types)
    t.expect_eq("DF: bytes", bytes(65536) + data + data, got)

    # Block status over the whole 16 GiB: 64-bit descriptors.
    c.ext_request(t.CMD_BLOCK_STATUS, 0, 16 * G, handle=5)
    ch = check_done("block status", c.reply_chunks(), t.REPLY_TYPE_BLOCK_STATUS_EXT, 5, 0)
    p = ch["payload"]
    cid, n = struct.unpack(">II", p[:8])
    t.expect_eq("block status: context id", ctx, cid)
    t.expect_eq("block status: length = 8 + 16 * descriptor count", 8 + 16 * n, len(p))
    descs = [struct.unpack(">QQ", p[8 + 16 * i:24 + 16 * i]) for i in range(n)]
    # (The memory plugin allocates in 32 KiB pages.)
    t.expect_eq("block status: descriptors", [(5 * G, 3), (32768, 0), (11 * G - 32768, 3)],
                descs)
    c.ext_request(t.CMD_BLOCK_STATUS, 0, 16 * G, handle=6, flags=t.FLAG_REQ_ONE)
    ch = check_done("block status REQ_ONE", c.reply_chunks(), t.REPLY_TYPE_BLOCK_STATUS_EXT, 6, 0)
    t.expect_eq("REQ_ONE: one 5 GiB descriptor", (ctx, 1, 5 * G, 3),
                struct.unpack(">IIQQ", ch["payload"]))

    # 64-bit effect lengths act on the whole range.
    c.ext_request(t.CMD_WRITE_ZEROES, 0, 6 * G, handle=7)
    check_done("6 GiB write zeroes", c.reply_chunks(), t.REPLY_TYPE_NONE, 7, 0)
    c.ext_request(t.CMD_READ, 5 * G, len(data), handle=8)
    got, _ = t.read_chunks_data(c.reply_chunks(), 5 * G, len(data))
    t.expect_eq("data past 4 GiB inside the zeroed range reads as zeroes", bytes(len(data)), got)
    c.ext_request(t.CMD_WRITE, 9 * G, len(data), handle=9, payload=data)
    c.reply_chunks()
    c.ext_request(t.CMD_TRIM, 4 * G, 6 * G, handle=10)
    check_done("6 GiB trim", c.reply_chunks(), t.REPLY_TYPE_NONE, 10, 4 * G)
    c.ext_request(t.CMD_READ, 9 * G, len(data), handle=11)
    got, _ = t.read_chunks_data(c.reply_chunks(), 9 * G, len(data))
    t.expect_eq("data inside the trimmed range reads as zeroes", bytes(len(data)), got)
    c.ext_request(t.CMD_FLUSH, 0, 0, handle=12)
    check_done("flush", c.reply_chunks(), t.REPLY_TYPE_NONE, 12, 0)

    # Errors are error chunks with the reason.
    c.ext_request(t.CMD_READ, 16 * G - 512, 1024, handle=13)
    ch = check_done("read past the end", c.reply_chunks(), t.REPLY_TYPE_ERROR, 13, 16 * G - 512)
    err, mlen = struct.unpack(">IH", ch["payload"][:6])
    msg = ch["payload"][6:].decode()
    t.expect_eq("read past the end: error and message length", (t.EINVAL, mlen), (err, len(msg)))
    t.expect("read past the end: the message says why (%r)" % msg, "out of range" in msg)
    c.ext_request(t.CMD_DISC, handle=14)
    t.expect("the server hangs up after DISC", c.wait_closed(5))
    srv.expect_alive()


t.run(main)
