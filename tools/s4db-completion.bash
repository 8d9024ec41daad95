# bash completion for s4db (installed as share/bash-completion/completions/s4db).
# Completes the command, the global options (before or after it), each command's own
# options, and paths where an option takes one.
_s4db() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
  fi
  local commands="get put del keys dump stat verify compact upload gc refresh download rebuild-index load merge
    checkpoint drop-checkpoint convert"
  local global="--dir --s3 --endpoint --endpoint-url --region --profile --timeout --retries --local-dir
    --no-cache --no-upload --no-fence --on-conflict --format-version --checkpoint --help --version"
  case $prev in
    --dir | --local-dir)
      COMPREPLY=($(compgen -d -- "$cur"))
      return
      ;;
    --file)
      COMPREPLY=($(compgen -f -- "$cur"))
      return
      ;;
    --on-conflict)
      COMPREPLY=($(compgen -W "rebase keep-local take-store fail" -- "$cur"))
      return
      ;;
    --format-version)
      COMPREPLY=($(compgen -W "1 2 3" -- "$cur"))
      return
      ;;
    --format)
      COMPREPLY=($(compgen -W "2 3" -- "$cur"))
      return
      ;;
    --s3 | --endpoint | --endpoint-url | --region | --profile | --timeout | --retries | --grace | --prefix | --from | --to | --limit | --checkpoint)
      return
      ;;
  esac
  local command="" i
  for ((i = 1; i < cword; i++)); do
    if [[ " $commands " == *" ${words[i]} "* ]]; then
      command=${words[i]}
      break
    fi
  done
  local own=""
  case $command in
    get) own="--json" ;;
    put) own="--create --file --stdin" ;;
    load) own="--create" ;;
    del) own="--prefix --from --to" ;;
    keys) own="--prefix --from --to --reverse --json --limit" ;;
    dump) own="--prefix --from --to --reverse --salvage" ;;
    stat) own="--json" ;;
    gc) own="--grace" ;;
    download) own="--force" ;;
    rebuild-index) own="--from-store --allow-drop" ;;
    convert) own="--format" ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$global $own" -- "$cur"))
  elif [[ -z $command ]]; then
    COMPREPLY=($(compgen -W "$commands" -- "$cur"))
  fi
}
complete -F _s4db s4db
