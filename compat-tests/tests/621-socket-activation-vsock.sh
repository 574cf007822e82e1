#!/usr/bin/env bash
# Socket activation: with LISTEN_PID/LISTEN_FDS naming this process, the
# server serves the passed socket (fd 3), binds nothing, stays in the
# foreground, and refuses -i/-p/-U/-s/--run as nbdkit does (the first
# given, as it is met).  --vsock
# listens on AF_VSOCK (the port from -p, parsed as nbdkit parses it) and
# gives --run an nbd+vsock URI; where this machine has no vsock both
# servers fail alike.
source "$COMPAT_LIB"

cat > activate.py <<'PY'
import os, socket, sys
# activate.py SOCKPATH BINARY ARGS...: listen on SOCKPATH as fd 3, exec
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(5)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3); s.close()
os.set_inheritable(3, True)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "1"
os.execv(sys.argv[2], sys.argv[2:])
PY
for name in ref ours; do
    b=$REF_NBDKIT; [ $name = ours ] && b=$NBDKIT
    python3 activate.py "$T/$name.sock" "$b" memory 1M 2>"$name.log" &
    pid=$!; track_pid $pid
    size=
    for _ in $(seq 50); do
        size=$(nbdinfo --size "nbd+unix:///?socket=$T/$name.sock" 2>/dev/null) && break
        sleep 0.1
    done
    expect_eq "$name: size served on the activated socket" 1048576 "$size"
    kill -0 $pid 2>/dev/null || fail "$name: forked away (socket activation implies -f)"
    kill $pid; wait $pid
    rm -f "$T/$name.sock"
done
# Refused as the option is met: the first on the command line, before
# any combination it would make, whatever the mode.
for a in "-p 10" "-U $T/x.sock" "-i 127.0.0.1" "-s" "--run true" "--port=10" \
         "-U $T/x.sock -p 10" "-p 10 -i ::1" "--run true -s" "-p 10 --version" \
         "-s --help" "-p 10 --dump-plugin"; do
    # shellcheck disable=SC2086
    want=$(timeout 5 python3 activate.py "$T/r.sock" "$REF_NBDKIT" $a memory 1M 2>&1 </dev/null; echo "exit $?")
    rm -f "$T/r.sock"
    # shellcheck disable=SC2086
    got=$(timeout 5 python3 activate.py "$T/r.sock" "$NBDKIT" $a memory 1M 2>&1 </dev/null; echo "exit $?")
    rm -f "$T/r.sock"
    expect_eq "socket activation with $a" "$want" "$got"
done

for a in "-p 12345x" "-p nbd" "-p 4294967296" "-p 12349"; do
    # shellcheck disable=SC2086
    want=$(timeout 10 "$REF_NBDKIT" --vsock $a null --run 'echo "$uri $port"' 2>&1; echo "exit $?")
    # shellcheck disable=SC2086
    got=$(timeout 10 "$NBDKIT" --vsock $a null --run 'echo "$uri $port"' 2>&1; echo "exit $?")
    expect_eq "--vsock $a" "$want" "$got"
done
