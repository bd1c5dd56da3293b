#!/usr/bin/env bash
# Starts a 3-node Cairn cluster on this machine (docs/CLUSTERING.md):
# clients on 127.0.0.1:4222-4224, routes on 127.0.0.1:6222-6224, each
# node with its own store directory under a temporary directory. Stops
# the nodes and removes the directory on exit (Ctrl-C).
#
#   examples/cluster.sh                 # uses cairn-server from PATH
#   CAIRN_SERVER=./cairn-server examples/cluster.sh
#   BASE_CLIENT_PORT=5222 BASE_ROUTE_PORT=7222 examples/cluster.sh
#
# Then, for instance: nats --server nats://127.0.0.1:4222 server list
# or connect nats.go to one node and read nc.DiscoveredServers().
set -euo pipefail

server=${CAIRN_SERVER:-cairn-server}
client_port=${BASE_CLIENT_PORT:-4222}
route_port=${BASE_ROUTE_PORT:-6222}
cluster_name=${CLUSTER_NAME:-cairn-example}

dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-cluster.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

routes=""
for i in 0 1 2; do
	routes+="${routes:+,}nats://127.0.0.1:$((route_port + i))"
done

for i in 0 1 2; do
	name="n$((i + 1))"
	mkdir -p "$dir/$name"
	"$server" \
		--server_name "$name" \
		--addr 127.0.0.1 --port $((client_port + i)) \
		--store_dir "$dir/$name" \
		--cluster "nats://127.0.0.1:$((route_port + i))" \
		--cluster_name "$cluster_name" \
		--routes "$routes" \
		--pid "$dir/$name.pid" \
		--log "$dir/$name.log" &
	pids+=("$!")
	echo "$name: pid $! client nats://127.0.0.1:$((client_port + i)) route nats://127.0.0.1:$((route_port + i)) log $dir/$name.log"
done

echo "cluster $cluster_name running; Ctrl-C stops it"
# Exit (and clean up) as soon as any node ends.
wait -n "${pids[@]}"
echo "a node exited; stopping the others" >&2
exit 1
