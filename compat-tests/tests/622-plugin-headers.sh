#!/usr/bin/env bash
# Our include/ headers serve plugin authors as Debian's do: they define
# NBDKIT_DLL_PUBLIC, NBDKIT_EXTERN_DECL and the printf format attribute,
# and NBDKIT_REGISTER_PLUGIN keeps plugin_init visible, so a plugin built
# with -fvisibility=hidden against them loads in C nbdkit and in ours.
source "$COMPAT_LIB"
: "${REPO:?}"
cat > vis.c <<'C'
#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <string.h>
#include <nbdkit-plugin.h>
#if !defined (NBDKIT_DLL_PUBLIC) || !defined (NBDKIT_EXTERN_DECL)
#error "NBDKIT_DLL_PUBLIC / NBDKIT_EXTERN_DECL missing"
#endif
NBDKIT_EXTERN_DECL (int, vis_helper, (int));
NBDKIT_DLL_PUBLIC int vis_debug_flag = 0;
static void *vis_open (int ro) { return NBDKIT_HANDLE_NOT_NEEDED; }
static int64_t vis_get_size (void *h) { return 4096; }
static int vis_pread (void *h, void *b, uint32_t c, uint64_t o, uint32_t f)
{ memset (b, 0x5a, c); return 0; }
static struct nbdkit_plugin plugin = {
  .name = "vis", .open = vis_open, .get_size = vis_get_size, .pread = vis_pread,
};
NBDKIT_REGISTER_PLUGIN (plugin)
C
gcc -Wall -Werror -fvisibility=hidden -shared -fPIC -I "$REPO/include" -o vis.so vis.c ||
    fail "a -fvisibility=hidden plugin does not build against include/"
nm -D --defined-only vis.so | grep -qw plugin_init || fail "plugin_init not exported"
for b in "$REF_NBDKIT" "$NBDKIT"; do
    expect_eq "$b loads the -fvisibility=hidden plugin" 4096 \
        "$(timeout 20 "$b" -U - ./vis.so --run 'nbdinfo --size "$uri"' 2>&1)"
done
expect_eq "-D vis.flag=1 sets the exported variable (no warning)" "" \
    "$(timeout 20 "$NBDKIT" -D vis.flag=1 ./vis.so --dump-plugin 2>&1 >/dev/null)"

# nbdkit_error and nbdkit_debug are checked as printf formats.
printf '#include <nbdkit-plugin.h>\nvoid f (void) { nbdkit_error ("%%s", 1); }\n' > fmt.c
if gcc -Werror=format -c -I "$REPO/include" -o fmt.o fmt.c 2>/dev/null; then
    fail "a bad nbdkit_error format compiles without a warning"
fi
ok "nbdkit_error carries the printf format attribute"
