# Without -f nbdkit forks into the background: the command returns 0 at
# once, the pid file holds a live pid other than the one we started, the
# socket is already listening, the daemon serves, and SIGTERM ends it.
source "$COMPAT_LIB"

timeout 20 "$NBDKIT" -U "$T/bg.sock" -P "$T/bg.pid" memory 1M 2>bg.log &
launcher=$!
wait $launcher; rc=$?
expect_eq "exit status of the launching nbdkit" 0 "$rc"
[ -s bg.pid ] || fail "pid file bg.pid missing or empty when the command returned"
daemon=$(tr -d '[:space:]' < bg.pid)
expect_match "pid file holds a pid" '^[0-9]+$' "$daemon"
track_pid "$daemon"
kill -0 "$daemon" 2>/dev/null || fail "pid $daemon from the pid file is not running"
[ "$daemon" != "$launcher" ] || fail "pid file holds the launcher's pid, not the daemon's"
[ -S bg.sock ] || fail "socket not there when the command returned (pid file must come after listen)"
ok "daemon $daemon is running, socket is there"

size=$(nbdinfo --size "nbd+unix:///?socket=$T/bg.sock") || fail "nbdinfo against the daemon failed"
expect_eq "size served by the daemon" 1048576 "$size"
must nbdsh -u "nbd+unix:///?socket=$T/bg.sock" -c 'h.pwrite(b"bg" * 256, 0); assert h.pread(512, 0) == b"bg" * 256'
ok "daemon serves writes and reads"

kill -TERM "$daemon"
for i in $(seq 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
kill -0 "$daemon" 2>/dev/null && fail "daemon $daemon still running 5 s after SIGTERM"
ok "daemon exited on SIGTERM"

# A pid file that cannot be written: nbdkit's perror line (the path and
# the system's message, no prefix), exit status 1.
a=$(timeout 10 "$REF_NBDKIT" -f -U "$T/r.sock" -P "$T/no/such/dir/pid" memory 1M 2>&1; echo "status $?")
b=$(timeout 10 "$NBDKIT" -f -U "$T/o.sock" -P "$T/no/such/dir/pid" memory 1M 2>&1; echo "status $?")
expect_eq "C nbdkit's refusal" "$T/no/such/dir/pid: No such file or directory
status 1" "$a"
_same "unwritable pid file" "$a" "$b"

# The pid file is made with mode 0644: with umask 0 it is not writable by
# others.
for b in "$REF_NBDKIT" "$NBDKIT"; do
    rm -f "$T/mode.pid"
    (umask 0; timeout 10 "$b" -P "$T/mode.pid" -U - null --run true) || fail "$b: --run failed"
    echo "$(stat -c %a "$T/mode.pid")"
done > modes
expect_eq "pid file modes (C nbdkit's, ours)" "644
644" "$(cat modes)"

# The daemon stays in the session and process group of whoever started
# it, as C nbdkit's: a harness that kills the process group it started
# (setsid, then kill -- -PGID) ends the server too.
for b in "$REF_NBDKIT" "$NBDKIT"; do
    name=$(basename "$b")
    rm -f "$T/grp.pid" "$T/grp.sock" "$T/grp.leader"
    setsid bash -c 'echo $$ > "$1"; exec "$2" -U "$3" -P "$4" memory 1M' _ \
        "$T/grp.leader" "$b" "$T/grp.sock" "$T/grp.pid" < /dev/null
    for i in $(seq 50); do [ -s "$T/grp.pid" ] && break; sleep 0.1; done
    [ -s "$T/grp.pid" ] || fail "$name: no pid file"
    d=$(tr -d '[:space:]' < "$T/grp.pid")
    track_pid "$d"
    leader=$(cat "$T/grp.leader")
    echo "$name sid $(($(ps -o sid= -p "$d") == leader)) pgid $(($(ps -o pgid= -p "$d") == leader))"
    kill -TERM -- "-$leader" 2>/dev/null
    for i in $(seq 50); do kill -0 "$d" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$d" 2>/dev/null && { kill "$d"; echo "$name survived its process group's SIGTERM"; }
done > groups
expect_eq "daemons in their starter's session and group (C nbdkit's, ours)" \
    "$(basename "$REF_NBDKIT") sid 1 pgid 1
$(basename "$NBDKIT") sid 1 pgid 1" "$(cat groups)"
