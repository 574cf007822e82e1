# An unknown command number (99) and an unknown command flag: EINVAL with
# the request's handle, and the connection goes on.
import nbdtest as t


def scenario(srv):
    c = srv.raw().handshake()
    c.request(99, 0, 512, handle=42)
    t.expect_eq("unknown command 99", (t.EINVAL, 42, b""), c.simple_reply())
    c.request(t.CMD_READ, 0, len(t.GUARD), handle=43)
    t.expect_eq("then a read", (0, 43, t.GUARD), c.simple_reply(len(t.GUARD)))
    c.request(t.CMD_READ, 0, 512, handle=44, flags=0x8000)
    t.expect_eq("read with unknown flag 0x8000", (t.EINVAL, 44, b""), c.simple_reply(512))
    c.request(t.CMD_READ, 0, len(t.GUARD), handle=45)
    t.expect_eq("then a read", (0, 45, t.GUARD), c.simple_reply(len(t.GUARD)))
    c.close()


t.run(lambda: t.bad_input(scenario, log_lines=2))
