#!/usr/bin/env bash
# Proves that a fresh machine gets every Debian package a build used: each header the
# compiler read (ninja's dependency log) and each library the linker was given, outside
# the build and source trees, maps with `dpkg -S` to a package, and every such package is
# one scripts/setup.sh MODE installs, or a dependency of one.
#
#   scripts/check-packages.sh build|test BUILD_DIR...
set -euo pipefail
cd "$(dirname "$0")/.."
mode=$1
shift

# Files the builds used from the system: headers, and libraries named on link lines.
used_files() {
  for dir in "$@"; do
    ninja -C "$dir" -t deps | grep -oE '^[[:space:]]+/usr/[^ ]+' | tr -d ' \t'
    ninja -C "$dir" -t commands | tr ' ' '\n' | grep -E '^(/usr/lib/.*\.(so|a)|-l[A-Za-z0-9_+.-]+)$' |
      while read -r word; do
        if [[ $word == -l* ]]; then
          file=$(g++ -print-file-name="lib${word#-l}.so")
          [[ $file == /* ]] && echo "$file"
        else
          echo "$word"
        fi
      done
  done | sort -u
}

files=$(used_files "$@" | xargs -r realpath --no-symlinks | sort -u)
[[ -n $files ]] || { echo "check-packages: no dependency information in $*" >&2; exit 1; }
# Packages owning these files, one dpkg call for all; the files it does not know by that
# name are printed. dpkg knows a file by the path its package installed, which may sit
# behind a symlink or, with merged /usr, without the /usr.
owners() { xargs -r dpkg -S 2>&1 | sed -nE 's/^dpkg-query: no path found matching pattern (.*)$/UNOWNED \1/p; /^[^ ]+: \//p'; }
first=$(owners <<<"$files")
second=$({ grep '^UNOWNED ' <<<"$first" || true; } | cut -d' ' -f2 | while read -r f; do
  real=$(readlink -f "$f")
  if dpkg -S "$real" >/dev/null 2>&1; then echo "$real"; else echo "${real#/usr}"; fi
done | owners)
owned=$(printf '%s\n%s\n' "$first" "$second" | grep -v '^UNOWNED ' | grep .)
if grep -q '^UNOWNED ' <<<"$second"; then
  echo "check-packages: the build used files no Debian package owns:" >&2
  grep '^UNOWNED ' <<<"$second" >&2
  exit 1
fi
used=$(cut -d: -f1 <<<"$owned" | tr ',' '\n' | tr -d ' ' | sort -u)
mapfile -t named < <(scripts/setup.sh --list "$mode")
closure=$({
  printf '%s\n' "${named[@]}"
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances "${named[@]}" | grep -vE '^[[:space:]]|^<'
} | sed 's/:.*//' | sort -u)
missing=$(comm -23 <(echo "$used") <(echo "$closure"))
if [[ -n $missing ]]; then
  echo "check-packages: the build used Debian packages that 'scripts/setup.sh $mode' does not install:" >&2
  echo "$missing" | sed 's/^/  /' >&2
  exit 1
fi
echo "check-packages ($mode): $(wc -l <<<"$used") packages used by $*, all installed by scripts/setup.sh $mode"
