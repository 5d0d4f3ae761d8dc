#!/usr/bin/env bash
# The main job: install what is missing, build, index the sample corpora in
# corpus/ and run a few example queries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DQUIRE_TESTS=OFF -DQUIRE_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" --target quire >/dev/null
q=build/quire
rm -rf build/demo-index
# Moby-Dick's paragraphs go in through standard input, each given its
# chapter number as a field (a number to sort and filter by).
echo "== quire index --title-terms build/demo-index corpus/news-sample.txt -"
echo "   (standard input: corpus/moby-sample.jsonl, a \"chapter\" number added to each paragraph)"
sed -E 's/^\{("id": "moby\/([0-9]+)\/)/{"chapter": \2, \1/' corpus/moby-sample.jsonl |
  $q index --title-terms build/demo-index corpus/news-sample.txt -
echo
$q stats build/demo-index | sed -n '1,8p;/^numbers/p'
for query in '"does not conceed"' 'wikileaks AND "trump jr"' '(whale OR leviathan) -ship' \
             '"sperm whale"' '"whale sperm"~2' 'Ahab (harpoon OR lance)' 'queeqeg~1 harpon~' \
             'whale OR title:ship^3'; do
  echo
  n=$($q search --count build/demo-index "$query")
  [ "$n" = 1 ] && what=match || what=matches
  echo "== quire search build/demo-index '$query'   ($n $what)"
  $q search -k 3 build/demo-index "$query"
done
echo
echo "== quire search --sort -chapter -k 3 build/demo-index 'whale chapter:[10 TO 20]'"
$q search --sort -chapter -k 3 build/demo-index 'whale chapter:[10 TO 20]'
echo
echo "== quire search --json -k 2 build/demo-index 'queequeg'"
$q search --json -k 2 build/demo-index queequeg
