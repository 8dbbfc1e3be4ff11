#!/usr/bin/env bash
# Memory per idle agent at scale, the measurement of issue 11 part 3: for each agent count and
# transport, `gwsim serve` in its own process and `gwsim run --target` against it (idle agents,
# no customers, 20 s), the client's peak RSS from `/usr/bin/time -v`, the server's VmHWM from
# /proc, each process's peak anonymous memory (its heap and stacks: the RSS without the pages of
# the binary and its libraries, which the page cache holds once for every process), the memory
# each agent adds (marginal: peak RSS less a one-agent run's, per further agent; about 10 MiB of
# a process is its program text and runtime, which at 1,000 agents is 10 KiB of the per-agent
# quotient), and the errors of the run (logout's apart). Prints a Markdown table for the README.
#
# usage: benches/scale-idle.sh [N ...]           (default: 1000 5000 15000)
# env:   GWSIM (binary, default target/release/gwsim), PORT (default 18090),
#        TRANSPORTS (default "websocket long-polling"), DURATION (default 20s)
# Heavy: 15,000 agents take minutes of both cores; run it on a quiet machine.
set -euo pipefail

GWSIM=${GWSIM:-target/release/gwsim}
PORT=${PORT:-18090}
TRANSPORTS=${TRANSPORTS:-"websocket long-polling"}
DURATION=${DURATION:-20s}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(1000 5000 15000)
WORK=$(mktemp -d)
SERVER=""
cleanup() {
    # Only the server this script started, by its pid.
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Follows a process until it exits and prints its peak anonymous memory in KiB: the most of the
# RssAnon samples (10 per second) and of VmHWM - RssFile as last read (the file-backed pages, the
# binary's code, only grow once loaded, so this catches a peak between two samples). Bounded by the
# process's life, which the caller bounds.
peak_anon() {
    local pid=$1 peak=0 hwm=0 file=0 anon line
    while line=$(awk '/^(VmHWM|RssAnon|RssFile):/ {printf "%s ", $2}' "/proc/$pid/status" 2>/dev/null) \
        && [ -n "$line" ]; do
        read -r hwm anon file <<< "$line"
        [ "$anon" -gt "$peak" ] && peak=$anon
        sleep 0.1
    done
    [ $((hwm - file)) -gt "$peak" ] && peak=$((hwm - file))
    echo "$peak"
}
export GWSIM_SCALE_PASSWORD=scale-bench-password

# Runs N idle agents over TRANSPORT against a fresh server and sets RSS, HWM (KiB), CLIENT_ANON,
# SERVER_ANON (KiB), CPU_USER, CPU_SYS (s), ERRORS and LOGOUT.
measure() {
    local n=$1 transport=$2 scenario out server_watch timer client summary
    scenario="$WORK/idle-$n.toml"
    cat > "$scenario" <<TOML
name = "idle-$n"
[target]
kind = "embedded"
transport = "$transport"
media = "chat"
[run]
duration = "$DURATION"
warmup = "0s"
drain = "0s"
seed = 1
[[agents]]
name = "idle"
count = $n
username = "agent-{n}"
readiness = "not-ready"
flow = "idle"
[flows.idle]
steps = [{ op = "Reject" }]
TOML
    "$GWSIM" serve --bind "127.0.0.1:$PORT" --users-from "$scenario" \
        --password-env GWSIM_SCALE_PASSWORD > "$WORK/serve.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$PORT/api/v2/diagnostics/version" > /dev/null 2>&1 && break
        sleep 0.1
    done
    out="$WORK/run-$n-$transport"
    peak_anon "$SERVER" > "$WORK/server-anon" &
    server_watch=$!
    /usr/bin/time -v "$GWSIM" run "$scenario" --target "http://127.0.0.1:$PORT" \
        --transport "$transport" --password-env GWSIM_SCALE_PASSWORD --quiet --out "$out" \
        > "$WORK/run.log" 2> "$WORK/time.log" &
    timer=$!
    client=""
    for _ in $(seq 100); do
        client=$(pgrep -P "$timer" || true)
        [ -n "$client" ] && break
        sleep 0.05
    done
    client_anon=$( [ -n "$client" ] && peak_anon "$client" || echo 0)
    wait "$timer" || true
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status")
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
    wait "$server_watch" || true
    server_anon=$(cat "$WORK/server-anon")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.log")
    user=$(awk -F': ' '/User time/ {print $2}' "$WORK/time.log")
    sys=$(awk -F': ' '/System time/ {print $2}' "$WORK/time.log")
    summary="$out/summary.json"
    if [ -f "$summary" ]; then
        errors=$(jq '[.operations[] | .errors + (.warmup.errors // 0)] | add // 0' "$summary")
        logout=$(jq '[.operations[] | select(.name == "EndContactCenterSession" or .name == "Disconnect") | .errors + (.warmup.errors // 0)] | add // 0' "$summary")
    else
        errors="no summary"; logout="-"
        tail -5 "$WORK/run.log" "$WORK/time.log" >&2
    fi
    grep -E " (WARN|ERROR) " "$WORK/run.log" "$WORK/time.log" | head -5 >&2 || true
    RSS=$rss HWM=$hwm CLIENT_ANON=$client_anon SERVER_ANON=$server_anon CPU_USER=$user CPU_SYS=$sys
    ERRORS=$errors LOGOUT=$logout
}

echo "| agents | transport | client peak RSS | client KiB/agent | client marginal KiB/agent | client anon KiB/agent | server VmHWM | server KiB/agent | server marginal KiB/agent | server anon KiB/agent | client CPU s (user + sys) | errors | logout errors |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for transport in $TRANSPORTS; do
    # One agent first: what each process costs before any agent (its code, runtime, libraries),
    # so that the marginal columns are the memory each further agent adds.
    measure 1 "$transport"
    base_rss=$RSS base_hwm=$HWM
    for n in "${SIZES[@]}"; do
        measure "$n" "$transport"
        printf "| %s | %s | %d MiB | %d | %d | %d | %d MiB | %d | %d | %d | %s + %s | %s | %s |\n" "$n" \
            "$transport" $((RSS / 1024)) $((RSS / n)) $((n > 1 ? (RSS - base_rss) / (n - 1) : 0)) \
            $((CLIENT_ANON / n)) $((HWM / 1024)) $((HWM / n)) $((n > 1 ? (HWM - base_hwm) / (n - 1) : 0)) \
            $((SERVER_ANON / n)) "$CPU_USER" "$CPU_SYS" "$ERRORS" "$LOGOUT"
    done
done
