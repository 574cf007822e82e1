# -t 1: one thread per connection; 32 requests queued at once must all
# complete with the right data.
source "$COMPAT_LIB"

start_server t1 "$NBDKIT" -t 1 memory 4M
out=$(nbdsh -u "$(uri t1)" -c '
import nbd
data = [bytes([i]) * 65536 for i in range(32)]
for i in range(32):
    h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data[i])), i * 65536)
while h.aio_in_flight() > 0:
    h.poll(-1)
bufs = [nbd.Buffer(65536) for i in range(32)]
for i in range(32):
    h.aio_pread(bufs[i], i * 65536)
while h.aio_in_flight() > 0:
    h.poll(-1)
print(sum(bytes(bufs[i].to_bytearray()) == data[i] for i in range(32)))
') || fail "nbdsh against -t 1 failed: $out"
expect_eq "reads matching their writes with -t 1" 32 "$out"
stop_server t1
expect_eq "exit status after SIGTERM" 0 "$STOP_STATUS"
