#!/usr/bin/env bash
# Plugins that cannot be loaded fail with nbdkit's messages and exit
# status: a missing file or short name with nbdkit 1.44.1's (the path
# tried and dlerror quoted as C strings, the package hint for a short
# name: its plugin directory read as Debian's); no plugin_init, an unknown
# API version, no .open with nbdkit 1.32.5's.
source "$COMPAT_LIB"
: "${C_PLUGINS:?}"
[ -e "$C_PLUGINS/badapi-3.so" ] || skip "C plugins not built"
need_ref144
echo 'int not_a_plugin;' > "$T/x.c"
gcc -shared -fPIC "$T/x.c" -o "$T/noinit.so" || skip "no gcc"
bad=0
for so in "$T/missing.so" nosuchplugin "plugin@name" "$(printf 'bad\r')" "$T/noinit.so" \
          "$C_PLUGINS/badapi-3.so" "$C_PLUGINS/badapi-noopen.so"; do
  case $so in
    "$T"/missing.so|nosuchplugin|plugin@name|bad*) ref=$REF144 ;;
    *) ref=$REF_NBDKIT ;;
  esac
  want=$("$ref" "$so" 2>&1 | sed "s#/usr/local/lib/nbdkit/#/usr/lib/x86_64-linux-gnu/nbdkit/#g"); wrc=${PIPESTATUS[0]}
  got=$("$NBDKIT" "$so" 2>&1); grc=$?
  if [ "$want" != "$got" ] || [ $wrc != $grc ]; then
    echo "FAIL: $so"; echo " want($wrc): $want"; echo " got($grc):  $got"; bad=1
  fi
done
[ $bad = 0 ] || fail "load errors differ"
ok "load errors as nbdkit"
