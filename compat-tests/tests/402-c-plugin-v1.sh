#!/usr/bin/env bash
# An API v1 plugin (flag-less callbacks, .zero with may_trim) serves data,
# writes, zeroes and FUA (emulated with flush) as nbdkit 1.32.5 does.
set -u
: "${NBDKIT:?}" "${C_PLUGINS:?}"
[ -e "$C_PLUGINS/v1.so" ] || { echo "C plugins not built"; exit 77; }
run() {
  "$1" -U - "$C_PLUGINS/v1.so" 1M --run '
    nbdinfo --json "$uri" | grep -v "\"uri\"" &&
    nbdsh -u "$uri" -c "
h.pwrite(b\"hello world\" * 100, 4096, nbd.CMD_FLAG_FUA)
h.zero(512, 4096 + 100)
h.trim(512, 8192)
h.flush()
d = h.pread(2048, 4096)
print(d[:120], d[600:620], h.can_fua(), h.can_zero(), h.can_fast_zero())
try:
    h.zero(512, 0, nbd.CMD_FLAG_FAST_ZERO)
except nbd.Error as e:
    print(\"fast zero:\", e.errno)
"'
}
want=$(run "${REF_NBDKIT:-/usr/bin/nbdkit}" 2>&1) || { echo "real nbdkit failed: $want"; exit 1; }
got=$(run "$NBDKIT" 2>&1)
if [ "$want" != "$got" ]; then
  diff <(echo "$want") <(echo "$got"); exit 1
fi
