#!/usr/bin/env bash
# The built-in memory, file, null and pattern plugins stand for Debian's
# .so of the same name: --dump-plugin, PLUGIN --help (after the usage,
# where our own options are listed), every documented parameter, bad
# values and their messages, what clients see (nbdinfo --json and --map,
# writes, zeroes, trims read back, data checksums), all as C nbdkit 1.32.5
# with the .so.  What the built-in does not serve (allocator=zstd; file's
# fd= and dirfd=, which nbdkit 1.44's file plugin serves and 1.32.5's
# refuses) is served by the installed .so.
# compat-timeout: 300
source "$COMPAT_LIB"
[ -x "$REF_NBDKIT" ] || skip "no $REF_NBDKIT"
command -v nbdinfo >/dev/null || skip "no nbdinfo"
for p in memory file null pattern; do
    ref_plugin_exists $p || skip "Debian's $p plugin not installed"
done


for p in memory file null pattern; do
    _same "$p --dump-plugin" "$("$REF_NBDKIT" $p --dump-plugin 2>&1; echo "exit $?")" \
        "$("$NBDKIT" $p --dump-plugin 2>&1; echo "exit $?")"
    _same "$p --help (after the usage)" \
        "$("$REF_NBDKIT" $p --help 2>&1 | sed -n '/^plugin: /,$p')" \
        "$("$NBDKIT" $p --help 2>&1 | sed -n '/^plugin: /,$p')"
done

# Both sides serve and are probed with the same arguments (fresh server
# each), or refuse them with the same message and status.
same() {
    local label="$*"
    same_run "$label" "$SEE" "$@"
}
# allocator=zstd is served by Debian's .so, whose extents read an
# uninitialised pointer for ranges never written: C nbdkit 1.32.5 happens
# to survive it, 1.44.1 with the same .so crashes as ours may.  Its data
# is compared without block status.
SEE_DATA=$(sed -e '/nbdinfo --map/d' -e 's/nbdcopy "$uri"/nbdcopy --no-extents "$uri"/' <<<"$SEE")
same_data() { same_run "$* (data)" "$SEE_DATA" "$@"; }

same memory 1M
same memory size=1M
same memory 1M allocator=sparse
same memory 1M allocator=malloc
same memory 1M allocator=malloc,mlock=true
same memory 1M allocator=malloc,,mlock
same memory 1M allocator=malloc,mlock=off
same_data memory 1M allocator=zstd
same memory 1M allocator=m
same memory 1M allocator=
same memory 1M allocator=foo allocator=malloc
same_data memory 1M allocator=malloc allocator=zstd
same memory 1M allocator=zstd,x=1
same memory 1M allocator=foo
same memory 1M allocator=sparse,x
same memory 1M allocator=malloc,mlock=foo
same memory 1M allocator=malloc,foo=1
same memory
same memory 1M foo=bar
# (Sizes that do not parse are refused in nbdkit 1.44.1's words: 644.)
same null
same null 1M
same null size=1M
same null 1M foo=1
same pattern 1M
same pattern size=3M
same pattern
same pattern 1M foo=1

# file: a sparse file, a directory of them, every mode and a bad value.
mkdir d
truncate -s 1M d/disk1
printf 'hello' | dd of=d/disk1 bs=1 seek=300000 conv=notrunc status=none
truncate -s 3M d/disk2
mkfifo d/fifo
fresh() { rm -f f; truncate -s 2M f; printf 'data' | dd of=f bs=1 seek=1000000 conv=notrunc status=none; }
# Each side gets a fresh copy of the file.
same_file() {
    local a b
    fresh
    a=$("$REF_NBDKIT" -U - file "$@" --run "$SEE" 2>&1 | norm_msgs)
    fresh
    b=$("$NBDKIT" -U - file "$@" --run "$SEE" 2>&1 | norm_msgs)
    _same "file $*" "$a" "$b"
}
for args in "f" "file=f" "f cache=none" "f cache=default" "f fadvise=random" \
            "f fadvise=sequential" "f fadvise=normal" "f cache=bad" "f fadvise=bad" \
            "" "f dir=d" "nosuchfile" "d" "d/fifo" "f foo=1" "fd=0" "dirfd=0"; do
    # shellcheck disable=SC2086
    same_file $args
done
for e in disk1 disk2 "" fifo nosuch ../f; do
    fresh
    same_run "file dir=d, export '$e'" \
        "nbdinfo --list --json \"\$uri\" | grep -v '\"uri\":'; nbdinfo --json 'nbd+unix:///$e?socket='\"\${unixsocket}\" | grep -v '\"uri\":'" \
        file dir=d
done

# A block device (a loop device over a file, when this machine lets us
# make one): sector-aligned and unaligned zeroes with and without
# trimming, trims, each method's fallback, as C nbdkit.
cat > blk.py <<'EOF'
def t(what, f, *a):
    try:
        f(*a)
        print(what, "ok")
    except nbd.Error as e:
        print(what, "error", e.string, e.errno)
h.pwrite(b"x" * (1 << 20), 0)
t("zero aligned may trim", h.zero, 4096, 0)
t("zero aligned no hole", h.zero, 4096, 4096, nbd.CMD_FLAG_NO_HOLE)
t("zero unaligned may trim", h.zero, 1000, 20000)
t("zero unaligned no hole", h.zero, 1000, 30000, nbd.CMD_FLAG_NO_HOLE)
t("trim unaligned", h.trim, 1000, 200000)
t("trim aligned", h.trim, 65536, 65536)
t("zero aligned may trim, after", h.zero, 4096, 303104)
t("zero unaligned no hole, after", h.zero, 1000, 400000, nbd.CMD_FLAG_NO_HOLE)
t("zero aligned no hole, after", h.zero, 8192, 409600, nbd.CMD_FLAG_NO_HOLE)
t("zero with FUA", h.zero, 4096, 512000, nbd.CMD_FLAG_FUA)
import hashlib
print(hashlib.md5(h.pread(1 << 20, 0)).hexdigest())
EOF
BLK='nbdsh -u "$uri" -c "exec(open(\"blk.py\").read())"; nbdinfo --json "$uri" | grep -v "\"uri\":"'
truncate -s 10M blk.img
if loop=$(losetup -f --show "$T/blk.img" 2>/dev/null); then
    a=$("$REF_NBDKIT" -U - file "$loop" --run "$BLK" 2>&1 | norm_msgs)
    b=$("$NBDKIT" -U - file "$loop" --run "$BLK" 2>&1 | norm_msgs)
    losetup -d "$loop"
    _same "file on a block device" "$a" "$b"
    grep -q "unaligned may trim error" <<<"$a" || fail "C nbdkit did not refuse the unaligned zero: $a"
else
    echo "(no loop device: the block device case is not run)"
fi
