# nbdcopy in and out with multi-conn (--connections=4), to our memory and
# file plugins; nbdcopy between our server and the reference; and the
# pattern plugin's bytes must equal the reference's.
source "$COMPAT_LIB"

head -c 256M /dev/urandom > src.img

start_server mem "$NBDKIT" memory 256M
must nbdcopy --connections=4 --requests=16 --flush src.img "$(uri mem)"
ok "nbdcopy into memory with 4 connections"
must nbdcopy --connections=4 --requests=16 "$(uri mem)" out-mem.img
cmp src.img out-mem.img || fail "memory: nbdcopy out differs from what went in"
ok "memory: nbdcopy out is byte-identical"

truncate -s 256M dst.img
start_server file "$NBDKIT" file dst.img
must nbdcopy --connections=4 --flush "$(uri mem)" "$(uri file)"
ok "nbdcopy from our memory to our file export, 4 connections each"
must nbdcopy --connections=4 "$(uri file)" out-file.img
cmp src.img out-file.img || fail "file: nbdcopy out differs"
cmp src.img dst.img || fail "file: the served file differs from the source"
ok "file: nbdcopy out and the file itself are byte-identical"

# Ours to the reference and back again.
start_server ref "$REF_NBDKIT" memory 256M
must nbdcopy --connections=4 "$(uri file)" "$(uri ref)"
must nbdcopy --connections=4 "$(uri ref)" out-ref.img
cmp src.img out-ref.img || fail "copy from our server to the reference differs"
ok "ours -> reference -> file is byte-identical"

# Sparse copy: zero the source region on ours, copy out, must be zeroes.
must nbdsh -u "$(uri mem)" -c 'h.zero(64 * 1024 * 1024, 0)'
must nbdcopy --connections=4 "$(uri mem)" out-mem2.img
cmp -n 64M out-mem2.img /dev/zero || fail "zeroed region does not copy out as zeroes"
cmp -i 64M:64M out-mem2.img src.img || fail "the rest differs after zeroing the first 64M"
ok "zeroed first 64 MiB copies out as zeroes, rest intact"

# The pattern plugin: the same bytes as the reference's.
start_server pat "$NBDKIT" pattern 16M
start_server refpat "$REF_NBDKIT" pattern 16M
must nbdcopy --connections=4 "$(uri pat)" pat-ours.img
must nbdcopy "$(uri refpat)" pat-ref.img
cmp pat-ref.img pat-ours.img || fail "pattern plugin bytes differ from the reference's"
ok "pattern 16M: same bytes as the reference"

for s in mem file ref pat refpat; do
    stop_server $s
    expect_eq "$s: exit status after SIGTERM" 0 "$STOP_STATUS"
done
