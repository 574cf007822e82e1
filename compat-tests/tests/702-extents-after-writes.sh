#!/usr/bin/env bash
# Extents that change with writes: the same scattered writes, zeroes and
# trims on ours and on C nbdkit, then nbdinfo --map, --map --totals and
# block status probes must agree.  memory (built-in and Debian's .so),
# file on a sparse file (built-in and Debian's .so), and a Python plugin
# caching whole-image extents (compat-tests/data/extents-plugin.py, through
# Debian's python plugin) whose map must change after a write.
# compat-timeout: 240
source "$COMPAT_LIB"
[ -x "$REF_NBDKIT" ] || skip "no $REF_NBDKIT"
command -v nbdinfo >/dev/null || skip "no nbdinfo"
P=/usr/lib/x86_64-linux-gnu/nbdkit/plugins
probe=$REPO/compat-tests/data/probe-block-status.py
pyplugin=$REPO/compat-tests/data/extents-plugin.py

cat > writes.py <<'PY'
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
size = h.get_size()
M = 1024 * 1024
for off in (0, 3 * M + 512, 5 * M - 4096, 9 * M + 12345, size - 71000):
    h.pwrite(b"\x5a" * 70000, off)
h.pwrite(b"\0" * 65536, 20 * M)               # zeroes written as data
if h.can_trim():
    h.trim(M, 3 * M)                           # trims part of a write
    h.trim(128 * 1024, 9 * M)
if h.can_zero():
    h.zero(4096, 5 * M)
    h.zero(2 * M, 30 * M, nbd.CMD_FLAG_NO_HOLE)
h.flush() if h.can_flush() else None
h.shutdown()
PY

map_of() { nbdinfo --map "$(uri "$1")" 2>&1; }

n=0
compare() {             # compare LABEL PREP nbdkit-args... (PREP: command run with NAME)
    local label=$1 prep=$2; shift 2
    n=$((n + 1))
    local a b s
    for s in ref$n ours$n; do
        $prep "$s"
        local args=("$@")
        args=("${args[@]//@FILE@/$T/$s.img}")
        case $s in ref*) start_server "$s" "$REF_NBDKIT" "${args[@]}" ;;
                   *)    start_server "$s" "$NBDKIT" "${args[@]}" ;; esac
        must python3 writes.py "$(uri "$s")" >/dev/null
    done
    for opts in "--map" "--map --totals"; do
        a=$(nbdinfo $opts "$(uri ref$n)" 2>&1) || fail "$label: nbdinfo on C nbdkit: $a"
        b=$(nbdinfo $opts "$(uri ours$n)" 2>&1) || fail "$label: nbdinfo on ours: $b"
        if [ "$a" != "$b" ]; then
            echo "FAIL: $label: nbdinfo $opts differs (- C nbdkit, + ours)"
            diff <(echo "$a") <(echo "$b") | head -30
            exit 1
        fi
    done
    a=$(map_of ours$n)
    [ "$(wc -l <<<"$a")" -ge 4 ] || fail "$label: expected a map with holes and data, got: $a"
    a=$(python3 "$probe" "$(uri ref$n)" $ALIGN 2>&1)
    b=$(python3 "$probe" "$(uri ours$n)" $ALIGN 2>&1)
    if [ "$a" != "$b" ]; then
        echo "FAIL: $label: block status probes differ (- C nbdkit, + ours)"
        diff <(echo "$a") <(echo "$b") | head -30
        exit 1
    fi
    ok "$label: maps after writes equal ($(map_of ours$n | wc -l) lines)"
    stop_server "ref$n"; stop_server "ours$n"
}

noprep() { :; }
sparse_file() {
    rm -f "$T/$1.img"
    truncate -s 64M "$T/$1.img"
    printf 'data' | dd of="$T/$1.img" bs=1 seek=$((40 * 1048576)) conv=notrunc status=none
    dd if=/dev/urandom of="$T/$1.img" bs=64k count=3 seek=700 conv=notrunc status=none
}

# nbdkit's sparse allocator decides "zero or data" from the bytes of the
# request inside a page, ours from the whole 32 KiB page: probe memory with
# page-aligned requests only.
ALIGN=32768
compare "memory" noprep memory 64M
compare "memory (Debian .so)" noprep $P/nbdkit-memory-plugin.so 64M
ALIGN=
sparse_file probe
if [ "$(python3 -c 'import os,sys; f=os.open(sys.argv[1],os.O_RDONLY); print(os.lseek(f,0,os.SEEK_DATA))' probe.img 2>/dev/null)" = "$((40 * 1048576))" ]; then
    compare "file (sparse)" sparse_file file @FILE@
    compare "file (sparse, Debian .so)" sparse_file $P/nbdkit-file-plugin.so @FILE@
else
    echo "note: this filesystem does not report holes; file comparison skipped"
fi

if [ -e $P/nbdkit-python-plugin.so ]; then
    compare "python extents plugin" noprep python "$pyplugin" size=40M
    # The cache is invalidated by writes: the map changes.
    start_server py "$NBDKIT" python "$pyplugin" size=8M builds="$T/builds"
    before=$(map_of py)
    must nbdsh -u "$(uri py)" -c 'h.pwrite(b"x" * 512, 6 * 65536)' -c 'h.zero(65536, 0)'
    after=$(map_of py)
    expect_eq "python: blocks 0 and 6 after zero/write" \
        "0 196608 3 hole,zero|393216 65536 0 data" \
        "$(awk '$1 == 0 || $1 == 393216 {print $1, $2, $3, $4}' <<<"$after" | paste -sd'|')"
    [ "$before" != "$after" ] || fail "python: map unchanged after writes"
    expect_eq "python: cache rebuilt after the writes" 2 "$(grep -c build "$T/builds")"
    stop_server py
else
    echo "note: no Debian python plugin; python comparison skipped"
fi
