#!/usr/bin/env bash
# Check that the functions the server exports to C are the ones include/
# declares, with the same types.  cbindgen turns every #[no_mangle]
# function and static in server/src into a C declaration
# (build/nbdkit-exports.h, regenerated each run, not committed), and gcc
# then compiles it together with the headers that declare the same names:
#
#   1. include/nbdkit-plugin.h (+ nbdkit-common.h): a signature that differs
#      is a "conflicting types" error;
#   2. server/src/abi/shim.c, whose extern declarations of the Rust glue
#      (nbdkit_rs_*) and of nbdkit_strdup_intern/nbdkit_set_error must agree;
#   3. Debian's nbdkit-filter.h (when installed), for the filter-only
#      functions include/ does not declare yet, including the layout of the
#      structs they return by value.
#
# Then the name sets must line up: what Rust exports + the variadic C
# shims == server/src/abi/exports.list (what the binary exports), and ==
# what include/ declares apart from the documented exceptions below.
# Installs the pinned cbindgen if it is missing.  Exit status 1 on drift.
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.4
# Written in C in shim.c (cbindgen cannot see them; they call nbdkit_rs_*).
SHIM_VARIADIC="nbdkit_error nbdkit_verror nbdkit_debug nbdkit_vdebug
               nbdkit_printf_intern nbdkit_vprintf_intern"
# Exported but not declared by nbdkit-plugin.h (what this script compiles):
# the filter API (nbdkit-filter(3), in include/nbdkit-filter.h) and the
# server's own debug flags (-D nbdkit.FLAG=N), which no public header
# declares.
NOT_IN_INCLUDE="nbdkit_extents_new nbdkit_extents_free nbdkit_extents_count
                nbdkit_get_extent nbdkit_extents_aligned nbdkit_extents_full
                nbdkit_exports_new nbdkit_exports_free nbdkit_exports_count
                nbdkit_get_export nbdkit_next_context_open
                nbdkit_next_context_close nbdkit_context_get_backend
                nbdkit_context_set_next
                nbdkit_debug_tls_log nbdkit_debug_tls_session
                nbdkit_debug_environ"

CC=${CC:-gcc}
out=build/nbdkit-exports.h
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
bad() { echo "cbindgen-check: FAILED: $*" >&2; fails=$((fails + 1)); }

export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
  echo "cbindgen $CBINDGEN_VERSION not found: installing it (takes a couple of minutes)" >&2
  cargo install --quiet --locked --version "$CBINDGEN_VERSION" cbindgen >&2
fi

mkdir -p build
# cbindgen warns about every non-exported item it skips; show its chatter
# only when it fails.
if ! cbindgen --quiet --config server/cbindgen.toml --output "$out" server/src/main.rs \
     2>"$tmp/cbindgen.log"; then
  cat "$tmp/cbindgen.log" >&2
  echo "cbindgen-check: FAILED: cbindgen could not process server/src" >&2
  exit 1
fi

# The nbdkit_* functions and variables a header declares (after the
# preprocessor, one declaration per line; typedefs, struct tags and members
# skipped).  An empty answer is left to the comparisons to report.
declared() {
  { "$CC" -E -P "$@" | tr '\n' ' ' | tr ';' '\n' |
      grep -vE '^[[:space:]]*typedef[[:space:]]' | sed -E 's/\(.*//' |
      grep -oE '(^|[^A-Za-z0-9_])(struct[[:space:]]+)?nbdkit_[a-z0-9_]+[[:space:]]*$' |
      grep -vE 'struct[[:space:]]' | grep -oE 'nbdkit_[a-z0-9_]+' | sort -u; } || true
}
words() { tr -s ' \n\t' '\n' <<<"$*" | sed '/^$/d' | sort -u; }
# same NAME-A FILE-A NAME-B FILE-B: the two name lists must be equal.
same() {
  local d
  d=$(comm -3 "$2" "$4" | awk -F '\t' -v a="$1" -v b="$3" \
        '{ if ($1 != "") print "    " $1 ": only in " a; else print "    " $2 ": only in " b }')
  if [ -n "$d" ]; then bad "$1 and $3 differ:"; echo "$d" >&2; fi
}

printf '#define NBDKIT_API_VERSION 2\n#include <nbdkit-plugin.h>\n' >"$tmp/plugin.c"
declared -I include "$tmp/plugin.c" >"$tmp/include.names"
declared "$out" >"$tmp/generated.names"
grep -E '^nbdkit_rs_' "$tmp/generated.names" >"$tmp/glue.names" || true
grep -vE '^nbdkit_rs_' "$tmp/generated.names" >"$tmp/rust.names" || true
words "$SHIM_VARIADIC" >"$tmp/shim.names"
words "$NOT_IN_INCLUDE" >"$tmp/exceptions.names"
sort -u "$tmp/rust.names" "$tmp/shim.names" >"$tmp/exported.names"
sed -nE 's/^[[:space:]]*(nbdkit_[a-z0-9_]+);.*/\1/p' server/src/abi/exports.list | sort -u >"$tmp/list.names"

