#!/usr/bin/env bash
# docs/conventions.md, File size: files stay small. Fail at 1,000 lines, warn at 600.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
while IFS= read -r f; do
  n=$(wc -l < "$f")
  if [ "$n" -gt 1000 ]; then echo "line budget: $f has $n lines (> 1000)"; status=1
  elif [ "$n" -gt 600 ]; then echo "line budget: $f has $n lines (review at 600)"; fi
done < <(git ls-files 'src/*' 'cli/*' 'tests/*.cpp' 'tests/**/*.cpp' 'bench/*' | grep -E '\.(h|cpp)$')
[ $status -eq 0 ] && echo "line budget: ok"
exit $status
