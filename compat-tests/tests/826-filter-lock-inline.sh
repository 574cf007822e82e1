#!/usr/bin/env bash
# A stack whose calls queue on a lock of their own (as cow's and cache's
# do) looks slow when measured on the worker pool, where requests run
# side by side, but is quick alone.  With one client keeping 16 reads in
# flight, the server must find that out (an inline trial: the pool
# drains, the loop runs calls alone) and answer those reads on its event
# loop.  Our filter-crowded.so models such a filter: a read that starts
# while another is running waits 300 us, one alone passes straight on.
#
# What is checked is where the server's CPU time went during the reads
# (per-thread utime+stime from /proc), not how fast they were: requests
# handed to the pool put most of it in the nbdkit-worker-* threads.
# Before inline trials this failed: the stack never left the pool.  A
# property of our design (C nbdkit has no event loop answering requests),
# so only ours runs it; C nbdkit serves the same reads beside it.
source "$COMPAT_LIB"
FILTER=$C_PLUGINS/filter-crowded.so
[ -f "$FILTER" ] || fail "$FILTER missing: make c-plugins"
gcc -O2 -Wall -o nbdbench "$REPO/bench/nbdbench.c" -lgnutls || fail "cannot build bench/nbdbench.c"

# ticks PID NAME-REGEX: utime+stime of the threads whose name matches.
ticks() {
    local f sum=0 name rest
    for f in /proc/"$1"/task/*/stat; do
        rest=$(cat "$f" 2>/dev/null) || continue
        name=${rest#*(}; name=${name%%)*}
        [[ $name =~ $2 ]] || continue
        set -- "$1" "$2" ${rest##*)}
        sum=$(( sum + ${14} + ${15} ))
    done
    echo "$sum"
}

start_server ref "$REF_NBDKIT" --filter="$FILTER" memory 64M
./nbdbench -U "$T/ref.sock" -m read -q 16 -t 1 >ref.out || fail "C nbdkit: reads through the filter"
stop_server ref

is_reference && skip "the event loop answering requests is ours"
start_server ours "$NBDKIT" --filter="$FILTER" memory 64M
pid=${SERVER_PID[ours]}
./nbdbench -U "$T/ours.sock" -m fill -q 8 -b 262144 >/dev/null || fail "fill"
w0=$(ticks "$pid" '^nbdkit-worker'); a0=$(ticks "$pid" '.')
./nbdbench -U "$T/ours.sock" -m read -q 16 -t 2 -S >out || fail "reads"
w1=$(ticks "$pid" '^nbdkit-worker'); a1=$(ticks "$pid" '.')
work=$(( w1 - w0 )); all=$(( a1 - a0 ))
echo "$(cat out); server CPU ticks $all, of which worker threads $work"
[ "$all" -ge 20 ] || fail "the server hardly ran ($all ticks)"
[ $(( work * 5 )) -lt "$all" ] ||
    fail "worker threads took $work of $all ticks: reads were not answered on the event loop"
ok "reads answered on the event loop ($work of $all ticks in worker threads)"
server_alive ours || fail "server died"
stop_server ours
expect_eq "exit status" 0 "$STOP_STATUS"
