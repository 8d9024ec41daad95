#!/usr/bin/env bash
# The bash completion of tools/s4db-completion.bash, driven as bash drives it: COMP_WORDS
# and COMP_CWORD set, the completion function called, COMPREPLY checked.
set -euo pipefail
source "$(dirname "$0")/../tools/s4db-completion.bash"
failures=0
expect() {  # expect "WANT" WORD...: completing the last word gives WANT (space-separated)
  local want=$1
  shift
  COMP_WORDS=(s4db "$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _s4db
  local got="${COMPREPLY[*]}"
  if [[ $got != "$want" ]]; then
    echo "FAIL: s4db $* -> '$got', want '$want'"
    failures=$((failures + 1))
  fi
}
expect "keys" ke
expect "get gc" --dir db g
expect "del dump download drop-checkpoint" d
expect "--dir" keys --di
expect "--json" keys --j
expect "--create" put --cr
expect "rebase" --on-conflict re
expect "" keys k  # after the command, a key is the user's to type
expect "--from-store" rebuild-index --from
expect "--salvage" dump --sal
expect "--limit" keys --li
expect "load" lo
expect "convert" conv
expect "checkpoint" checkp
expect "drop-checkpoint" dr
expect "2 3" convert --format ""
expect "--format-version --format" convert --form
expect "merge" me
complete -p s4db >/dev/null
((failures == 0)) && echo "bash completion: all cases complete as expected"
exit $((failures > 0))
