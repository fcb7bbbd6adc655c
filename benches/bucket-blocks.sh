#!/usr/bin/env bash
# Runs the bucket_blocks benchmark (BENCHMARKS.md, "Blocks in a bucket") against a moto S3
# server it starts on a free loopback port (moto[server] from requirements-test.txt), and stops
# it afterwards. Arguments go to the benchmark, e.g. --spans 1000000.
#
#   bash benches/bucket-blocks.sh --spans 300000
set -euo pipefail
cd "$(dirname "$0")/.."
release=${CARGO_TARGET_DIR:-target}/release
command -v moto_server >/dev/null || python3 -m pip install --quiet 'moto[server]'
cargo build --release --locked -p fluoro-benches --bin bucket_blocks

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    # Moto takes any credentials; an unsigned PUT creates the bucket.
    if curl -sf -X PUT "http://127.0.0.1:$port/fluoro-bench" >/dev/null; then
        break
    fi
    sleep 0.2
done
"$release/bucket_blocks" --endpoint "http://127.0.0.1:$port" --bucket s3://fluoro-bench/blocks "$@"
