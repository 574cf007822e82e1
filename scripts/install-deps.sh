#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine (idempotent).
set -u
need=()
command -v nbdinfo >/dev/null || need+=(libnbd-bin)
command -v nbdcopy >/dev/null || need+=(libnbd-bin)
/usr/bin/python3 -c 'import nbd' 2>/dev/null || need+=(python3-libnbd)
command -v nbdsh >/dev/null || need+=(python3-libnbd)
command -v timeout >/dev/null || need+=(coreutils)
[ -x /usr/bin/nbdkit ] || need+=(nbdkit)
[ -e /usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-python-plugin.so ] || need+=(nbdkit-plugin-python)
[ -e /usr/include/nbdkit-plugin.h ] || need+=(nbdkit-plugin-dev)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v xorriso >/dev/null || need+=(xorriso)
[ -x /sbin/debugfs ] || need+=(e2fsprogs)
# xz for the xz filter test (compat 810).
dpkg-query -W -f='${Status}' xz-utils 2>/dev/null | grep -q "ok installed" || need+=(xz-utils)
[ -e /usr/lib/llvm-14/lib/libclang.so ] || ls /usr/lib/x86_64-linux-gnu/libclang-*.so* >/dev/null 2>&1 || need+=(libclang-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
