# Captive mode: -U - with --run; $uri is set, and nbdkit's exit status is
# the command's.
source "$COMPAT_LIB"

out=$(timeout 30 "$NBDKIT" -U - memory 1G --run 'nbdinfo --size "$uri"' 2>run.log); rc=$?
expect_eq "--run 'nbdinfo --size \$uri': exit status" 0 "$rc"
expect_eq "--run 'nbdinfo --size \$uri': output" 1073741824 "$out"

timeout 30 "$NBDKIT" -U - memory 1M --run 'exit 3' 2>>run.log; rc=$?
expect_eq "--run 'exit 3': nbdkit's exit status" 3 "$rc"

out=$(timeout 30 "$NBDKIT" -U - memory 1M --run 'echo "$uri"' 2>>run.log); rc=$?
expect_eq "--run 'echo \$uri': exit status" 0 "$rc"
# nbdkit 1.32.5 writes it without the "/" before "?" when -e is not given.
expect_match "\$uri is an nbd+unix URI" '^nbd\+unix://\?socket=/' "$out"
size=$(nbdinfo --size "$out" 2>&1)
[ "$size" = 1048576 ] && fail "the server is still serving after --run finished (nbdinfo $out got $size)"
ok "the socket in \$uri is gone once --run has finished"

out=$(timeout 30 "$NBDKIT" -U - -e foo memory 1M --run 'nbdinfo --json "$uri"' 2>>run.log); rc=$?
expect_eq "-e foo --run nbdinfo: exit status" 0 "$rc"
expect_match "-e foo: the export name in \$uri is used" '"export-name": "foo"' "$out"

out=$(timeout 30 "$NBDKIT" -U - memory 1M --run 'nbdsh -u "$uri" -c "h.pwrite(b\"x\" * 512, 0); print(bytes(h.pread(3, 0)))"' 2>>run.log); rc=$?
expect_eq "--run nbdsh write+read: exit status" 0 "$rc"
expect_eq "--run nbdsh write+read: output" "b'xxx'" "$out"

# $uri, $unixsocket, ... are variables of the command's shell, not
# exported: a program the command starts does not see them.
out=$(timeout 30 "$NBDKIT" -U - memory 1M --run 'echo "shell:${uri:+set}"; sh -c "echo \"child:\${uri:-unset}\${unixsocket:-}\${exportname:-}\""' 2>>run.log)
expect_eq "--run: \$uri in the shell, not in its children" "shell:set
child:unset" "$out"
# The export name and the socket path are %-quoted in $uri (all but
# letters, digits and /.-_~), and work as a URI.
mkdir -p "d i&r"
name='a/b:c@d é!'
out=$(timeout 30 "$NBDKIT" -U "$PWD/d i&r/s.sock" -e "$name" memory 1M \
      --run 'echo "$uri"; nbdinfo --json "$uri" | grep export-name' 2>>run.log)
expect_eq "-e '$name' -U 'd i&r/s.sock': \$uri and what it reaches" \
    "nbd+unix:///a/b%3Ac%40d%20%C3%A9%21?socket=${PWD// /%20}/d%20i%26r/s.sock
	\"export-name\": \"$name\"," "$out"

# The command starts before -u/-g change who the server is: it runs as
# whoever started nbdkit, while the server runs as the user given.
if [ "$(id -u)" = 0 ] && getent passwd nobody >/dev/null && getent group nogroup >/dev/null; then
    run_ids='echo "command $(id -u) $(id -g)"; nbdinfo --size "$uri"'
    want=$(timeout 30 "$REF_NBDKIT" -u nobody -g nogroup -U - memory 1M --run "$run_ids" 2>&1)
    got=$(timeout 30 "$NBDKIT" -u nobody -g nogroup -U - memory 1M --run "$run_ids" 2>&1)
    expect_eq "C nbdkit's command under -u/-g" "command 0 0
1048576" "$want"
    expect_eq "our command under -u/-g" "$want" "$got"
fi

# A server that fails to start once the command runs (an unknown -u):
# the command still runs to its end, and its status, when not 0, is
# nbdkit's.
out=$(timeout 30 "$NBDKIT" -u no-such-user -U - memory 1M --run 'sleep 0.2; echo ran; exit 3' 2>&1); rc=$?
expect_eq "an unknown -u with --run 'exit 3': exit status" 3 "$rc"
expect_match "the command ran to its end" 'ran$' "$out"
expect_match "the server said why it stopped" 'no-such-user is not a valid user' "$out"
