#!/usr/bin/env bash
# A failing callback's errno reaches the client as nbdkit 1.32.5 sends it:
# nbdkit_set_error first, then errno if .errno_is_preserved, else EIO; and
# failures in open/get_size/config_complete end the same way.
set -u
: "${NBDKIT:?}" "${C_PLUGINS:?}"
[ -e "$C_PLUGINS/errors.so" ] || { echo "C plugins not built"; exit 77; }
read_script='
try:
    h.pread(512, 512)
    print("no error")
except nbd.Error as e:
    print("errno", e.errno)
print(len(h.pread(512, 0)))'
fail=0
for so in errors errors-noerrno; do
  for mode in seterr errno plain; do
    want=$("${REF_NBDKIT:-/usr/bin/nbdkit}" -U - "$C_PLUGINS/$so.so" mode=$mode --run "nbdsh -u \"\$uri\" -c '$read_script'" 2>/dev/null)
    got=$("$NBDKIT" -U - "$C_PLUGINS/$so.so" mode=$mode --run "nbdsh -u \"\$uri\" -c '$read_script'" 2>/dev/null)
    if [ "$want" != "$got" ] || [ -z "$want" ]; then
      echo "FAIL: $so mode=$mode: want [$want] got [$got]"; fail=1
    fi
  done
done
# The plugin's nbdkit_error text is logged.
out=$("$NBDKIT" -U - "$C_PLUGINS/errors.so" mode=seterr --run "nbdsh -u \"\$uri\" -c '$read_script'" 2>&1)
echo "$out" | grep -q "pread: failing with ENOSPC" || { echo "FAIL: message not logged: $out"; fail=1; }
# config_complete failing: nbdkit exits 1 after printing the error.
for n in "${REF_NBDKIT:-/usr/bin/nbdkit}" "$NBDKIT"; do
  "$n" -U - "$C_PLUGINS/errors.so" fail=config_complete --run true >/dev/null 2>&1
  rc=$?
  [ $rc -eq 1 ] || { echo "FAIL: $n config_complete failure exit $rc"; fail=1; }
done
# open failing: the client cannot connect; nbdinfo fails.
for n in "${REF_NBDKIT:-/usr/bin/nbdkit}" "$NBDKIT"; do
  if "$n" -U - "$C_PLUGINS/errors.so" fail=open --run 'nbdinfo "$uri"' >/dev/null 2>&1; then
    echo "FAIL: $n: open failure not seen by client"; fail=1
  fi
done
exit $fail
