#!/usr/bin/env bash
# nbdkit_parse_size, nbdkit_parse_<int types> and nbdkit_parse_bool on the
# edge cases plugins meet in their configuration (signs, whitespace,
# hex/octal, overflow, empty, suffixes): the same value accepted, or the
# same message, from our server as from nbdkit 1.32.5 (sizes: 1.44.1).  The everything.so
# test plugin parses each KEY=VALUE with the function KEY names and logs
# what it got.
source "$COMPAT_LIB"
so=$C_PLUGINS/everything.so
[ -e "$so" ] || skip "C plugins not built"

# The first line mentioning the parameter, or the first error.
outcome() {             # outcome BINARY ARG
    "$1" -v -U - "$so" "$2" --run true 2>&1 |
        grep -E "debug: everything: ${2%%=*}=|error:" | head -1 |
        sed 's/^nbdkit: [^ ]*debug: //'
}
# compare REF LABEL ARGS...: each ARG answered as REF answers it.
compare() {
    local ref=$1 label=$2 a want
    shift 2
    for a in "$@"; do
        want=$(outcome "$ref" "$a")
        [ -n "$want" ] || fail "$a: C nbdkit printed nothing to compare"
        [ "$want" = "$(outcome "$NBDKIT" "$a")" ] || expect_eq "$a" "$want" "$(outcome "$NBDKIT" "$a")"
    done
    ok "$# parser edge cases answer as nbdkit $label"
}
compare "$REF_NBDKIT" 1.32.5 \
    int= int=x int=-0 int=+5 int=0x int=0xg int=08 "int= +0x1f" "int=1 " \
    int=2147483647 int=2147483648 int=-2147483649 int=-2147483648 \
    unsigned=-1 unsigned=4294967296 "unsigned= -0" \
    uint64_t=18446744073709551616 uint64_t=-0 uint64_t=-99999999999999999999 unsigned=-x "unsigned=+-5" \
    int64_t=-9223372036854775809 int64_t=0x7fffffffffffffff \
    uint8_t=0377 uint8_t=0400 int8_t=-0x80 int16_t=32768 uint16_t=0xffff \
    bool= bool=TRUE bool=Y bool=oN bool=2 bool=Off

# Sizes: nbdkit 1.44.1 words its refusals differently from 1.32.5
# ("<what>: <text>"); this server follows 1.44.1.
need_ref144
compare "$REF144" 1.44.1 \
    size=-1 size=+1M size=-0 size=-1M size=-1x "size= -1" size=- size=+ \
    size= size=0 "size= 1M" "size=	5" size=1M2 size=1MM size=8E size=7E \
    size=9223372036854775807 size=9223372036854775808 \
    size=-9223372036854775809 size=18446744073709551616 \
    size=99999999999999999999x size=1e size=0x10 size=010 size=1.5G \
    size=1MiB "size=1 M" size=1s size=1b size=B
