# Sizes that do not parse are refused in nbdkit 1.44.1's words
# ("<what>: <text from where it failed>"), whether the built-in plugin
# parses them or a C plugin calls nbdkit_parse_size, compared with C
# nbdkit 1.44.1 and its memory plugin.
source "$COMPAT_LIB"
need_ref144
MEM=$(ref144_plugin memory)

first_line() {          # first_line BINARY PLUGIN SIZE: the error and status
    local out rc
    out=$(timeout 10 "$1" -f -U "$T/size.sock" "$2" "size=$3" 2>&1 </dev/null); rc=$?
    printf '%s\nexit %s\n' "$(printf '%s\n' "$out" | head -1)" "$rc"
}
for size in 8E -1 -1x -9223372036854775809 9223372036854775808 99999999999999999999x \
            1MiB 1.5G 0x10 abc "" - + 1bb 1Kx; do
    want=$(first_line "$REF144" "$MEM" "$size")
    expect_match "C nbdkit refuses [$size] (sanity)" "exit 1" "$want"
    expect_eq "built-in memory, size=[$size]" "$want" "$(first_line "$NBDKIT" memory "$size")"
    expect_eq "1.44.1's memory .so, size=[$size]" "$want" "$(first_line "$NBDKIT" "$MEM" "$size")"
done
# The other built-ins that take a size, against 1.44.1's .so of the name.
for p in null pattern; do
    so=$(plugin144 $p)
    for size in x 8E -1 1MiB; do
        expect_eq "built-in $p, size=[$size]" "$(first_line "$REF144" "$so" "$size")" \
            "$(first_line "$NBDKIT" $p "$size")"
    done
done
# Sizes that parse are served at the size C nbdkit serves.
for size in 1 1b 2s 1K 1M +1M 010; do
    expect_eq "size=$size" "$("$REF144" "$MEM" "size=$size" --run 'nbdinfo --size "$uri"')" \
        "$("$NBDKIT" "$MEM" "size=$size" --run 'nbdinfo --size "$uri"')"
done
if [ -S "$T/size.sock" ]; then fail "a socket was left behind"; fi
