#!/usr/bin/env bash
# -D FILTER.FLAG=N sets a Debian filter's debug flag (ip.rules,
# cow.verbose, rate.bucket) and -v shows each layer's calls: the debug
# lines of the filters (their own messages, then the per-callback lines
# `NAME: open ...`, `NAME: pread count=... offset=...`) are C nbdkit's,
# with handle addresses and thread numbers masked.
source "$COMPAT_LIB"
need_filters ip cow rate
command -v nbdsh >/dev/null || skip "no nbdsh"

script='nbdinfo --size "$uri"; nbdsh -u "$uri" -c "h.pwrite(b\"x\" * 512, 0)" \
    -c "h.pread(512, 4096)" -c "h.zero(4096, 8192)" -c "h.flush()"'
args=(-v -D ip.rules=1 -D cow.verbose=1 -D rate.bucket=1 --filter=ip --filter=cow --filter=rate
      memory 1M allow=anyunix deny=all rate=10M)
# (The last connection's close races with the end of --run: close lines
# are left out.)
debug_lines() {         # debug_lines BINARY: the filters' debug lines
    "$1" -U - "${args[@]}" --run "$script" 2>&1 | grep -E 'debug: (ip|cow|rate): ' |
        grep -vE ': close$' | norm_msgs |
        sed -E 's/handle 0x[0-9a-f]+/handle ADDR/'
}
want=$(debug_lines "$REF_NBDKIT")
got=$(debug_lines "$NBDKIT")
callbacks='(ip|cow|rate): ([a-z_]+ (readonly|count|thread_model|key)=|(open returned|config_complete|get_ready|after_fork|cleanup|preconnect|close|prepare|finalize|get_size|can_[a-z_]+|is_rotational|block_size|export_description|flush|unload filter|load)$)'
_same "the filters' own debug messages (-D)" "$(grep -vE "$callbacks" <<<"$want")" "$(grep -vE "$callbacks" <<<"$got")"
expect_match "-D ip.rules=1 took effect" "ip: parsed allow=anyunix" "$SEEN"
expect_match "-D cow.verbose=1 took effect" "cow: underlying file size" "$SEEN"
_same "every filter debug line of -v" "$want" "$got"
