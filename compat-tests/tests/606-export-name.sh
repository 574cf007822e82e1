# -e NAME: the export name used in $uri; a client asking for NAME (or
# for "") is served (nbdkit 1.32.5's built-ins accept any name).
source "$COMPAT_LIB"

start_server e "$NBDKIT" -e myexport memory 1M
out=$(nbdinfo --json "$(uri e myexport)") || fail "nbdinfo with export name myexport failed"
expect_match "nbdinfo sees export-name myexport" '"export-name": "myexport"' "$out"
expect_match "and the size" '"export-size": 1048576' "$out"
must nbdsh -u "$(uri e myexport)" -c 'h.pwrite(b"e" * 512, 0)'
out=$(nbdsh -u "$(uri e)" -c 'print(bytes(h.pread(4, 0)))') || fail "nbdsh with the default export name failed"
expect_eq "the default name reaches the same disk" "b'eeee'" "$out"
stop_server e
expect_eq "exit status after SIGTERM" 0 "$STOP_STATUS"
