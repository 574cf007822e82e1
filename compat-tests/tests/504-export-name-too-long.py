# Export names over 4096 bytes.  NBD_OPT_GO with a 5000-byte name gets
# NBD_REP_ERR_INVALID and negotiation goes on (a following GO with "" is
# accepted and works); NBD_OPT_EXPORT_NAME with 4097 bytes (which has no
# error reply) closes the connection; 4096 bytes is accepted.
import struct
import nbdtest as t


def scenario(srv):
    c = srv.raw()
    c.greeting()
    c.client_flags()
    name = b"x" * 5000
    c.send_option(t.OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
    opt, rtype, data = c.option_reply()
    t.expect_eq("reply to GO with a 5000-byte name", (t.OPT_GO, t.REP_ERR_INVALID), (opt, rtype))
    rtype, data = c.go(b"")
    t.expect_eq("then GO with the default name", t.REP_ACK, rtype)
    t.expect_eq("export size", 128 << 20, c.size)
    c.request(t.CMD_READ, 0, len(t.GUARD), handle=0x1122334455667788)
    t.expect_eq("read on that connection", (0, 0x1122334455667788, t.GUARD), c.simple_reply(len(t.GUARD)))
    c.close()

    c = srv.raw()
    c.greeting()
    c.client_flags()
    c.send_option(t.OPT_EXPORT_NAME, b"y" * 4097)
    t.expect("NBD_OPT_EXPORT_NAME with 4097 bytes: the server closes the connection", c.wait_closed(5))
    c.close()

    c = srv.raw()
    c.greeting()
    c.client_flags()
    c.send_option(t.OPT_EXPORT_NAME, b"z" * 4096)
    size, flags = struct.unpack(">QH", c.recv_exact(10))
    t.expect_eq("NBD_OPT_EXPORT_NAME with 4096 bytes is accepted: size", 128 << 20, size)
    c.request(t.CMD_READ, 0, len(t.GUARD), handle=5)
    t.expect_eq("read on that connection", (0, 5, t.GUARD), c.simple_reply(len(t.GUARD)))
    c.close()


t.run(lambda: t.bad_input(scenario, log_lines=2))
