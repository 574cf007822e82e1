#!/usr/bin/env bash
# --dump-plugin of C plugins (ours, built against our headers, and Debian's)
# prints the same as nbdkit 1.32.5 does.
set -u
: "${NBDKIT:?}" "${C_PLUGINS:?}"
REAL=${REF_NBDKIT:-/usr/bin/nbdkit}
[ -x "$REAL" ] || { echo "no $REAL"; exit 77; }
[ -e "$C_PLUGINS/v1.so" ] || { echo "C plugins not built"; exit 77; }
fail=0
for p in v1 everything debugflags errors errors-noerrno \
         threads-parallel threads-serialize_connections \
         /usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-memory-plugin.so \
         /usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-data-plugin.so; do
  case $p in /*) so=$p ;; *) so=$C_PLUGINS/$p.so ;; esac
  want=$("$REAL" "$so" --dump-plugin 2>&1)
  got=$("$NBDKIT" "$so" --dump-plugin 2>&1)
  if [ "$want" != "$got" ]; then
    echo "FAIL: --dump-plugin $so"; diff <(echo "$want") <(echo "$got"); fail=1
  fi
done
exit $fail
