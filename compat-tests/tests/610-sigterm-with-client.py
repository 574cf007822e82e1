# SIGTERM while a client is connected and idle.  nbdkit 1.32.5 does not
# cut the connection: the client's next request fails with ESHUTDOWN, and
# once the client hangs up the server exits 0.  Nobody can connect after.
import os
import signal
import time
import nbdtest as t


def main():
    srv = t.Server("srv", t.NBDKIT, "memory", "1M")
    h = srv.connect()
    h.pwrite(b"y" * 512, 0)
    t.expect_eq("read before SIGTERM", b"y" * 512, h.pread(512, 0))
    os.kill(srv.pid, signal.SIGTERM)
    time.sleep(0.5)
    try:
        t.expect_nbd_error("a request after SIGTERM", "ESHUTDOWN", h.pread, 512, 0)
    except t.Fail:
        if not srv.alive():
            raise t.Fail("the server exited at SIGTERM without answering the idle client's next "
                         "request (nbdkit 1.32.5 answers it with ESHUTDOWN)")
        raise
    try:
        h.shutdown()
    except Exception as e:
        print("(client shutdown: %s)" % e)
    del h
    try:
        srv.proc.wait(5)
    except Exception:
        t.fail("server still running 5 s after SIGTERM and the client hanging up")
    t.expect_eq("exit status", 0, srv.proc.returncode)
    try:
        srv.connect()
    except Exception as e:
        print("ok: new connections are refused after shutdown (%s)" % e)
    else:
        t.fail("a new connection succeeded after the server exited")


t.run(main)