[ "$(wc -l <"$tmp/rust.names")" -gt 40 ] ||
  bad "cbindgen found only $(wc -l <"$tmp/rust.names") exported names in server/src"

# 1. Our declarations against include/.
printf '#define NBDKIT_API_VERSION 2\n#include <nbdkit-plugin.h>\n#include "nbdkit-exports.h"\n' >"$tmp/tu-include.c"
"$CC" -std=gnu11 -Wall -Wextra -Werror -I include -I build -c "$tmp/tu-include.c" -o "$tmp/tu-include.o" ||
  bad "the Rust exports do not match include/ (see the compiler errors above)"

# 2. The Rust glue against shim.c's view of it (shim.c first: it must pick
# its feature macros before any system header).
printf '#include "%s"\n#include "nbdkit-exports.h"\n' "$PWD/server/src/abi/shim.c" >"$tmp/tu-shim.c"
"$CC" -std=gnu11 -Wall -Wextra -Werror -I build -c "$tmp/tu-shim.c" -o "$tmp/tu-shim.o" ||
  bad "the Rust exports do not match what server/src/abi/shim.c declares"

# 3. The filter API against Debian's nbdkit 1.32 headers.  Our copies of
# the by-value structs are renamed so both can be in one translation unit
# and compared member by member.
if [ -e /usr/include/nbdkit-filter.h ]; then
  sed -E 's/^struct (nbdkit_extent|nbdkit_export) \{/struct rs_\1 {/' "$out" >"$tmp/renamed.h"
  cat >"$tmp/tu-debian.c" <<'EOF'
#include <stddef.h>
#include <nbdkit-filter.h>
#include "renamed.h"
#define SAME_MEMBER(s, m)                                                 \
  _Static_assert (offsetof (struct rs_##s, m) == offsetof (struct s, m) && \
                  __builtin_types_compatible_p (                          \
                    __typeof__ (((struct rs_##s *) 0)->m),                \
                    __typeof__ (((struct s *) 0)->m)),                    \
                  "struct " #s ": member " #m " differs")
#define SAME_SIZE(s)                                                      \
  _Static_assert (sizeof (struct rs_##s) == sizeof (struct s),            \
                  "struct " #s ": size differs")
SAME_MEMBER (nbdkit_extent, offset);
SAME_MEMBER (nbdkit_extent, length);
SAME_MEMBER (nbdkit_extent, type);
SAME_SIZE (nbdkit_extent);
SAME_MEMBER (nbdkit_export, name);
SAME_MEMBER (nbdkit_export, description);
SAME_SIZE (nbdkit_export);
EOF
  "$CC" -std=gnu11 -Wall -Wextra -Werror -Wno-ignored-qualifiers -I "$tmp" -c "$tmp/tu-debian.c" -o "$tmp/tu-debian.o" ||
    bad "the Rust exports do not match Debian's nbdkit-filter.h"
  debian=" and Debian's nbdkit-filter.h"
  printf '#include <nbdkit-filter.h>\n' >"$tmp/filter.c"
  declared "$tmp/filter.c" >"$tmp/debian.names"
  comm -13 "$tmp/exported.names" "$tmp/debian.names" >"$tmp/missing.names"
  if [ -s "$tmp/missing.names" ]; then
    bad "Debian's nbdkit headers declare functions the server does not export:"
    sed 's/^/    /' "$tmp/missing.names" >&2
  fi
else
  echo "cbindgen-check: Debian's nbdkit-filter.h not installed; filter API not compared"
fi

# 4. The names.
same "server/src/abi/exports.list" "$tmp/list.names" \
  "the Rust exports + shim.c's variadics" "$tmp/exported.names"
comm -23 "$tmp/exported.names" "$tmp/exceptions.names" >"$tmp/public.names"
same "include/" "$tmp/include.names" \
  "the exports (less the exceptions listed in this script)" "$tmp/public.names"
comm -23 "$tmp/exceptions.names" "$tmp/exported.names" >"$tmp/stale.names"
if [ -s "$tmp/stale.names" ]; then
  bad "documented exceptions the server no longer exports (update this script):"
  sed 's/^/    /' "$tmp/stale.names" >&2
fi

if [ "$fails" -gt 0 ]; then
  echo "cbindgen-check: $fails check(s) failed; the generated declarations are in $out" >&2
  exit 1
fi
echo "cbindgen-check: $(wc -l <"$tmp/rust.names") Rust exports (+ $(wc -l <"$tmp/glue.names") shim glue) match include/, shim.c, exports.list${debian:-}"
