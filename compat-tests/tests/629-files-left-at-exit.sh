# At exit nbdkit leaves its -P pid file and its -U socket in place (scripts,
# and nbdkit's own tests, read the pid file after the server has gone),
# while the private directory of `-U -` is removed.  Our server and C
# nbdkit alike, in the background and in the foreground.
source "$COMPAT_LIB"

for who in ref ours; do
    bin=$NBDKIT; [ $who = ref ] && bin=$REF_NBDKIT
    "$bin" -P $who-bg.pid -U $who-bg.sock memory 1M 2>$who-bg.log || fail "$who: did not start"
    for _ in $(seq 50); do [ -s $who-bg.pid ] && break; sleep 0.1; done
    pid=$(cat $who-bg.pid) || fail "$who: no pid file"
    track_pid "$pid"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail "$who: still running after SIGTERM"
    expect_eq "$who: background: pid file after exit" "$pid" "$(cat $who-bg.pid 2>&1)"
    [ -S $who-bg.sock ] || fail "$who: background: socket gone after exit"
    ok "$who: background: socket still there"

    "$bin" -f -P $who-fg.pid -U $who-fg.sock memory 1M 2>$who-fg.log &
    pid=$!
    track_pid $pid
    wait_for_socket "$T/$who-fg.sock" $pid || fail "$who: foreground: no socket"
    for _ in $(seq 50); do [ -s $who-fg.pid ] && break; sleep 0.1; done
    kill -INT $pid; wait $pid
    expect_eq "$who: foreground: pid file after SIGINT" "$pid" "$(cat $who-fg.pid 2>&1)"
    [ -S $who-fg.sock ] || fail "$who: foreground: socket gone after exit"
    ok "$who: foreground: socket still there"

    dir=$("$bin" -U - memory 1M --run 'dirname "$unixsocket"') || fail "$who: -U - --run failed"
    [ -n "$dir" ] && [ ! -e "$dir" ] || fail "$who: -U - left its directory $dir"
    ok "$who: -U - directory removed"
done
