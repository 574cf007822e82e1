#!/usr/bin/env bash
# The seed's copying scenarios, with our server as the source (Debian's
# sparse-random, 256 MiB, 10% data) and C nbdkit as a control: nbdcopy
# default, --allocated, --destination-is-zero, --no-extents, to a file and
# to another NBD server (our memory plugin), and qemu-img convert.  The
# destination must be byte-identical (qemu-img compare) and sparse where a
# sparse result is expected, with the same holes as when copying from C
# nbdkit.
# compat-timeout: 300
source "$COMPAT_LIB"
for c in nbdcopy qemu-img nbdinfo; do command -v $c >/dev/null || skip "no $c"; done
SRC=(sparse-random 256M seed=4321 runlength=1048576)
SIZE=$((256 * 1048576))

start_server src "$NBDKIT" -r "${SRC[@]}"
have_ref=
if [ -x "$REF_NBDKIT" ]; then
    start_server refsrc "$REF_NBDKIT" -r "${SRC[@]}"
    have_ref=1
fi
src=$(uri src)
srcmap=$(nbdinfo --map "$src")
[ "$(grep -c data <<<"$srcmap")" -ge 2 ] || fail "source has too few data extents: $srcmap"

allocated_kib() { du -k "$1" | cut -f1; }
holes() {               # holes FILE: the unallocated ranges qemu-img sees
    qemu-img map -f raw --output=json "$1" |
        python3 -c 'import json,sys; print(sorted((e["start"], e["length"]) for e in json.load(sys.stdin) if not e["data"]))'
}
same() {                # same WHAT A B: byte-identical
    local out
    out=$(qemu-img compare -f raw -F raw "$2" "$3" 2>&1) || fail "$1: differs: $out"
    echo "ok: $1: identical"
}
sparse_like_source() {  # sparse_like_source WHAT FILE
    local k; k=$(allocated_kib "$2")
    [ "$k" -lt $((SIZE / 1024 / 2)) ] || fail "$2: $1: expected sparse, $k KiB allocated"
    [ "$(holes "$2")" != "[]" ] || fail "$2: $1: qemu-img map shows no holes"
    echo "ok: $1: sparse ($k KiB allocated)"
}
vs_ref() {              # vs_ref WHAT NBDCOPY-ARGS...: same holes as copying from C nbdkit
    [ -n "$have_ref" ] || return 0
    local what=$1; shift
    rm -f ref.img
    [ "${1:-}" = "--destination-is-zero" ] && truncate -s $SIZE ref.img
    must nbdcopy "$@" "$(uri refsrc)" ref.img >/dev/null
    expect_eq "$what: holes as when copying from C nbdkit" "$(holes ref.img)" "$(holes out.img)"
}

# 1. default: sparse file.
rm -f out.img
must nbdcopy "$src" out.img >/dev/null
same "nbdcopy default" "$src" out.img
sparse_like_source "nbdcopy default" out.img
vs_ref "nbdcopy default"

# 2. --allocated: fully allocated, identical.
rm -f out.img
must nbdcopy --allocated "$src" out.img >/dev/null
same "nbdcopy --allocated" "$src" out.img
# (nbdcopy 1.14 writing to a local file does not allocate zero ranges even
# with --allocated; to an NBD server it does, see 5.)
vs_ref "nbdcopy --allocated" --allocated

# 3. --destination-is-zero onto a fresh sparse file.
rm -f out.img; truncate -s $SIZE out.img
must nbdcopy --destination-is-zero "$src" out.img >/dev/null
same "nbdcopy --destination-is-zero" "$src" out.img
sparse_like_source "nbdcopy --destination-is-zero" out.img
vs_ref "nbdcopy --destination-is-zero" --destination-is-zero

# 4. --no-extents: identical (how sparse depends on zero detection).
rm -f out.img
must nbdcopy --no-extents "$src" out.img >/dev/null
same "nbdcopy --no-extents" "$src" out.img
echo "note: --no-extents allocated $(allocated_kib out.img) KiB"

# 5. To another NBD server (our memory plugin): identical, and the
#    destination's map has the source's holes.  (nbdcopy 1.14 --allocated
#    leaves holes there too, with C nbdkit as well.)
for mode in default --destination-is-zero --allocated; do
    start_server dst "$NBDKIT" memory $SIZE
    args=(); [ $mode != default ] && args=($mode)
    must nbdcopy "${args[@]}" "$src" "$(uri dst)" >/dev/null
    same "nbdcopy $mode to NBD" "$src" "$(uri dst)"
    dmap=$(nbdinfo --map --totals "$(uri dst)")
    expect_match "nbdcopy $mode to NBD: destination mostly holes" "  (8[0-9]|9[0-9])\\.[0-9]% +3 hole,zero" "$dmap"
    stop_server dst
    if [ -n "$have_ref" ]; then
        # The same copy from and to C nbdkit leaves the same map.
        start_server refdst "$REF_NBDKIT" memory $SIZE
        must nbdcopy "${args[@]}" "$(uri refsrc)" "$(uri refdst)" >/dev/null
        expect_eq "nbdcopy $mode to NBD: destination map as with C nbdkit" \
            "$(nbdinfo --map --totals "$(uri refdst)")" "$dmap"
        stop_server refdst
    fi
done

# 6. qemu-img convert, to a file and to an NBD server.
rm -f out.img
must qemu-img convert -f raw -O raw "$src" out.img
same "qemu-img convert" "$src" out.img
sparse_like_source "qemu-img convert" out.img
if [ -n "$have_ref" ]; then
    must qemu-img convert -f raw -O raw "$(uri refsrc)" ref.img
    expect_eq "qemu-img convert: holes as from C nbdkit" "$(holes ref.img)" "$(holes out.img)"
fi
start_server dst "$NBDKIT" memory $SIZE
must qemu-img convert -n -f raw -O raw "$src" "$(uri dst)"
same "qemu-img convert to NBD" "$src" "$(uri dst)"
expect_match "qemu-img convert to NBD: destination mostly holes" "  (8[0-9]|9[0-9])\\.[0-9]% +3 hole,zero" \
    "$(nbdinfo --map --totals "$(uri dst)")"
