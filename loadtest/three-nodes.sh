#!/bin/sh
# Shape 1 on three Natter nodes (docs/performance.md, "How to run the
# 3-node figures"): the nodes share rooms through one NATS server and
# accounts through one PostgreSQL; the generator spreads each room's
# sockets over the three (-spread sockets). NODES=1 runs shape 1 on one
# node alone (SQLite, no NATS), the figure to compare with, in the same
# way. Run it from the repository's root, on a quiet machine:
#
#   DATABASE_URL=postgres://natter:PASSWORD@127.0.0.1/natter loadtest/three-nodes.sh
#   NODES=1 loadtest/three-nodes.sh
#
# DATABASE_URL's user must be able to create a schema: the accounts go in
# schema $SCHEMA, made if missing and kept between runs, as are the
# session cookies, so only the first run signs the accounts up.
#
# Every run starts fresh servers: NATS and the nodes pinned to
# SERVER_CPUS, the generator to GEN_CPUS (the machine of
# docs/performance.md has two cores: every server on one, the generator
# on the other). Each run's JSON is kept in $WORK/NODES-nodes-N.json and
# summed up at the end. TRIAL=1 runs a small shape once, to check that
# everything starts: its figures mean nothing.
set -eu

NODES=${NODES:-3}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/natter-3nodes}
SCHEMA=${SCHEMA:-natter_3nodes}
SERVER_CPUS=${SERVER_CPUS:-0}
GEN_CPUS=${GEN_CPUS:-1}
BASE_PORT=${BASE_PORT:-8081} # the nodes listen on BASE_PORT, +1, +2
NATS_PORT=${NATS_PORT:-4222}
NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-8222}
USERS=${USERS:-1000}
# Shape 1: 2 rooms x 500 sockets, 50 msg/s per room (50,000 deliveries/s).
SHAPE=${SHAPE:--rooms 2 -per-room 500 -senders 4 -rate 50 -warmup 5s -duration 30s}
if [ "${TRIAL:-}" = 1 ]; then
	RUNS=1 USERS=60
	SHAPE="-rooms 2 -per-room 30 -senders 2 -rate 10 -warmup 1s -duration 3s"
fi

case $NODES in
1 | 3) ;;
*)
	echo "three-nodes.sh: NODES must be 1 or 3" >&2
	exit 1
	;;
esac
if [ "$NODES" = 3 ] && [ -z "${DATABASE_URL:-}" ]; then
	echo "three-nodes.sh: set DATABASE_URL to a PostgreSQL database whose user may create a schema" >&2
	exit 1
fi
for cmd in go taskset curl jq; do
	command -v $cmd >/dev/null || {
		echo "three-nodes.sh: $cmd is needed" >&2
		exit 1
	}
done
[ -f go.mod ] && [ -d loadtest ] || {
	echo "three-nodes.sh: run it from Natter's repository root" >&2
	exit 1
}

mkdir -p "$WORK"
echo "building natter, loadtest and nats-server (the version in go.mod) into $WORK"
go build -o "$WORK/natter" .
go build -o "$WORK/loadtest" ./loadtest
go build -o "$WORK/nats-server" github.com/nats-io/nats-server/v2
"$WORK/nats-server" --version

if [ "$NODES" = 3 ]; then
	command -v psql >/dev/null || {
		echo "three-nodes.sh: psql is needed to make schema $SCHEMA" >&2
		exit 1
	}
	PGOPTIONS="-c client_min_messages=warning" psql -q "$DATABASE_URL" -c "CREATE SCHEMA IF NOT EXISTS $SCHEMA"
	case $DATABASE_URL in
	*\?*) DB="$DATABASE_URL&search_path=$SCHEMA" ;;
	*) DB="$DATABASE_URL?search_path=$SCHEMA" ;;
	esac
fi

PIDS=""
stop_all() {
	for pid in $PIDS; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $PIDS; do
		wait "$pid" 2>/dev/null || true
	done
	PIDS=""
}
trap stop_all EXIT
trap 'stop_all; exit 1' INT TERM

