#!/usr/bin/env bash
# Cold `kabar fetch` with two binaries, alternated (old, new, old, new …), so a drift in
# the machine's speed falls on both; prints each pair and the medians of the per-pair
# ratios new/old of wall and CPU time.
#
#   cargo bench --bench harness -- compare --runs 1 --no-peers --out /tmp/cmp   # corpus, config, nginx.conf
#   nginx -c /tmp/cmp/nginx.conf                                                 # serve it
#   benches/alternate.sh /tmp/cmp OLD_KABAR NEW_KABAR 7
#
# Each run fetches into a fresh database (a temporary folder, removed after). Needs GNU
# time (`apt-get install time`).
set -euo pipefail
dir=$1 old=$2 new=$3 runs=${4:-5}

# Prints "wall cpu" in seconds for one cold fetch by binary $1.
run() {
    local tmp
    tmp=$(mktemp -d)
    sed "s#^database = .*#database = \"$tmp/k.db\"#" "$dir/kabar-compare.toml" >"$tmp/k.toml"
    /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$1" --config "$tmp/k.toml" fetch >/dev/null 2>&1
    awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$tmp/time"
    rm -rf "$tmp"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

run "$new" >/dev/null # warm-up: the page cache and nginx
walls=() cpus=()
echo "pair  old wall  old cpu  new wall  new cpu"
for i in $(seq "$runs"); do
    read -r ow oc < <(run "$old")
    read -r nw nc < <(run "$new")
    echo "$i     $ow     $oc    $nw     $nc"
    walls+=("$(awk -v a="$nw" -v b="$ow" 'BEGIN { printf "%.4f", a / b }')")
    cpus+=("$(awk -v a="$nc" -v b="$oc" 'BEGIN { printf "%.4f", a / b }')")
done
echo "median new/old: wall $(printf '%s\n' "${walls[@]}" | median)×, CPU $(printf '%s\n' "${cpus[@]}" | median)×"
