#!/usr/bin/env bash
# Filters that change extents: noextents (no base:allocation), extentlist
# (a static list, unordered, with gaps), cacheextents (answers repeated
# queries from its cache) and extents through offset and cow: nbdinfo
# --map, block status at awkward offsets with and without REQ_ONE, and the
# extents calls reaching the plugin are C nbdkit's.
source "$COMPAT_LIB"
need_filters noextents extentlist cacheextents offset cow log

probe="python3 $REPO/compat-tests/data/probe-block-status.py"
n=0
check() {               # check LABEL ARGS...
    local label=$1
    shift
    n=$((n + 1))
    start_pair $n "$@"
    same_seen "$label: map" $n 'nbdinfo --map "$uri"; nbdinfo --map --totals "$uri"'
    MAP=$SEEN
    same_seen "$label: block status probes" $n "$probe \"\$uri\""
    stop_pair $n
}
sr=(sparse-random 16M seed=3 runlength=70000)
check "noextents" -r --filter=noextents "${sr[@]}"
expect_match "noextents: all data" "^ +0 +16777216 +0 +data" "$MAP"
cat > list <<'LIST'
8M 1M hole,zero
0 64k
100k 4k zero
1M 3M 3
12M 512 hole
LIST
check "extentlist" -r --filter=extentlist "${sr[@]}" extentlist="$T/list"
expect_match "extentlist: a listed hole" "^ +12582912 +512 +1 +hole" "$MAP"
check "cacheextents" -r --filter=cacheextents "${sr[@]}"
check "offset over sparse-random" -r --filter=offset "${sr[@]}" offset=12345 range=5000000
check "cow over sparse-random" --filter=cow "${sr[@]}"
check "cow over a partly written cow" --filter=cow --filter=offset "${sr[@]}" offset=4096

# cacheextents: the second identical query is answered from the cache.
n=$((n + 1))
start_pair $n -r --filter=cacheextents --filter=log "${sr[@]}" logfile="$T/flog-@SIDE@"
same_seen "cacheextents: repeated queries" $n "\$PROBE \"\$uri\" b:0:1M b:0:1M b:4k:1M b:0:1M:reqone b:0:1M"
stop_pair $n
_same "cacheextents: extents calls reaching the plugin" "$(norm_log flog-ref)" "$(norm_log flog-ours)"
expect_eq "cacheextents: plugin extents calls for 5 queries" 1 "$(grep -c '\.\.\.Extents' flog-ours)"
