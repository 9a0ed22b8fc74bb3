#!/usr/bin/env bash
# The overhead of `spillway proxy`: redis-benchmark straight against redis-server, through the
# proxy (default policies: key guard and spill on, so each SET goes in a MULTI of the proxy's own to release a replaced blob),
# through the proxy with --blob-release sweeper (spill on, SET forwarded as it is), through the
# proxy with --no-spill (the forwarding alone), and through twemproxy (Debian's nutcracker) in the
# same run, on free 127.0.0.1 ports.
#
#   scripts/bench-proxy.sh [SPILLWAY_BINARY] [REQUESTS]
#
# Build the binary in release first (swift build -c release --product spillway); the default is
# .build/release/spillway. Prints requests per second and the ratios to direct, then the CPU time
# (user + system, from /proc) per request of the process in the middle and of redis-server: on a
# shared machine throughput varies between runs, the CPU a request costs much less.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-.build/release/spillway}
requests=${2:-200000}
scripts/deps.sh redis-server redis-tools nutcracker
[ -x "$binary" ] || { echo "bench-proxy.sh: $binary is missing; build it with swift build -c release --product spillway" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "nothing answers on $1" >&2; exit 1; }

redis_port=$(port); proxy_port=$(port); sweeper_port=$(port); bare_port=$(port); twem_port=$(port)
declare -A pid
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!); pid[direct]=$!
ready "$redis_port"
"$binary" proxy --listen "127.0.0.1:$proxy_port" --upstream "redis://127.0.0.1:$redis_port" --blob-dir "$work/blobs" --log-level warning >"$work/proxy.log" 2>&1 &
pids+=($!); pid[proxy]=$!
ready "$proxy_port"
"$binary" proxy --listen "127.0.0.1:$sweeper_port" --upstream "redis://127.0.0.1:$redis_port" --blob-dir "$work/blobs" --blob-release sweeper --log-level warning >"$work/sweeper.log" 2>&1 &
pids+=($!); pid[sweeper]=$!
ready "$sweeper_port"
"$binary" proxy --listen "127.0.0.1:$bare_port" --upstream "redis://127.0.0.1:$redis_port" --no-spill --log-level warning >"$work/bare.log" 2>&1 &
pids+=($!); pid[nospill]=$!
ready "$bare_port"
cat >"$work/nutcracker.yml" <<YML
bench:
  listen: 127.0.0.1:$twem_port
  redis: true
  servers:
   - 127.0.0.1:$redis_port:1
YML
nutcracker -c "$work/nutcracker.yml" -o "$work/nutcracker.log" &
pids+=($!); pid[twemproxy]=$!
ready "$twem_port"

# CPU ticks (user + system) a process has used.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A rps cpu up
for pipeline in 1 16; do
    for target in direct:$redis_port proxy:$proxy_port sweeper:$sweeper_port nospill:$bare_port twemproxy:$twem_port; do
        name=${target%%:*}
        for test in SET GET; do
            before=$(ticks "${pid[$name]}"); redis_before=$(ticks "${pid[direct]}")
            out=$(redis-benchmark -p "${target##*:}" -c 50 -n "$requests" -P "$pipeline" -t "${test,,}" --csv)
            after=$(ticks "${pid[$name]}"); redis_after=$(ticks "${pid[direct]}")
            rps[$name,$test,$pipeline]=$(echo "$out" | awk -F'"' -v t="$test" '$2 == t { print $4 }')
            # Microseconds of CPU per request.
            cpu[$name,$test,$pipeline]=$(echo "($after - $before) * 1000000 / $hz / $requests" | bc -l)
            up[$name,$test,$pipeline]=$(echo "($redis_after - $redis_before) * 1000000 / $hz / $requests" | bc -l)
        done
    done
done
printf '%-4s %-3s %10s %10s %10s %10s %10s %8s %8s %8s %8s\n' test P direct proxy sweeper no-spill twemproxy proxy/d sweep/d nospl/d twem/d
for pipeline in 1 16; do
    for test in SET GET; do
        d=${rps[direct,$test,$pipeline]}; p=${rps[proxy,$test,$pipeline]}; w=${rps[sweeper,$test,$pipeline]}
        n=${rps[nospill,$test,$pipeline]}; t=${rps[twemproxy,$test,$pipeline]}
        printf '%-4s %-3s %10s %10s %10s %10s %10s %8.2f %8.2f %8.2f %8.2f\n' "$test" "$pipeline" "$d" "$p" "$w" "$n" "$t" \
            "$(echo "$p / $d" | bc -l)" "$(echo "$w / $d" | bc -l)" "$(echo "$n / $d" | bc -l)" "$(echo "$t / $d" | bc -l)"
    done
done
echo
echo "CPU per request, microseconds: the process in the middle (direct: redis-server itself), and redis-server behind it"
printf '%-4s %-3s %10s %10s %10s %10s %10s %8s %8s %8s %8s\n' test P direct proxy sweeper no-spill twemproxy r:proxy r:sweep r:nospl r:twem
for pipeline in 1 16; do
    for test in SET GET; do
        printf '%-4s %-3s %10.2f %10.2f %10.2f %10.2f %10.2f %8.2f %8.2f %8.2f %8.2f\n' "$test" "$pipeline" \
            "${cpu[direct,$test,$pipeline]}" "${cpu[proxy,$test,$pipeline]}" "${cpu[sweeper,$test,$pipeline]}" \
            "${cpu[nospill,$test,$pipeline]}" "${cpu[twemproxy,$test,$pipeline]}" "${up[proxy,$test,$pipeline]}" \
            "${up[sweeper,$test,$pipeline]}" "${up[nospill,$test,$pipeline]}" "${up[twemproxy,$test,$pipeline]}"
    done
done
