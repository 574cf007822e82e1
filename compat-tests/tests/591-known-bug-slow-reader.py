# A client that asks for 16 MiB reads and never reads the replies must not
# hold up anybody else: a second client keeps reading and writing with its
# usual progress while the first one's replies pile up, and the server
# closes the first when it hangs up.
import time
import nbdtest as t


def main():
    if t.is_reference():
        t.known_bug("nbdkit 1.32.5 aborts (connections.c:402 raw_send_socket: "
                    "Assertion sock >= 0) when such a client hangs up")
    srv = t.Server("srv", t.NBDKIT, "memory", "256M")
    slow = srv.raw().handshake()
    slow.s.setsockopt(t.socket.SOL_SOCKET, t.socket.SO_RCVBUF, 4096)
    for i in range(8):
        slow.request(t.CMD_READ, i * (16 << 20), 16 << 20, handle=i + 1)
    time.sleep(0.5)
    hammer = t.Hammer(srv, 200 << 20)
    for _ in range(5):
        hammer.progress("while another client does not read its replies", secs=3)
    rounds = hammer.stop()
    t.expect("the second client kept going (%d round trips)" % rounds, rounds >= 10)
    slow.close()
    time.sleep(0.5)
    srv.expect_alive("after the slow reader hung up")
    h = srv.connect()
    t.expect_eq("a new client reads", 512, len(h.pread(512, 0)))
    h.shutdown()
    srv.stop()


t.run(main)
