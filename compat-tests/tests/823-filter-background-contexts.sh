#!/usr/bin/env bash
# A C filter that opens and closes contexts of the layer below by hand
# (c-plugins/filter-background.c): one per request, one held by a
# background thread for the life of each connection, and a new next
# swapped in on every flush (as retry does).  Clients see C nbdkit's
# answers, several clients at once are served, and the server exits
# cleanly (every context closed) when asked.
source "$COMPAT_LIB"
: "${C_PLUGINS:?}"
need_filters
F=$C_PLUGINS/filter-background.so
[ -e "$F" ] || skip "C test filters not built"

ops="w:0:4k:7 r:0:4k f r:0:4k f w:4k:4k:1 r:0:8k z:8k:4k f r:0:16k"
n=0
for mode in request thread swap; do
    n=$((n + 1))
    start_pair $n --filter="$F" memory 1M mode=$mode
    same_seen "mode=$mode: requests" $n "\$PROBE \"\$uri\" $ops"
    # Four clients at once, each writing its own area and reading it back.
    same_seen "mode=$mode: four clients at once" $n '
for i in 1 2 3 4; do
    $PROBE "$uri" w:${i}00k:64k:$i f r:${i}00k:64k r:0:4k > c$i.out 2>&1 &
done
wait; cat c1.out c2.out c3.out c4.out; rm -f c?.out'
    same_seen "mode=$mode: data" $n 'nbdcopy "$uri" - | md5sum'
    for side in ref ours; do
        stop_server $side-$n
        [ "$STOP_STATUS" = 0 ] || fail "mode=$mode: $side exited with status $STOP_STATUS"
    done
    ok "mode=$mode: both servers exit cleanly"
done
