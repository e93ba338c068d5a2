#!/usr/bin/env bash
# Fuzzes every target of host/fuzz for FUZZ_SECONDS each (issue #8), from its seeds,
# its regressions and the corpus kept from earlier runs. Stable Rust: no sanitizer
# (`-s none`); a panic in a check is the crash. libFuzzer saves a crashing input under
# host/fuzz/artifacts/<target>/: fix the bug, then copy the input to
# host/fuzz/regressions/<target>/ so `make test` replays it.
# With OUT=dir, writes the table of runs to dir/fuzz.md (RELIABILITY.md §5).
set -euo pipefail
cd "$(dirname "$0")/../host"
cargo_fuzz="$1"
seconds="${FUZZ_SECONDS:-60}"
targets=(events event_data decision)
rows=""
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/regressions/$target"
    log="fuzz/artifacts/$target.log"
    mkdir -p fuzz/artifacts
    status=ok
    "$cargo_fuzz" fuzz run -s none "$target" \
        "fuzz/corpus/$target" "fuzz/seeds/$target" "fuzz/regressions/$target" \
        -- -max_total_time="$seconds" -max_len=16384 -dict=fuzz/json.dict \
        -print_final_stats=1 2>&1 | tee "$log" | grep -E '^(Done|==|thread|SUMMARY)' || true
    if ! grep -q '^Done' "$log"; then
        status="**crashed**: see host/fuzz/artifacts/$target/"
    fi
    runs=$(grep -oP '^stat::number_of_executed_units:\s*\K[0-9]+' "$log" || echo 0)
    features=$(grep -oP '^stat::new_units_added:\s*\K[0-9]+' "$log" || echo 0)
    coverage=$(grep -oP '^#[0-9]+\s+DONE\s+cov: \K[0-9]+' "$log" || echo "?")
    kept=$(find "fuzz/seeds/$target" "fuzz/regressions/$target" -type f | wc -l)
    rows+="| \`$target\` | $seconds s | $runs | $coverage | $features | $kept | $status |"$'\n'
done
table="| target | time | inputs run | edges covered | new inputs found | seeds + regressions | result |
|---|---|---|---|---|---|---|
$rows"
echo "$table"
if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    printf '%s\n' "$table" > "$OUT/fuzz.md"
fi
grep -q crashed <<<"$rows" && exit 1 || exit 0
