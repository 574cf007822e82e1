# -p PORT -i 127.0.0.1: serves over TCP at nbd://127.0.0.1:PORT.
source "$COMPAT_LIB"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$NBDKIT" -f -p "$port" -i 127.0.0.1 memory 1M 2>tcp.log &
pid=$!
SERVER_PID[tcp]=$pid; _lib_servers+=(tcp)
up=
for i in $(seq 100); do
    if nbdinfo --size "nbd://127.0.0.1:$port" >/dev/null 2>&1; then up=1; break; fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
[ -n "$up" ] || fail "no NBD server on 127.0.0.1:$port within 10 s"
expect_eq "size over TCP" 1048576 "$(nbdinfo --size "nbd://127.0.0.1:$port")"
out=$(nbdsh -u "nbd://127.0.0.1:$port" -c 'h.pwrite(b"tcp!" * 1024, 4096); print(bytes(h.pread(8, 4096)))') || fail "nbdsh over TCP failed"
expect_eq "write+read over TCP" "b'tcp!tcp!'" "$out"
stop_server tcp
expect_eq "exit status after SIGTERM" 0 "$STOP_STATUS"
