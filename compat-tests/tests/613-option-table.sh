#!/usr/bin/env bash
# The option table is nbdkit 1.44.1's: --long-options and --short-options
# (bash completion reads them) print the same lists, getopt_long's prefix
# matching resolves or rejects the same abbreviations with the same words,
# and the same combinations of listening options are accepted or refused.
source "$COMPAT_LIB"
need_ref144
REF_NBDKIT=$REF144
NULL=$(ref144_plugin null)

expect_eq "--long-options" "$("$REF_NBDKIT" --long-options)" "$("$NBDKIT" --long-options)"
expect_eq "--short-options" "$("$REF_NBDKIT" --short-options)" "$("$NBDKIT" --short-options)"
expect_eq "--long-options ends parsing where it stands" \
    "$("$REF_NBDKIT" --long-options -x 2>&1; echo "exit $?")" "$("$NBDKIT" --long-options -x 2>&1; echo "exit $?")"

# First line of the answer (the program name, which getopt prints, is
# the path each was started by: shown as PROG), and the exit status.
answer() {              # answer BINARY ARGS...
    local b=$1 out rc; shift
    out=$(timeout 10 "$b" "$@" </dev/null 2>&1); rc=$?
    # What a refusal says (a success prints the binary's own paths).
    [ $rc = 0 ] || printf '%s\n' "$out" | head -1 | sed -E "s|^$b:|PROG:|; s|^nbdkit[^:]*:|nbdkit:|"
    echo "exit $rc"
}
n=0
for a in --lo --long --sh --no-s --no-f --ip --ip-a --ex --expo --tls-v --u --vs --ve \
         --d --du --s --t --p --r --f --no --i --v --n --ne --old --he --m \
         --foo=3 --help=3 --swap=1 -x -p --ipaddr; do
    want=$(answer "$REF_NBDKIT" $a "$NULL" --dump-plugin)
    got=$(answer "$NBDKIT" $a null --dump-plugin)
    [ "$want" = "$got" ] || expect_eq "$a" "$want" "$got"
    n=$((n + 1))
done
ok "$n abbreviations and bad options answered as nbdkit"

# Which listening options go together (a bad combination is refused
# before anything is loaded; a good one gets as far as --version).
declare -A O=([p]="-p 1" [i]="-i 127.0.0.2" [U]="-U $T/nx.sock" [s]="-s" [v]="--vsock"
              [r]="--run false" [d]="--dump-plugin" [h]="--help" [V]="--version")
combos() {              # combos BINARY
    local a b
    for a in p i U s v r d h V; do for b in p i U s v r d h V; do
        [[ $a < $b ]] || continue
        # shellcheck disable=SC2086
        printf '%s%s=%s ' "$a" "$b" "$(timeout 5 "$1" ${O[$a]} ${O[$b]} --version "$2" 2>&1 </dev/null |
            grep -c 'cannot be used')"
    done; done
}
expect_eq "accepted and refused combinations" "$(combos "$REF_NBDKIT" "$NULL")" "$(combos "$NBDKIT" null)"
