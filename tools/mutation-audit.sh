#!/usr/bin/env bash
# A mutation audit of one module against chosen test files, on a copy of the last commit.
#
#   tools/mutation-audit.sh DIR MODULE [-k EXPR] TESTFILE...
#   MUTANTS="name name ..." tools/mutation-audit.sh ...     # only these mutants (a sample, or a re-check)
#   CHILDREN=2 (default) test processes at once
#
# The work tree is never touched: the audit runs in DIR (created afresh). See docs/mutation.md.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,8p' "$0"; exit 2; }
dir=$1 module=$2; shift 2
kexpr=""
if [ "$1" = "-k" ]; then kexpr=$2; shift 2; fi
top=$(git rev-parse --show-toplevel)
rm -rf "$dir" && mkdir -p "$dir"
git -C "$top" archive HEAD | tar -x -C "$dir"
{
  echo "[mutmut]"
  echo "source_paths = src/accountctl"
  echo "only_mutate = $module"
  echo "also_copy ="
  for extra in schemas docs tools bench README.md; do echo "    $extra"; done
  if [ -n "$kexpr" ]; then printf 'pytest_add_cli_args =\n    -k\n    %s\n' "$kexpr"; fi
  echo "pytest_add_cli_args_test_selection ="
  for test in "$@"; do echo "    $test"; done
} > "$dir/setup.cfg"
cd "$dir"
# shellcheck disable=SC2086  # MUTANTS is a list of names
mutmut run --max-children "${CHILDREN:-2}" ${MUTANTS:-} > run.log 2>&1 || true
mutmut export-cicd-stats > /dev/null && cat mutants/mutmut-cicd-stats.json && echo
mutmut results | grep -v "not checked" || true   # the mutants that were not killed
echo "audited in $dir ('mutmut show NAME' there shows a mutant's diff)"
