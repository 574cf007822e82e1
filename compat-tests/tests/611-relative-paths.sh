#!/usr/bin/env bash
# Relative -P and -U paths name files in the directory nbdkit was started
# from, though the daemon changes to / when it forks: nbdkit makes them
# absolute before forking.  Same files, same served disk, same error text
# (which names the absolute path) for both servers.
source "$COMPAT_LIB"

run_in() {              # run_in NAME BINARY: background daemon in ./NAME/
    local name=$1 bin=$2 rc daemon
    mkdir "$name"
    ( cd "$name" && timeout 20 "$bin" -P rel.pid -U rel.sock memory 1M ) </dev/null >/dev/null 2>"$name.log"
    rc=$?
    expect_eq "$name: exit status of the launching nbdkit" 0 "$rc"
    # C nbdkit's daemon writes the pid file after the launcher has exited.
    for _ in $(seq 50); do [ -s "$name/rel.pid" ] && break; sleep 0.1; done
    [ -s "$name/rel.pid" ] || fail "$name: rel.pid not written in the start directory"
    daemon=$(tr -d '[:space:]' < "$name/rel.pid")
    track_pid "$daemon"
    [ -S "$name/rel.sock" ] || fail "$name: rel.sock not created in the start directory"
    expect_eq "$name: cwd of the daemon" / "$(readlink "/proc/$daemon/cwd")"
    expect_eq "$name: size served on the relative socket" 1048576 \
        "$(nbdinfo --size "nbd+unix:///?socket=$T/$name/rel.sock")"
    kill -TERM "$daemon"
    for _ in $(seq 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$daemon" 2>/dev/null && fail "$name: daemon still running after SIGTERM"
    ok "$name: daemon exited on SIGTERM"
}
run_in ref "$REF_NBDKIT"
run_in ours "$NBDKIT"

# A relative socket that is already there: the message names it absolute.
mkdir busy && : > busy/taken.sock
want=$(cd busy && "$REF_NBDKIT" -f -U taken.sock memory 1M 2>&1; echo "exit $?")
got=$(cd busy && "$NBDKIT" -f -U taken.sock memory 1M 2>&1; echo "exit $?")
expect_eq "error for a relative socket path in use" "$want" "$got"
