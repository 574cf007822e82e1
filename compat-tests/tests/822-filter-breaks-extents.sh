#!/usr/bin/env bash
# A C filter that breaks the extents contract (c-plugins/
# filter-badextents.c) is held to it exactly as a plugin is: extents out
# of order, not starting at the offset, past the end, or a failure
# ignored get C nbdkit's answers and messages.  Where C nbdkit 1.32.5
# aborts (a filter returning no extents, or -1 without an errno: assertion
# failures in its protocol.c and backend.c) ours must answer the request
# with an error and keep serving this and other clients.
source "$COMPAT_LIB"
: "${C_PLUGINS:?}"
need_filters
F=$C_PLUGINS/filter-badextents.so
[ -e "$F" ] || skip "C test filters not built"

plugin=(data '1 @65536 2 @^4096 3' size=1M)
probe='$PROBE "$uri" b:0:1M b:100:4k b:0:1M:reqone b:4096:1000 r:0:4; echo "status $?"
nbdinfo --map "$uri"; echo "map status $?"'
for mode in backwards ignore gap pastend full; do
    same_run "mode=$mode" "$probe" --filter="$F" "${plugin[@]}" mode=$mode
done
expect_match "mode=full: nbdkit_extents_full of the layer below" "^ +0 +32768 +0 +data" "$SEEN"

# No extents, or an error without an errno.
if is_reference; then
    echo "SKIP part: C nbdkit 1.32.5 aborts on mode=none, zerolen and error"
    exit 0
fi
for mode in none zerolen error; do
    start_server $mode "$NBDKIT" --filter="$F" "${plugin[@]}" mode=$mode
    out=$($PROBE "$(uri $mode)" b:0:4k r:0:4 b:0:1M:reqone f 2>&1)
    expect_match "mode=$mode: block status fails" "^b:0:4k errno E(INVAL|IO)" "$out"
    expect_match "mode=$mode: the connection goes on" "^r:0:4 ok " "$out"
    out=$(nbdinfo --size "$(uri $mode)" 2>&1)
    expect_eq "mode=$mode: another client is served" 1048576 "$out"
    stop_server $mode
done