# wait_ok URL: until it answers 200, at most 30 s.
wait_ok() {
	i=0
	until curl -fs -o /dev/null "$1"; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			echo "three-nodes.sh: $1 did not answer 200 within 30 s" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# start_servers: NATS (three nodes only) and the nodes, each logging to
# $WORK; sets PIDS and BASES.
start_servers() {
	BASES=""
	if [ "$NODES" = 3 ]; then
		rm -rf "$WORK/jetstream"
		taskset -c "$SERVER_CPUS" "$WORK/nats-server" -js -sd "$WORK/jetstream" -n natter-load \
			-a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" >"$WORK/nats.log" 2>&1 &
		PIDS="$PIDS $!"
		wait_ok "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true"
	fi
	n=1
	while [ $n -le "$NODES" ]; do
		port=$((BASE_PORT + n - 1))
		base="http://127.0.0.1:$port"
		if [ "$NODES" = 3 ]; then
			set -- NATTER_DATABASE_URL="$DB" NATTER_NATS_URL="nats://127.0.0.1:$NATS_PORT"
		else
			set --
		fi
		# Each node checks the Origin of the sockets it gets against its
		# own address, where the generator reaches it.
		env "$@" NATTER_ADDR="127.0.0.1:$port" NATTER_BASE_URL="$base" NATTER_NODE="n$n" \
			NATTER_DB="$WORK/$NODES-nodes-n$n.db" NATTER_LOG_LEVEL=warn \
			NATTER_MESSAGE_RATE=1000 NATTER_MESSAGE_BURST=1000 \
			taskset -c "$SERVER_CPUS" "$WORK/natter" >"$WORK/$NODES-nodes-n$n.log" 2>&1 &
		PIDS="$PIDS $!"
		BASES="$BASES${BASES:+,}$base"
		n=$((n + 1))
	done
	for base in $(echo "$BASES" | tr , ' '); do
		wait_ok "$base/readyz"
	done
}

L() {
	# Every server process's CPU and memory count (-pid), summed.
	taskset -c "$GEN_CPUS" "$WORK/loadtest" -base "$BASES" -spread sockets -users "$USERS" \
		-cookies "$WORK/$NODES-nodes-$SCHEMA-cookies.tsv" -source-ips 128 \
		-pid "$(echo $PIDS | tr ' ' ,)" "$@"
}

k=1
while [ $k -le "$RUNS" ]; do
	start_servers
	echo "run $k of $RUNS: $NODES node(s) at $BASES, server processes$PIDS on CPU $SERVER_CPUS, generator on CPU $GEN_CPUS"
	if [ $k = 1 ]; then
		# Signs up the accounts that cannot sign in yet (the first time:
		# about 2 min), and keeps their cookies.
		L -signup -login-concurrency 16 -rooms 1 -per-room 1 -rate 0 -duration 1s >/dev/null
	fi
	# shellcheck disable=SC2086 # SHAPE is a list of flags
	L $SHAPE -json >"$WORK/$NODES-nodes-$k.json"
	stop_all
	k=$((k + 1))
done

echo "runs (figures count only with other_cpu_percent under ~10; quote the median):"
k=1
while [ $k -le "$RUNS" ]; do
	jq -r --arg f "$WORK/$NODES-nodes-$k.json" '"\($f): delivered \(.deliveries.delivered)/\(.deliveries.expected), lost \(.deliveries.lost), duplicated \(.deliveries.duplicated), refused \(.messages.refused_frames), dropped sockets \(.sockets.dropped), p50 \(.latency.p50_ms) ms, p99 \(.latency.p99_ms) ms, server CPU \(.server.cpu_percent | floor)% (\(.server.cpu_us_per_delivery) us/delivery), generator \(.generator_cpu_percent | floor)%, other \(.other_cpu_percent | floor)%"' \
		"$WORK/$NODES-nodes-$k.json"
	k=$((k + 1))
done
