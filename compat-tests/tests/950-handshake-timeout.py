# --timeout (CVE-2024-7409): a client that has not finished negotiating
# within the limit is disconnected, with one log line, whether it is
# silent or stalls between options; clients that got through stay
# connected however long they idle; other clients are served meanwhile;
# --timeout=0 turns the limit off.
import time
import nbdtest as t


def main():
    srv = t.Server("srv", t.NBDKIT, "--timeout=1", "memory", "1M")
    h = srv.connect()
    h.pwrite(b"x" * 512, 0)
    before = len(srv.log_text().splitlines())

    silent = srv.raw()
    silent.greeting()
    stalled = srv.raw()
    stalled.greeting()
    stalled.client_flags()
    stalled.simple_option(t.OPT_STRUCTURED_REPLY)
    start = time.time()
    t.expect("a silent client is disconnected", silent.wait_closed(5))
    t.expect("a client stalled between options is disconnected", stalled.wait_closed(5))
    took = time.time() - start
    t.expect("... after the limit, not before (%.2f s)" % took, 0.8 <= took <= 4)
    new = srv.log_text().splitlines()[before:]
    t.expect_eq("one log line per client", 2, len(new))
    t.expect("the line says why: %r" % new[0], "handshake" in new[0] and "--timeout" in new[0])

    # Clients that finished negotiating are not touched.
    time.sleep(1.5)
    t.expect_eq("a client in transmission for longer than the limit is served",
                b"x" * 512, h.pread(512, 0))
    h.shutdown()
    srv.expect_alive()

    off = t.Server("off", t.NBDKIT, "--timeout=0", "memory", "1M")
    c = off.raw()
    c.greeting()
    t.expect("--timeout=0: a silent client stays connected", not c.wait_closed(2))
    c.client_flags()
    t.expect_eq("... and can still negotiate", t.REP_ACK, c.go()[0])
    t.expect_eq("--timeout=0 logs nothing", "", off.log_text().strip())


t.run(main)
