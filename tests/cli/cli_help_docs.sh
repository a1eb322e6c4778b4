#!/bin/sh
# cli_help_docs.sh CIS CLI_MD -- the command list of `cis help` and the
# synopsis at the top of docs/cli.md name the same commands, and `cis
# help`'s line for skill names every subcommand `cis skill help` lists, so
# neither falls behind when a command is added.
set -u
cis=$1
doc=$2
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Commands: the two-space-indented first word of each line of the list.
"$cis" help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | sort >"$tmp/help"
sed -n '/^cis COMMAND/,/^```/p' "$doc" | awk 'NR > 1 && /^  [a-z]/ { print $1 }' | sort >"$tmp/doc"
if ! cmp -s "$tmp/help" "$tmp/doc"; then
  echo "FAIL cis help and docs/cli.md's synopsis differ (< cis help, > docs):"
  diff "$tmp/help" "$tmp/doc"
  fails=$((fails + 1))
fi
[ -s "$tmp/help" ] || { echo "FAIL cis help lists no command"; fails=$((fails + 1)); }
line=$("$cis" help | awk '$1 == "skill"')
for sub in $("$cis" skill help | sed -n '/^Subcommands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'); do
  [ "$sub" = help ] && continue
  case "$line" in
  *"$sub"*) ;;
  *) echo "FAIL cis help's skill line leaves out $sub: $line"; fails=$((fails + 1)) ;;
  esac
done
echo "cli_help_docs: $fails failed"
[ "$fails" = 0 ]
