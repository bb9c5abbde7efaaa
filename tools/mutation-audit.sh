#!/usr/bin/env bash
# A mutation audit of some modules against chosen test files, on a copy of the last commit.
#
#   tools/mutation-audit.sh DIR MODULE[,MODULE...] [-k EXPR] TESTFILE...
#   MUTANTS="name name ..." tools/mutation-audit.sh ...   # only these mutants (a sample, or a re-check)
#   SAMPLE=N tools/mutation-audit.sh ...                  # a random N of the modules' mutants (SEED=... to repeat)
#   CHILDREN=2 (default) test processes at once
#
# Code that runs in child processes (the agent, `python -m accountctl...`) is audited too: see
# tools/mutation/mutation_children.py. The work tree is never touched: the audit runs in DIR
# (created afresh). See docs/mutation.md.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,11p' "$0"; exit 2; }
dir=$1 modules=$2; shift 2
kexpr=""
if [ "$1" = "-k" ]; then kexpr=$2; shift 2; fi
top=$(git rev-parse --show-toplevel)
rm -rf "$dir" && mkdir -p "$dir"
git -C "$top" archive HEAD | tar -x -C "$dir"
{
  echo "[mutmut]"
  echo "source_paths = src/accountctl"
  echo "only_mutate ="
  for module in ${modules//,/ }; do echo "    $module"; done
  echo "also_copy ="
  for extra in schemas docs tools bench README.md; do echo "    $extra"; done
  echo "pytest_add_cli_args ="
  printf '    -p\n    mutation_children\n'
  if [ -n "$kexpr" ]; then printf '    -k\n    %s\n' "$kexpr"; fi
  echo "pytest_add_cli_args_test_selection ="
  for test in "$@"; do echo "    $test"; done
} > "$dir/setup.cfg"
cd "$dir"
export PYTHONPATH="$dir/tools/mutation${PYTHONPATH:+:$PYTHONPATH}"
mutants=${MUTANTS:-}
if [ -n "${SAMPLE:-}" ] && [ -z "$mutants" ]; then
  # Generate the mutants and the statistics with a run of no mutant, then draw the sample.
  mutmut run 'no-such-mutant-*' > generate.log 2>&1 || true
  mutants=$(mutmut results --all true 2>/dev/null | awk -F: '/__mutmut_/{print $1}' | tr -d ' ' \
    | python3 -c "import random,sys; n=sorted(set(sys.stdin.read().split())); random.seed('${SEED:-accountctl}'); print(' '.join(random.sample(n, min(len(n), ${SAMPLE}))))")
  echo "a random ${SAMPLE} of $(mutmut results --all true 2>/dev/null | grep -c __mutmut_) mutants"
fi
# shellcheck disable=SC2086  # a list of names
mutmut run --max-children "${CHILDREN:-2}" $mutants > run.log 2>&1 || true
mutmut export-cicd-stats > /dev/null && cat mutants/mutmut-cicd-stats.json && echo
mutmut results | grep -v "not checked" || true   # the mutants that were not killed
echo "audited in $dir ('mutmut show NAME' there shows a mutant's diff)"
