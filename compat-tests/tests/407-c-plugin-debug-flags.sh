#!/usr/bin/env bash
# -D PLUGIN.FLAG=N sets the plugin's global PLUGIN_debug_FLAG (dots in FLAG
# become underscores); a flag the plugin lacks is only a warning.
set -u
: "${NBDKIT:?}" "${C_PLUGINS:?}"
so=$C_PLUGINS/debugflags.so
[ -e "$so" ] || { echo "C plugins not built"; exit 77; }
fail=0
for n in "${REF_NBDKIT:-/usr/bin/nbdkit}" "$NBDKIT"; do
  out=$("$n" -D debugflags.foo=42 -D debugflags.bar.baz=3 "$so" --dump-plugin 2>&1)
  echo "$out" | grep -qx 'debugflags_foo=42' && echo "$out" | grep -qx 'debugflags_bar_baz=3' ||
    { echo "FAIL: $n --dump-plugin: $out"; fail=1; }
  out=$("$n" -D debugflags.foo=65 -U - "$so" --run 'nbdsh -u "$uri" -c "print(bytes(h.pread(4, 0)))"' 2>&1)
  [ "$out" = "b'AAAA'" ] || { echo "FAIL: $n read: $out"; fail=1; }
  out=$("$n" -D debugflags.nope=1 -U - "$so" --run 'echo ran' 2>&1)
  echo "$out" | grep -qx 'ran' && echo "$out" | grep -qx \
    'nbdkit: warning: -D debugflags.nope: debugflags does not contain a global variable called debugflags_debug_nope' ||
    { echo "FAIL: $n unknown debug flag: $out"; fail=1; }
done
exit $fail
