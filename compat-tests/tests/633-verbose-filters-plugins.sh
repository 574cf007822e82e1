#!/usr/bin/env bash
# -v line for line as nbdkit 1.32.5's with filters stacked on a C plugin
# (each layer's callback lines, in nbdkit's order), with the file
# plugin and requests run one at a time (-t 1: "processing requests
# serially", lines named by the connection), and with a script plugin
# (eval: its calls, its default thread model, a failing read).
source "$COMPAT_LIB"
need_filters nozero cow
ref_plugin_exists memory || skip "no nbdkit-memory-plugin.so"
command -v nbdsh >/dev/null || skip "no nbdsh"

CLIENTS=(
    'nbdinfo "$uri"'
    'nbdinfo --map "$uri"'
    'nbdsh -u "$uri" -c "h.pwrite(b\"x\" * 4096, 0)" -c "h.pread(512, 4096)" \
        -c "h.flush()" -c "h.trim(4096, 0)"'
)
same_verbose "filters on a C plugin" --filter=nozero --filter=cow \
    /usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so 1M
truncate -s 1M disk.img
same_verbose "file, -t 1" -t 1 file "$PWD/disk.img"
# A failing read: the plugin's message and "sending error reply".
CLIENTS=('nbdinfo "$uri"' 'nbdsh -u "$uri" -c "
try:
    h.pread(512, 0)
except nbd.Error:
    pass"')
same_verbose "eval" eval get_size='echo 1M' pread='echo EIO boom >&2; exit 1'

# A filter that asks the layer below for its block size in .prepare: the
# plugin's answer is asked once per connection, as nbdkit caches it.
need_filters blocksize
CLIENTS=('nbdinfo "$uri"')
same_verbose "blocksize filter" --filter=blocksize memory 1M

# A plugin or filter that cannot be opened: nbdkit says "registering"
# only for what it opened (the debug lines; the error itself is nbdkit
# 1.44.1's, compared in 406 and 824).
need_ref144
for a in "--filter=no-such-filter memory 1M" "no-such-plugin"; do
    # shellcheck disable=SC2086
    _same "-v start-up: $a" "$("$REF_NBDKIT" -f -v -U "$T/x.sock" $a 2>&1 | as_server_version | grep ' debug: '; echo "status ${PIPESTATUS[0]}")" \
        "$("$NBDKIT" -f -v -U "$T/x.sock" $a 2>&1 | grep ' debug: ' | grep -Ev "$VERBOSE_144_ONLY"; echo "status ${PIPESTATUS[0]}")"
done
