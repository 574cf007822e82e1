#!/usr/bin/env bash
# Block-size constraints of a C plugin (min 512 / preferred 4096 / max 1M):
# nbdinfo shows them as with C nbdkit; requests that break them (misaligned
# offset or length, over the maximum) reach the plugin as under C nbdkit
# (which enforces constraints only with its blocksize-policy filter), or
# with --enforce-block-size get EINVAL without the plugin being called;
# qemu-img convert and nbdcopy still copy the whole disk; invalid
# constraints are refused with nbdkit 1.32.5's messages.
source "$COMPAT_LIB"
: "${C_PLUGINS:?}"
so=$C_PLUGINS/blocksize.so
[ -e "$so" ] || skip "C plugins not built"
for c in nbdinfo nbdsh nbdcopy qemu-img; do command -v $c >/dev/null || skip "no $c"; done

start_server ours "$NBDKIT" "$so" counter="$T/calls"
got=$(nbdinfo "$(uri ours)" | grep block_size)
expect_eq "nbdinfo block sizes" \
    "$(printf '\tblock_size_minimum: 512\n\tblock_size_preferred: 4096\n\tblock_size_maximum: 1048576')" "$got"
if [ -x "$REF_NBDKIT" ]; then
    start_server ref "$REF_NBDKIT" "$so"
    expect_eq "nbdinfo block sizes as C nbdkit's" "$(nbdinfo "$(uri ref)" | grep block_size)" "$got"
    stop_server ref
fi

BREAK='
h.set_strict_mode(0)
import errno
def try_(what, f):
    try:
        f()
        print(what, "ok")
    except nbd.Error as e:
        print(what, e.errno)
try_("read 100 at 0", lambda: h.pread(100, 0))
try_("read 512 at 1", lambda: h.pread(512, 1))
try_("read 1000 at 512", lambda: h.pread(1000, 512))
try_("read 2M at 0", lambda: h.pread(2 * 1024 * 1024, 0))
try_("write 100 at 0", lambda: h.pwrite(b"x" * 100, 0))
try_("write 2M at 0", lambda: h.pwrite(b"x" * 2 * 1024 * 1024, 0))
'
# By default, as C nbdkit: the plugin is called for each.
if [ -x "$REF_NBDKIT" ]; then
    for side in ref ours; do
        [ $side = ref ] && bin=$REF_NBDKIT || bin=$NBDKIT
        rm -f "calls.$side"; touch "calls.$side"
        "$bin" -U - "$so" counter="$T/calls.$side" --run "nbdsh -u \"\$uri\" -c '$BREAK'" \
            > "out.$side" 2>&1
    done
    expect_eq "constraint-breaking requests: answers as C nbdkit's" "$(cat out.ref)" "$(cat out.ours)"
    expect_eq "... and the plugin calls" "$(cat calls.ref)" "$(cat calls.ours)"
    expect_match "... which reach the plugin" "pread 2097152 0" "$(cat calls.ours)"
    expect_match "... and succeed" "write 2M at 0 ok" "$(cat out.ours)"
fi
stop_server ours
start_server ours "$NBDKIT" --enforce-block-size "$so" counter="$T/calls"

rm -f calls; touch calls
out=$(nbdsh -u "$(uri ours)" -c "$BREAK" 2>&1)
expect_eq "constraint-breaking requests" "read 100 at 0 EINVAL
read 512 at 1 EINVAL
read 1000 at 512 EINVAL
read 2M at 0 EINVAL
write 100 at 0 EINVAL
write 2M at 0 EINVAL" "$out"
expect_eq "plugin calls for those requests" "" "$(cat calls)"

out=$(nbdsh -u "$(uri ours)" -c '
print(h.pread(512, 4096 * 3) == bytes([3]) * 512)
print(h.pread(1024 * 1024, 1024 * 1024)[4096:4097] == bytes([257 & 0xff]))
' 2>&1)
expect_eq "aligned reads, 512 and 1M" "True
True" "$out"
expect_eq "plugin calls for them" "pread 512 12288
pread 1048576 1048576" "$(cat calls)"

# Whole-disk copies by clients that honour the constraints.
python3 -c 'import sys; sys.stdout.buffer.write(bytes((o // 4096) & 0xff for o in range(8 << 20)))' > expected.img
must nbdcopy "$(uri ours)" copy1.img >/dev/null
must qemu-img compare -f raw -F raw expected.img copy1.img
ok "nbdcopy copied the whole disk"
must qemu-img convert -f raw -O raw "$(uri ours)" copy2.img
must qemu-img compare -f raw -F raw expected.img copy2.img
ok "qemu-img convert copied the whole disk"
bad=$(awk '$2 % 512 || $3 % 512 || $2 > 1048576' calls)
expect_eq "no plugin call broke the constraints" "" "$bad"
# And back into the plugin: writes are within the constraints too.
must qemu-img convert -n -f raw -O raw expected.img "$(uri ours)"
bad=$(awk '$2 % 512 || $3 % 512 || $2 > 1048576' calls)
expect_eq "no plugin call broke the constraints (writes)" "" "$bad"
stop_server ours

# Invalid constraints: nbdkit's messages.
for v in "min=3" "min=0" "min=131072" "pref=256" "pref=3000" "pref=67108864" \
         "max=1000" "min=4096 pref=2048" "max=2048" "min=65536 pref=512 max=-1"; do
    msg() {
        "$1" -U - "$so" $v --run 'nbdinfo "$uri"' 2>&1 >/dev/null |
            grep -o 'error: plugin must.*' | head -1
    }
    got=$(msg "$NBDKIT")
    expect_match "$v: refused" "^error: plugin must set " "$got"
    [ -x "$REF_NBDKIT" ] && expect_eq "$v: message as C nbdkit's" "$(msg "$REF_NBDKIT")" "$got"
done
# min = preferred = maximum = 0 means "no constraints".
expect_eq "0/0/0: no constraints" "" \
    "$("$NBDKIT" -U - "$so" min=0 pref=0 max=0 --run 'nbdinfo "$uri"' 2>&1 | grep block_size)"
