#!/usr/bin/env bash
# nbdkit_nanosleep gives up when there is no point in sleeping on
# (nbdkit-plugin(3)): a plugin sleeping in pread for a client that has been
# killed gets -1 with errno ESHUTDOWN within moments, not after its 60 s,
# and the server goes on serving the next client.  Likewise when the server
# is asked to shut down.  A client that stays gets its whole sleep.  C
# nbdkit 1.32.5 behaves the same way (NBDKIT=/usr/bin/nbdkit).
source "$COMPAT_LIB"
so=$C_PLUGINS/sleepy.so
[ -e "$so" ] || skip "C plugins not built"

# wait_log FILE PATTERN TENTHS: wait until a line of FILE matches.
wait_log() {
    local i
    for i in $(seq "$3"); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# A read at offset 0 sleeps; the client is killed once it does.
start_server gone "$NBDKIT" "$so" sleep=60 log="$T/gone.sleep"
nbdsh -u "$(uri gone)" -c 'h.pread(512, 0)' >/dev/null 2>&1 &
client=$!
track_pid "$client"
wait_log gone.sleep '^start' 100 || fail "the plugin never started sleeping"
kill -KILL "$client"
wait "$client" 2>/dev/null
wait_log gone.sleep '^result' 30 ||
    fail "nbdkit_nanosleep(60, 0) still sleeping 3 s after its client was killed"
read -r _ r err ms < <(grep '^result' gone.sleep)
expect_eq "nbdkit_nanosleep's answer after the client left" "-1 ESHUTDOWN" "$r $err"
[ "$ms" -lt 10000 ] || fail "the sleep lasted ${ms} ms"
ok "it slept ${ms} ms"
expect_match "the server's message" \
    'error: aborting sleep because of connection close or error' "$(cat gone.log)"
expect_eq "a second client's read" 512 \
    "$(nbdsh -u "$(uri gone)" -c 'print(len(h.pread(512, 4096)))' 2>&1)"
server_alive gone || fail "the server died"
stop_server gone

# A client that stays is not cut short.
start_server stay "$NBDKIT" "$so" sleep=1 log="$T/stay.sleep"
expect_eq "a 1 s sleeping read" 512 \
    "$(nbdsh -u "$(uri stay)" -c 'print(len(h.pread(512, 0)))' 2>&1)"
read -r _ r err ms < <(grep '^result' stay.sleep)
expect_eq "nbdkit_nanosleep's answer" "0 -" "$r $err"
[ "$ms" -ge 1000 ] || fail "slept only ${ms} ms of 1000"
stop_server stay

# SIGTERM while a request sleeps: the sleep ends at once and the server
# exits (the client, still connected, gets an error).
start_server term "$NBDKIT" "$so" sleep=60 log="$T/term.sleep"
nbdsh -u "$(uri term)" -c 'h.pread(512, 0)' >/dev/null 2>&1 &
client=$!
track_pid "$client"
wait_log term.sleep '^start' 100 || fail "the plugin never started sleeping"
stop_server term
wait_log term.sleep '^result' 30 || fail "no result from nbdkit_nanosleep after SIGTERM"
read -r _ r err ms < <(grep '^result' term.sleep)
expect_eq "nbdkit_nanosleep's answer on shutdown" "-1 ESHUTDOWN" "$r $err"
expect_match "the server's message" 'error: aborting sleep because of server shut down' "$(cat term.log)"
wait "$client" 2>/dev/null
exit 0
