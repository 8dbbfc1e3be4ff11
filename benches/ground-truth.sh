#!/usr/bin/env bash
# Latency and stall faults as ground truth for the metrics (issue 8, "Chaos part 1"):
#
# 1. The same small scenario twice on the embedded server, at the same time (so the machine's
#    noise hits both alike), without faults and with a fixed 20 ms REST latency rule; PAIRS
#    such pairs one after the other. Per operation: response p50 (corrected) without and with,
#    the difference, its error against 20 ms (µs and %), PASS within 1% (200 µs), and whether
#    it is also within 100 µs.
# 2. scenarios/chaos-stall.toml (20 ms latency, a 5 s stall from 10 s; customers' messages on an
#    open plan): per operation and customer metric, corrected against raw p99 and max, and how
#    much raw understates them.
#
# usage: benches/ground-truth.sh
# env:   GWSIM (binary, default target/release/gwsim; `cargo build --release` first),
#        PAIRS (default 2), DURATION (default 60s), STALL (default 1: run part 2)
# Needs jq. About (PAIRS x 75 s) + 55 s of wall time, both cores, best on a quiet machine.
# DURATION matters: at 4 customers/s a 20 s run has 80 Completes, whose p50 alone moves by
# 100-300 µs from run to run (sampling, not the fault); 60 s (240 each) keeps every row within
# 1% on a quiet machine (measured: 6 of 6 rows in 2 pairs, errors +33 to +148 µs).
set -euo pipefail

GWSIM=${GWSIM:-target/release/gwsim}
PAIRS=${PAIRS:-2}
DURATION=${DURATION:-60s}
STALL=${STALL:-1}
LATENCY_US=20000
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    # Only the runs this script started, by their pids.
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

scenario() { # $1: name, $2: "latency" or ""
    cat <<TOML
name = "ground-truth-$1"
[target]
kind = "embedded"
[run]
duration = "$DURATION"
warmup = "3s"
drain = "10s"
seed = 8
[[agents]]
name = "frontline"
count = 8
username = "truth-agent-{n}"
flow = "answer"
[customers]
arrival = { rate = "4/s" }
max_active = 100
messages = { count = 1, think = "300ms", text = "Are you there?" }
[flows.answer]
steps = [
  { op = "Accept" },
  { op = "SendMessage", text = "Hello, how can I help?" },
  { think = "300ms" },
  { op = "SendMessage", text = "Anything else?" },
  { think = "300ms" },
  { op = "Complete" },
]
TOML
    if [ "$2" = latency ]; then
        cat <<TOML
[faults]
[[faults.rule]]
kind = "latency"
latency = "20ms"
rate = 1.0
TOML
    fi
}

scenario base "" > "$WORK/base.toml"
scenario latency latency > "$WORK/latency.toml"

# p50 per flow operation: "name p50" lines.
p50s() { jq -r '.operations[] | select(.kind == "flow" and .response.corrected != null) | "\(.name) \(.response.corrected.p50)"' "$1"; }

echo "## fixed 20 ms REST latency: response p50 (corrected), without and with, same run side by side"
echo
echo "| pair | operation | p50 without | p50 with | difference | error | error % | within 1% | within 100 µs |"
echo "|---:|---|---:|---:|---:|---:|---:|---|---|"
fails=0
for pair in $(seq 1 "$PAIRS"); do
    PIDS=()
    "$GWSIM" run -q --json --out "$WORK/base-$pair" "$WORK/base.toml" > /dev/null 2> "$WORK/base-$pair.log" & PIDS+=($!)
    "$GWSIM" run -q --json --out "$WORK/latency-$pair" "$WORK/latency.toml" > /dev/null 2> "$WORK/latency-$pair.log" & PIDS+=($!)
    for p in "${PIDS[@]}"; do wait "$p" || true; done
    PIDS=()
    while read -r name without; do
        with=$(p50s "$WORK/latency-$pair/summary.json" | awk -v n="$name" '$1 == n { print $2 }')
        [ -z "$with" ] && continue
        awk -v pair="$pair" -v n="$name" -v a="$without" -v b="$with" -v want="$LATENCY_US" 'BEGIN {
            d = b - a; e = d - want; ae = e < 0 ? -e : e;
            ok1 = ae <= want / 100 ? "PASS" : "FAIL"; ok2 = ae <= 100 ? "yes" : "no";
            printf "| %d | %s | %.2f ms | %.2f ms | %.3f ms | %+d µs | %+.2f%% | %s | %s |\n",
                pair, n, a / 1000, b / 1000, d / 1000, e, 100 * e / want, ok1, ok2;
            exit (ok1 == "PASS" ? 0 : 1) }' || fails=$((fails + 1))
    done < <(p50s "$WORK/base-$pair/summary.json")
done
echo
if [ "$fails" -eq 0 ]; then echo "latency: PASS (every operation within 1% of 20 ms)"; else echo "latency: FAIL ($fails rows off by more than 1%)"; fi

[ "$STALL" = 1 ] || exit 0
echo
echo "## scenarios/chaos-stall.toml: a 5 s stall, corrected against raw"
echo
echo "Operations' response (agents' closed-loop flows) and the customers' metrics (open-paced"
echo "messages: customer.send, customer.to_agent), p99 and max, and how much raw understates them."
echo
"$GWSIM" run -q --json --out "$WORK/stall" scenarios/chaos-stall.toml > /dev/null 2> "$WORK/stall.log" || true
echo "| metric | count | corrected p99 | raw p99 | p99 understated by | corrected max | raw max | max understated by |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
jq -r 'def row($n; $t): "| \($n) | \($t.count) | \($t.corrected.p99 / 1000) ms | \($t.raw.p99 / 1000) ms | \(($t.corrected.p99 - $t.raw.p99) / 1000) ms | \($t.corrected.max / 1000) ms | \($t.raw.max / 1000) ms | \(($t.corrected.max - $t.raw.max) / 1000) ms |";
  ( .operations[] | select(.kind == "flow" and .response.corrected != null and .response.raw != null)
    | row("\(.name).response"; .response) ),
  ( .customers | to_entries[] | select((.value | type) == "object" and .value.corrected != null and .value.raw != null)
    | row("customer.\(.key)"; .value) )' \
  "$WORK/stall/summary.json"
echo
echo "violations: $(jq '.violations.total // .violations.count // 0' "$WORK/stall/summary.json" 2>/dev/null || echo '?')"
