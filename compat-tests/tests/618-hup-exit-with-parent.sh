#!/usr/bin/env bash
# SIGHUP ends the server as SIGTERM does (the plugin's unload runs), and
# --exit-with-parent keeps nbdkit in the foreground (no fork, no pid
# file race) and ends it when its parent dies.
source "$COMPAT_LIB"
MEM=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so
for name in ref ours; do
    b=$REF_NBDKIT; [ $name = ours ] && b=$NBDKIT
    "$b" -f -v -U "$T/$name.sock" "$MEM" 1M 2>"$name.log" &
    pid=$!; track_pid $pid
    wait_for_socket "$T/$name.sock" $pid || fail "$name: no socket"
    kill -HUP $pid
    wait $pid; rc=$?
    expect_eq "$name: exit status after SIGHUP" 0 $rc
    grep -q 'unload' "$name.log" || fail "$name: plugin not unloaded after SIGHUP"

    # The parent is a shell that starts nbdkit and then sleeps; killing it
    # must end nbdkit, which ran in the foreground as the shell's child.
    sh -c '"$1" --exit-with-parent -U "$2" memory 1M & echo $! > "$3"; sleep 60' sh \
        "$b" "$T/$name-ewp.sock" "$name-ewp.pid" &
    parent=$!; track_pid $parent
    for _ in $(seq 100); do [ -S "$T/$name-ewp.sock" ] && break; sleep 0.1; done
    [ -S "$T/$name-ewp.sock" ] || fail "$name: --exit-with-parent server did not listen"
    child=$(cat "$name-ewp.pid"); track_pid "$child"
    expect_eq "$name: --exit-with-parent stays the shell's child" "$parent" \
        "$(awk '{print $4}' "/proc/$child/stat")"
    kill -KILL $parent
    for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$child" 2>/dev/null && fail "$name: still running after its parent died"
    ok "$name: exited with its parent"
done
