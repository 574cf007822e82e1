#!/usr/bin/env bash
# Each thread model bounds how many requests run in the plugin at once:
# with 8 reads in flight on one connection only PARALLEL overlaps them,
# and SERIALIZE_CONNECTIONS never has two handles open.
set -u
: "${NBDKIT:?}" "${C_PLUGINS:?}"
[ -e "$C_PLUGINS/threads-parallel.so" ] || { echo "C plugins not built"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
script='
bufs = [nbd.Buffer(512) for i in range(8)]
for i in range(8):
    h.aio_pread(bufs[i], i * 512)
while h.aio_in_flight() > 0:
    h.poll(-1)
'
fail=0
for tm in serialize_connections serialize_all_requests serialize_requests parallel; do
  for n in "${REF_NBDKIT:-/usr/bin/nbdkit}" "$NBDKIT"; do
    rm -f "$tmp/out"
    "$n" -U - "$C_PLUGINS/threads-$tm.so" file="$tmp/out" \
      --run "nbdsh -u \"\$uri\" -c '$script' & nbdsh -u \"\$uri\" -c '$script'; wait" >/dev/null 2>&1
    req=$(sed -n 's/^requests=//p' "$tmp/out" 2>/dev/null)
    hnd=$(sed -n 's/^handles=//p' "$tmp/out" 2>/dev/null)
    case $tm in
      parallel) ok=$([ "${req:-0}" -gt 1 ] && echo y) ;;
      serialize_connections) ok=$([ "${req:-0}" = 1 ] && [ "${hnd:-0}" = 1 ] && echo y) ;;
      serialize_requests)
        # One request at a time per connection, two connections may overlap.
        ok=$([ "${req:-0}" -ge 1 ] && [ "${req:-0}" -le 2 ] && echo y) ;;
      *) ok=$([ "${req:-0}" = 1 ] && echo y) ;;
    esac
    [ "$ok" = y ] || { echo "FAIL: $n $tm: requests=$req handles=$hnd"; fail=1; }
  done
done
exit $fail
