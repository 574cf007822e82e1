#!/usr/bin/env bash
# Debian's real nbdkit 1.32.5 plugins, differential against C nbdkit:
# the same arguments give the same `nbdinfo --json` (minus the uri), the
# same data (checksum of `nbdcopy URI -`), the same answers to writes,
# and the same --dump-plugin (minus path=).
set -u
: "${NBDKIT:?}"
REF=${REF_NBDKIT:-/usr/bin/nbdkit}
PLUG=/usr/lib/x86_64-linux-gnu/nbdkit/plugins
[ -x "$REF" ] || { echo "SKIP: no $REF"; exit 77; }
[ -e "$PLUG/nbdkit-data-plugin.so" ] || { echo "SKIP: Debian's plugins not installed"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fails=0

# What a client sees of the export: json, checksum of all data, and what
# a 4K write at 0 then a 1K read at 0 answers.
probe='nbdinfo --json "$uri" | grep -v "\"uri\":"
nbdcopy "$uri" - | md5sum
nbdsh -u "$uri" -c "
try:
    h.pwrite(b\"w\" * 4096, 0); print(\"write ok\")
except nbd.Error as e:
    print(\"write errno\", e.errno)
try:
    print(\"read\", h.pread(1024, 0)[:16])
except nbd.Error as e:
    print(\"read errno\", e.errno)
"'

# The prefix of a plugin's error message names the connection, or in C
# nbdkit for a parallel plugin the worker thread that happened to take the
# request ("random.1"), which we do not mimic: compare it as NAME[*].
norm() { sed -E 's/^nbdkit: ([a-z-]+)(\.[0-9]+|\[[0-9]+\]): /nbdkit: \1[*]: /'; }

# run SERVER [args...]: the probe through SERVER, the files it may write
# (f1, f2) fresh.
run() {
    local bin=$1
    shift
    cp f1.orig f1 && cp f2.orig f2
    "$bin" -U - "$@" --run "$probe" 2>&1 | norm
}

# differ LABEL [args...]: the probe through both servers.
differ() {
    local label=$1 want got
    shift
    want=$(run "$REF" "$@")
    got=$(run "$NBDKIT" "$@")
    if ! grep -q "\"protocol\"" <<<"$want" || [ "$want" != "$got" ]; then
        echo "FAIL: $label: $*"
        diff <(echo "$want") <(echo "$got") | head -n 30
        fails=$((fails + 1))
    else
        echo "ok: $label"
    fi
}

head -c 100000 /dev/urandom > f1.orig
head -c 70000 /dev/urandom > f2.orig
mkdir -p dir/sub od-ref od-ours
echo hello > dir/a.txt; seq 1 5000 > dir/sub/b.txt

differ zero zero
differ full full 1M
differ data-expr data "1 2 3 @0x1000 4" size=8K
differ data-strings data '"hello" * 3 @^512 (0x55 0xAA)*10 le32:0x12345678'
differ data-raw data raw=abcdef
differ data-key data data="0xff @4095 0xee"
differ random random 1M seed=42
differ sparse-random sparse-random size=4M seed=7
differ memory.so "$PLUG/nbdkit-memory-plugin.so" 1M
differ file.so "$PLUG/nbdkit-file-plugin.so" "$tmp/f1"
differ file.so-ro -r "$PLUG/nbdkit-file-plugin.so" file=f2
differ null.so "$PLUG/nbdkit-null-plugin.so" 1M
differ pattern.so "$PLUG/nbdkit-pattern-plugin.so" 3M
differ split split f1 f2
differ partitioning-mbr partitioning f1 f2 partition-type=mbr
differ partitioning-gpt -r partitioning f1 f2
differ floppy floppy dir
differ eval eval get_size='echo 64K' pread='yes ab | head -c $3' \
    can_write='exit 0' pwrite='cat >/dev/null'
differ eval-ro eval get_size='echo 8K' pread='head -c $3 /dev/zero'

# ondemand formats a new filesystem on first open: one dir per server.
want=$("$REF" -U - ondemand dir="$tmp/od-ref" 1M --run "$probe" 2>&1)
got=$("$NBDKIT" -U - ondemand dir="$tmp/od-ours" 1M --run "$probe" 2>&1)
# mke2fs stamps a fresh UUID into the superblock: compare everything else.
strip() { sed -E 's/UUID=[0-9a-f-]+//; s/^[0-9a-f]{32}  -$/<md5>/'; }
if [ "$(strip <<<"$want")" != "$(strip <<<"$got")" ] ||
   [ "$(ls od-ref)" != "$(ls od-ours)" ]; then
    echo "FAIL: ondemand"; diff <(echo "$want"; ls od-ref) <(echo "$got"; ls od-ours)
    fails=$((fails + 1))
else
    echo "ok: ondemand"
fi

# --dump-plugin, minus the path=.  memory and file by short name are our
# built-ins, so they are compared by full path.
for p in zero full data random sparse-random partitioning floppy linuxdisk \
         eval sh python ondemand split tmpdisk info cc iso \
         "$PLUG/nbdkit-memory-plugin.so" "$PLUG/nbdkit-file-plugin.so" \
         "$PLUG/nbdkit-null-plugin.so" "$PLUG/nbdkit-pattern-plugin.so"; do
    want=$("$REF" "$p" --dump-plugin 2>&1 | grep -v '^path=')
    got=$("$NBDKIT" "$p" --dump-plugin 2>&1 | grep -v '^path=')
    if [ "$want" != "$got" ]; then
        echo "FAIL: --dump-plugin $p"; diff <(echo "$want") <(echo "$got")
        fails=$((fails + 1))
    fi
done
echo "ok: --dump-plugin of Debian's plugins"

[ "$fails" -eq 0 ]
