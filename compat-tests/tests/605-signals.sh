# SIGTERM and SIGINT shut the server down cleanly (exit 0), also with a
# client connected.
source "$COMPAT_LIB"

start_server a "$NBDKIT" memory 1M
stop_server a
expect_eq "SIGTERM, idle: exit status" 0 "$STOP_STATUS"

start_server b "$NBDKIT" memory 1M
pid=${SERVER_PID[b]}
kill -INT "$pid"
for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "server still running 5 s after SIGINT"
wait "$pid"; rc=$?
SERVER_PID[b]=
expect_eq "SIGINT: exit status" 0 "$rc"

# With a client connected: see 610-sigterm-with-client.py.
