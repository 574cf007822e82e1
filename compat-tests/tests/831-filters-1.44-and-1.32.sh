#!/usr/bin/env bash
# nbdkit 1.44.1's own plugins (eval, sh, python) and filters (delay,
# error, evil, ip, retry, retry-request, spinning, time-limit,
# blocksize-policy), loaded by path, compared with C nbdkit 1.44.1 loading
# the same files; then Debian's 1.32.5 filters in the same stack as 1.44.1
# ones, which only our server loads: they must answer as the all-1.44.1
# stack does in C nbdkit 1.44.1.
# compat-timeout: 240
source "$COMPAT_LIB"
need_ref144
need_filters delay error retry nozero
command -v nbdsh >/dev/null || skip "no nbdsh"
eval144=$(plugin144 eval)
sh144=$(plugin144 sh)
python144=$(plugin144 python)
declare -A F44
for f in delay error evil ip retry retry-request spinning time-limit blocksize-policy; do
    F44[$f]=$(filter144 "$f") || exit $?
done

head -c 1048576 /dev/urandom >"$T/disk.img"
disk=(get_size='echo 1048576'
      pread="dd if=$T/disk.img skip=\$4 count=\$3 iflag=skip_bytes,count_bytes status=none"
      pwrite="dd of=$T/disk.img seek=\$4 conv=notrunc oflag=seek_bytes status=none"
      can_write='exit 0')

# Run SCRIPT (bash, $uri set) against BINARY ARGS...: its output and the
# server's exit status.
served() {
    local bin=$1 script=$2
    shift 2
    "$bin" -U - "$@" --run "$script" 2>&1
    echo "status $?"
}
both() {                # both LABEL SCRIPT ARGS...: ours as C nbdkit 1.44.1
    local label=$1 script=$2 a b
    shift 2
    a=$(served "$REF144" "$script" "$@")
    b=$(served "$NBDKIT" "$script" "$@")
    grep -q '^status 0$' <<<"$a" || fail "$label: C nbdkit 1.44.1 failed: $a"
    _same "$label" "$a" "$b"
}

reads='nbdsh -u "$uri" -c "
import hashlib
for off in range(0, 1048576, 65536):
    print(off, hashlib.md5(h.pread(65536, off)).hexdigest())
print(h.get_block_size(nbd.SIZE_MINIMUM), h.get_block_size(nbd.SIZE_PREFERRED),
      h.get_block_size(nbd.SIZE_MAXIMUM))
"'

# 1. The eval plugin under every 1.44.1 filter (evil seeded: the same
# bits flip in the same sequential reads).
stack=(--filter="${F44[ip]}" --filter="${F44[time-limit]}" --filter="${F44[blocksize-policy]}"
       --filter="${F44[retry-request]}" --filter="${F44[retry]}" --filter="${F44[error]}"
       --filter="${F44[delay]}" --filter="${F44[spinning]}" --filter="${F44[evil]}")
opts=(allow=uid:"$(id -u)" deny=all time-limit=60s
      blocksize-minimum=512 blocksize-preferred=4096 blocksize-maximum=65536
      retry-request-retries=1 retry-request-delay=10ms retries=1 retry-delay=10ms
      error=EIO error-pread-rate=100% error-pread-file="$T/trigger"
      rdelay=1ms wdelay=2ms min-seek-time=0.001 half-seek-time=0.001 max-seek-time=0.002
      evil-probability=1e-4 evil-seed=7)
both "eval plugin, 1.44.1 filters: reads" "$reads" "${stack[@]}" "$eval144" "${disk[@]}" "${opts[@]}"
# The same stack without evil reads the disk as it is.
plain=$(served "$NBDKIT" "$reads" "${stack[@]:0:8}" "$eval144" "${disk[@]}" "${opts[@]:0:17}")
want=$(for off in $(seq 0 65536 983040); do
           echo "$off $(tail -c +$((off + 1)) "$T/disk.img" | head -c 65536 | md5sum | cut -d' ' -f1)"
       done)
_same "without evil: the disk's data" "$want" "$(head -n 16 <<<"$plain")"
expect_ne_evil=$(served "$NBDKIT" "$reads" "${stack[@]}" "$eval144" "${disk[@]}" "${opts[@]}")
[ "$(head -n 16 <<<"$expect_ne_evil")" != "$want" ] || fail "evil flipped no bit"

