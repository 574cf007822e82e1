# A client sends an option with the wrong magic (not IHAVEOPT): the
# server drops that connection (nbdkit 1.32.5: "unknown option version"),
# logs one line, and serves everyone else on.
import nbdtest as t


def scenario(srv):
    c = srv.raw()
    t.expect_eq("greeting handshake flags (FIXED_NEWSTYLE|NO_ZEROES)", 3, c.greeting())
    c.client_flags()
    c.send_option(t.OPT_GO, b"\0" * 6, magic=0x1234567812345678)
    t.expect("the server closes the connection", c.wait_closed(5))
    c.close()


t.run(lambda: t.bad_input(scenario))
