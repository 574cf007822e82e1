#!/usr/bin/env bash
# -v prints what nbdkit 1.32.5's does, line for line, for a session with
# the memory plugin: start-up (plugin loaded, thread model, bound socket),
# every negotiation option of nbdinfo (plain, --map, --list) and nbdsh
# with its request and reply lines, each callback with its arguments
# (`memory: pread count=512 offset=4096`), the worker-thread names of the
# requests, close and cleanup.  See norm_verbose (lib.sh) for what is
# masked.
source "$COMPAT_LIB"
command -v nbdinfo >/dev/null || skip "no nbdinfo"
command -v nbdsh >/dev/null || skip "no nbdsh"

CLIENTS=(
    'nbdinfo "$uri"'
    'nbdinfo --map "$uri"'
    'nbdinfo --list "$uri"'
    'nbdsh -u "$uri" -c "h.pwrite(b\"x\" * 4096, 0)" -c "h.pread(512, 4096)" \
        -c "h.zero(4096, 8192)" -c "h.flush()" -c "h.trim(4096, 0)" -c "h.cache(4096, 0)" \
        -c "h.pwrite(b\"y\" * 512, 0, nbd.CMD_FLAG_FUA)" \
        -c "h.zero(4096, 8192, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FAST_ZERO)"'

)
same_verbose "memory" memory 1M
# Read-only: every can_* line is still printed; a write is refused with
# nbdkit's lines.
CLIENTS=(
    'nbdinfo "$uri"'
    'nbdsh -u "$uri" -c "h.pread(512, 0)" -c "
try:
    h.pwrite(b\"x\", 0)
except nbd.Error:
    pass"'
)
same_verbose "memory -r" -r memory 1M
