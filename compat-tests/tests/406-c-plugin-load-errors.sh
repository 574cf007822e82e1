#!/usr/bin/env bash
# Plugins that cannot be loaded fail with nbdkit 1.32.5's messages and
# exit status: missing file, no plugin_init, unknown API version, no .open.
set -u
: "${NBDKIT:?}" "${C_PLUGINS:?}"
[ -e "$C_PLUGINS/badapi-3.so" ] || { echo "C plugins not built"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
echo 'int not_a_plugin;' > "$tmp/x.c"
gcc -shared -fPIC "$tmp/x.c" -o "$tmp/noinit.so" || exit 77
fail=0
for so in "$tmp/missing.so" nosuchplugin "$tmp/noinit.so" \
          "$C_PLUGINS/badapi-3.so" "$C_PLUGINS/badapi-noopen.so"; do
  want=$("${REF_NBDKIT:-/usr/bin/nbdkit}" "$so" 2>&1); wrc=$?
  got=$("$NBDKIT" "$so" 2>&1); grc=$?
  if [ "$want" != "$got" ] || [ $wrc != $grc ]; then
    echo "FAIL: $so"; echo " want($wrc): $want"; echo " got($grc):  $got"; fail=1
  fi
done
exit $fail
