#!/usr/bin/env bash
# nbdkit 1.44.1's memory, file, null and pattern plugins, which add to
# 1.32.5's (block sizes, the rotational flag, file's fd= and dirfd=,
# --dump-plugin keys): the server steps aside from its built-ins (nbdkit
# 1.32's) for an installed .so of another release and loads it, so what
# it serves with those .so files must be what C nbdkit 1.44.1 serves with
# them: --dump-plugin, every parameter and bad values, what clients see
# (nbdinfo --json and --map, writes, zeroes, trims, checksums).
# compat-timeout: 300
source "$COMPAT_LIB"
need_ref144
command -v nbdinfo >/dev/null || skip "no nbdinfo"
for p in memory file null pattern; do
    [ -e "$(ref144_plugin $p)" ] || skip "no 1.44.1 $p plugin"
done


for p in memory file null pattern; do
    so=$(ref144_plugin $p)
    _same "1.44.1 $p --dump-plugin" "$("$REF144" "$so" --dump-plugin 2>&1; echo "exit $?")" \
        "$("$NBDKIT" "$so" --dump-plugin 2>&1; echo "exit $?")"
done

fresh() { rm -f f; truncate -s 2M f; printf 'data' | dd of=f bs=1 seek=1000000 conv=notrunc status=none; }
mkdir d
truncate -s 1M d/disk1
# same144 PLUGIN ARGS...: serve with fd 3 open on a fresh file f and fd 4
# on the directory d, on both servers.
same144() {
    local so a b label="$*"
    so=$(ref144_plugin "$1")
    shift
    fresh
    # C nbdkit's messages start with its program's name.
    a=$("$REF144" -U - "$so" "$@" --run "$SEE" 3<>f 4<d 2>&1 | sed 's/^nbdkit\.c-1\.44\.1: /nbdkit: /' |
        norm_msgs; echo "status ${PIPESTATUS[0]}")
    fresh
    b=$("$NBDKIT" -U - "$so" "$@" --run "$SEE" 3<>f 4<d 2>&1 | norm_msgs; echo "status ${PIPESTATUS[0]}")
    _same "1.44.1 $label" "$a" "$b"
}
same144 memory 1M
same144 memory 1M allocator=malloc
same144 memory 1M allocator=zstd
same144 memory 1M allocator=foo
same144 null 1M
same144 null 1M foo=1
same144 pattern 3M
same144 file f
same144 file f cache=none fadvise=random
same144 file fd=3
same144 file dirfd=4
same144 file fd=9
same144 file f fd=3
same144 file f foo=1