# The error filter's trigger: the reads fail after the retries, alike.
touch "$T/trigger"
fails='nbdsh -u "$uri" -c "
import errno
try:
    h.pread(512, 0)
    print(\"served\")
except nbd.Error as ex:
    print(\"read:\", errno.errorcode[ex.errnum])
"'
both "error-file present: the read fails" "$fails" "${stack[@]}" "$eval144" "${disk[@]}" "${opts[@]}"
rm -f "$T/trigger"

# ip: a client refused by deny=all alone.
refused='nbdinfo --size "$uri" >/dev/null 2>&1; echo "nbdinfo status $?"'
both "ip deny=all refuses the client" "$refused" --filter="${F44[ip]}" "$eval144" "${disk[@]}" deny=all

# blocksize-policy's blocksize-write-disconnect (nbdkit_disconnect): a
# write over the limit drops the connection.
bigwrite='nbdsh -u "$uri" -c "
import errno
h.pwrite(b\"a\" * 4096, 0)
print(\"small write served\")
try:
    h.pwrite(b\"b\" * 131072, 0)
    print(\"big write served\")
except nbd.Error as ex:
    print(\"big write:\", errno.errorcode.get(ex.errnum, ex.errnum))
"'
both "blocksize-write-disconnect" "$bigwrite" --filter="${F44[blocksize-policy]}" \
    "$eval144" "${disk[@]}" blocksize-write-disconnect=64K

# blocksize-error-policy=error over a disk whose size is not a multiple
# of the minimum block size: the unaligned tail is read and its extents
# asked (nbdkit_extents_aligned takes a count that ends at the disk's end).
tail='nbdsh --base-allocation -u "$uri" -c "
h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
def cb(ctx, off, entries, err):
    print(ctx, off, list(entries))
print(len(h.pread(2, 1024)))
h.block_status(2, 1024, cb)
h.block_status(1026, 0, cb)
"'
both "unaligned tail under blocksize-error-policy=error" "$tail" \
    --filter="${F44[blocksize-policy]}" "$eval144" blocksize-error-policy=error \
    block_size='echo 512 4096 1M' get_size='echo 1026' \
    pread='dd if=/dev/zero count=$3 iflag=count_bytes status=none'

# 2. The sh and python plugins under delay and retry-request.
cat >"$T/disk.sh" <<'EOF'
#!/usr/bin/env bash
case "$1" in
    get_size) echo 65536 ;;
    pread) head -c "$3" /dev/zero | tr '\0' 's' ;;
    *) exit 2 ;;
esac
EOF
chmod +x "$T/disk.sh"
cat >"$T/disk.py" <<'EOF'
import nbdkit
API_VERSION = 2
def open(readonly):
    return 1
def get_size(h):
    return 65536
def pread(h, buf, offset, flags):
    buf[:] = b"p" * len(buf)
def thread_model():
    return nbdkit.THREAD_MODEL_SERIALIZE_ALL_REQUESTS
EOF
small='nbdsh -u "$uri" -c "print(h.get_size(), h.pread(8, 100))"'
both "sh plugin" "$small" --filter="${F44[delay]}" --filter="${F44[retry-request]}" \
    "$sh144" "$T/disk.sh" rdelay=1ms
both "python plugin" "$small" --filter="${F44[delay]}" --filter="${F44[retry-request]}" \
    "$python144" "$T/disk.py" rdelay=1ms
both "python plugin --dump-plugin, filters' lines" "true" --filter="${F44[delay]}" \
    --filter="${F44[blocksize-policy]}" "$python144" "$T/disk.py" --dump-plugin

# 3. Debian's 1.32.5 filters and 1.44.1's in one stack (ours only): as
# the all-1.44.1 stack in C nbdkit 1.44.1.
mixed=(--filter="${F44[ip]}" --filter=retry --filter="${F44[blocksize-policy]}"
       --filter=error --filter="${F44[delay]}" --filter=nozero --filter="${F44[evil]}")
pure=(--filter="${F44[ip]}" --filter="${F44[retry]}" --filter="${F44[blocksize-policy]}"
      --filter="${F44[error]}" --filter="${F44[delay]}" --filter="${F44[evil]}")
mopts=(allow=uid:"$(id -u)" deny=all retries=1 retry-delay=1
       blocksize-minimum=512 blocksize-preferred=4096 blocksize-maximum=65536
       error=EIO error-pread-rate=100% error-pread-file="$T/trigger"
       rdelay=1ms evil-probability=1e-4 evil-seed=7)
a=$(served "$REF144" "$reads" "${pure[@]}" "$eval144" "${disk[@]}" "${mopts[@]}")
b=$(served "$NBDKIT" "$reads" "${mixed[@]}" "$eval144" "${disk[@]}" "${mopts[@]}")
grep -q '^status 0$' <<<"$a" || fail "C nbdkit 1.44.1 failed: $a"
_same "1.32.5 and 1.44.1 filters in one stack: reads" "$a" "$b"
touch "$T/trigger"
a=$(served "$REF144" "$fails" "${pure[@]}" "$eval144" "${disk[@]}" "${mopts[@]}")
b=$(served "$NBDKIT" "$fails" "${mixed[@]}" "$eval144" "${disk[@]}" "${mopts[@]}")
expect_match "C nbdkit 1.44.1: the read fails" "read: EIO" "$a"
_same "1.32.5 and 1.44.1 filters in one stack: error-file" "$a" "$b"
rm -f "$T/trigger"
# Their thread models combine (nozero: parallel; python: serialized).
b=$("$NBDKIT" "${mixed[@]}" "$python144" "$T/disk.py" "${mopts[@]}" --dump-plugin 2>&1)
expect_match "thread model of the mixed stack" "^thread_model=serialize_all_requests$" "$b"
expect_match "Debian's filter's lines in --dump-plugin" "^nozero_name=nozero$" "$b"
