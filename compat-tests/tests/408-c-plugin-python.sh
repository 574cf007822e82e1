#!/usr/bin/env bash
# Debian's python plugin (a C plugin embedding Python) runs a script under
# our server as under nbdkit 1.32.5, including nbdkit.set_error.
set -u
: "${NBDKIT:?}"
py=/usr/lib/x86_64-linux-gnu/nbdkit/plugins/nbdkit-python-plugin.so
[ -e "$py" ] || { echo "no python plugin"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/disk.py" <<'PY'
import nbdkit, errno
API_VERSION = 2
disk = bytearray(1024 * 1024)
def open(readonly):
    return 1
def get_size(h):
    return len(disk)
def pread(h, buf, offset, flags):
    if offset >= 512 * 1024:
        nbdkit.set_error(errno.ENOSPC)
        raise RuntimeError("too far")
    buf[:] = disk[offset:offset + len(buf)]
def pwrite(h, buf, offset, flags):
    disk[offset:offset + len(buf)] = buf
PY
run() {
  "$1" -U - "$py" script="$tmp/disk.py" --run '
    nbdinfo --json "$uri" | grep -v "\"uri\"" &&
    nbdsh -u "$uri" -c "
h.pwrite(b\"py\" * 256, 1024)
print(h.pread(8, 1024))
try:
    h.pread(512, 600 * 1024)
except nbd.Error as e:
    print(\"errno\", e.errno)
"' 2>/dev/null
}
want=$(run "${REF_NBDKIT:-/usr/bin/nbdkit}"); got=$(run "$NBDKIT")
[ -n "$want" ] && [ "$want" = "$got" ] || { diff <(echo "$want") <(echo "$got"); exit 1; }
