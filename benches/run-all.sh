#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md with the flags its section documents, one after the
# other (they must not share the machine), and keeps each one's output in
# target/bench-results/<name>.txt beside machine.txt (CPU, cores, memory, kernel, commit).
# BENCHMARKS.md's tables are copied from these files, except query_scaling's, which its report
# script rewrites in place. Takes about an hour and a half on 2 cores.
#
#   bash benches/run-all.sh              # everything
#   bash benches/run-all.sh fluoro-load group_metrics   # some
set -euo pipefail
cd "$(dirname "$0")/.."
results=target/bench-results
release=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$results"

python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet duckdb
cargo build --release --locked -p fluoro-benches --bins
cargo build --release --locked -p fluoro-cli --bin fluoro

{
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (modified)')"
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
    echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GiB"
    echo "kernel: $(uname -sr)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$results/machine.txt"

# name, then its arguments: the first command of each BENCHMARKS.md section.
benches=(
    "fluoro-load --rate 20000 --seconds 10 --fluoro $release/fluoro"
    "udp_ingest"
    "ingest_parse --seconds 2"
    "logs_ingest"
    "block_format --spans 1000000"
    "block_format --shared-traces 100,500,1400"
    "analyzer_vs_duckdb"
    "dashboard_api"
    "metric_rollup --services 20"
    "group_metrics --spans 1000000"
    "insight_evaluation --traces-per-minute 600"
)

wanted=("$@")
declare -A runs
for bench in "${benches[@]}"; do
    name=${bench%% *}
    if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $name "* ]]; then
        continue
    fi
    # A benchmark run twice keeps both outputs: <name>.txt, then <name>-2.txt.
    runs[$name]=$(( ${runs[$name]:-0} + 1 ))
    output=$name
    [ "${runs[$name]}" -eq 1 ] || output="$name-${runs[$name]}"
    echo "--- $bench"
    # shellcheck disable=SC2086 # the arguments are meant to split
    "$release/$name" ${bench#"$name"} 2>&1 | tee "$results/$output.txt"
done
# Query cost from 1M to 30M spans: rewrites its BENCHMARKS.md section and docs/query-scaling.svg.
if [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" query_scaling "* ]]; then
    echo "--- query_scaling"
    python3 benches/python/query_scaling_report.py --run 2>&1 | tee "$results/query_scaling.txt"
fi
# Blocks in a bucket vs on local disk: its script starts moto (moto[server]) for it.
if [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" bucket_blocks "* ]]; then
    echo "--- bucket_blocks"
    bash benches/bucket-blocks.sh 2>&1 | tee "$results/bucket_blocks.txt"
fi
echo "results in $results/"
