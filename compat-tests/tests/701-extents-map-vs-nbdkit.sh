#!/usr/bin/env bash
# nbdinfo --map and --map --totals of ours equal C nbdkit's for plugins
# reporting extents: Debian's sparse-random, data with holes, zero, null,
# our built-ins and Debian's .so of the same name, and the extents-shapes
# C test plugin in every legal shape.  Block status at odd offsets with and
# without REQ_ONE (nbdsh) must also agree.
# compat-timeout: 240
source "$COMPAT_LIB"
: "${C_PLUGINS:?}"
[ -x "$REF_NBDKIT" ] || skip "no $REF_NBDKIT"
command -v nbdinfo >/dev/null || skip "no nbdinfo"
[ -e "$C_PLUGINS/extents-shapes.so" ] || skip "C plugins not built"
P=/usr/lib/x86_64-linux-gnu/nbdkit/plugins

probe=$REPO/compat-tests/data/probe-block-status.py

n=0
compare() {             # compare LABEL nbdkit-args...
    local label=$1; shift
    n=$((n + 1))
    start_server "ref$n" "$REF_NBDKIT" "$@"
    start_server "ours$n" "$NBDKIT" "$@"
    local a b
    for opts in "--map" "--map --totals"; do
        a=$(nbdinfo $opts "$(uri ref$n)" 2>&1) || fail "$label: nbdinfo $opts on C nbdkit: $a"
        b=$(nbdinfo $opts "$(uri ours$n)" 2>&1) || fail "$label: nbdinfo $opts on ours: $b"
        if [ "$a" != "$b" ]; then
            echo "FAIL: $label: nbdinfo $opts differs (- C nbdkit, + ours)"
            diff <(echo "$a") <(echo "$b") | head -30
            exit 1
        fi
    done
    a=$(python3 "$probe" "$(uri ref$n)" 2>&1)
    b=$(python3 "$probe" "$(uri ours$n)" 2>&1)
    if [ "$a" != "$b" ]; then
        echo "FAIL: $label: block status probes differ (- C nbdkit, + ours)"
        diff <(echo "$a") <(echo "$b") | head -30
        exit 1
    fi
    ok "$label: map, totals and $(wc -l <<<"$a") probes equal ($(nbdinfo --map "$(uri ours$n)" | wc -l) map lines)"
    stop_server "ref$n"; stop_server "ours$n"
}

compare "sparse-random seed=42" sparse-random 256M seed=42
compare "sparse-random seed=7 percent=50" sparse-random 64M seed=7 percent=50 runlength=65536
compare "data with holes" data '1 2 3 @1048576 4 5 6 @^65536 7 @8388607 0xff' size=16M
compare "data all zero" data '@1048576 0' size=4M
compare "zero" zero
compare "null" null 1G
compare "null (Debian .so)" $P/nbdkit-null-plugin.so 1G
compare "memory empty" memory 64M
compare "memory empty (Debian .so)" $P/nbdkit-memory-plugin.so 64M
compare "pattern" pattern 16M
compare "pattern (Debian .so)" $P/nbdkit-pattern-plugin.so 16M
for s in block whole exact reqone tiny zerolen allsame; do
    compare "extents-shapes shape=$s" "$C_PLUGINS/extents-shapes.so" shape=$s size=1M
done
compare "extents-shapes shape=block odd size" "$C_PLUGINS/extents-shapes.so" shape=block size=1000001
compare "extents-shapes shape=whole 5G" "$C_PLUGINS/extents-shapes.so" shape=whole size=5G

# Requests of 2^32-1 bytes over extents longer than 4 GiB: C nbdkit 1.32.5
# aborts here (CVE-2025-47711); ours must answer with lengths that fit.
start_server big "$NBDKIT" null 10G
out=$(nbdsh --base-allocation -u "$(uri big)" -c '
def cb(meta, off, entries, err):
    print(off, list(entries))
    return 0
h.block_status(2**32 - 1, 0, cb)
h.block_status(2**32 - 1, 2**32, cb, nbd.CMD_FLAG_REQ_ONE)
h.block_status(2**32 - 1, 10 * 2**30 - (2**32 - 1), cb)
' 2>&1)
expect_eq "null 10G: 4 GiB block status" "0 [4294967295, 3]
4294967296 [4294967295, 3]
6442450945 [4294967295, 3]" "$out"
server_alive big || fail "server died on a 4 GiB block status"
