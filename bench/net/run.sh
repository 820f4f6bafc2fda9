#!/usr/bin/env bash
# bench/net/run.sh: HTTP requests/s (wrk) and bulk TCP throughput of the same Go
# server (bench/net/server) as a unigo guest and as a Linux guest's /init,
# under QEMU TCG with one vCPU and 256 MiB each.
#
# Run as root (it creates a network namespace and a tap device), from anywhere:
#
#     bench/net/run.sh
#
# Configurations, in order (PHASES selects a subset, e.g. PHASES="unigo-user"):
#   unigo-user     unigo, microvm + virtio-mmio, QEMU user network, host
#                  forwards on 127.0.0.1 (unigo-run -fwd)
#   unigo-tap      unigo, microvm + virtio-mmio (modern), tap in a netns
#   unigo-q35      unigo, q35 + virtio-net-pci (modern, MSI-X), the same tap
#   linux-microvm  Debian cloud kernel, microvm + virtio-mmio (modern), tap
#   linux-q35      Debian cloud kernel, q35 + virtio-net-pci, tap
# The tap configurations give the guest 10.0.9.2/24 and the host side of the
# tap 10.0.9.1 inside the namespace; wrk and the client run there.
#
# Per configuration: wrk -t1 -c64 -d$DURATION --latency (requests/s, p99), then
# bench/net/client send (host -> guest sink) and recv (guest source -> host),
# $RUNS runs of $MIB MiB each, median MiB/s. It ends with a markdown table.
#
# Knobs (environment): DURATION (30s), RUNS (3), MIB (64; host -> guest only,
# the guest's source always sends its default 64 MiB), PHASES, PORTS
# ("28080 29000 29001", the host ports of unigo-user's forwards),
# KERNEL_DEB (a linux-image-*-cloud-amd64 .deb to use instead of
# apt-get download). Everything it makes is under one mktemp directory; on exit
# (or Ctrl-C) it kills the VM it started, deletes the namespace (and so the
# tap) and the directory (KEEP=1 keeps the directory: consoles, raw output).
set -euo pipefail

DURATION=${DURATION:-30s}
RUNS=${RUNS:-3}
MIB=${MIB:-64}
PHASES=${PHASES:-unigo-user unigo-tap unigo-q35 linux-microvm linux-q35}
read -r HTTP_PORT SINK_PORT SOURCE_PORT <<<"${PORTS:-28080 29000 29001}"
GUEST_IP=10.0.9.2
HOST_IP=10.0.9.1

cd "$(dirname "$0")/../.."
WORK=$(mktemp -d /tmp/unigo-netbench.XXXXXX)
NS=unigonb$$
TAP=nbtap0 # inside $NS, so it cannot clash with the host's devices
VM= # process group of the running VM

log() { echo "run.sh: $*" >&2; }

stop_vm() {
	[ -n "$VM" ] || return 0
	kill -TERM -- "-$VM" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 -- "-$VM" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$VM" 2>/dev/null || true
	wait "$VM" 2>/dev/null || true
	VM=
}

cleanup() {
	stop_vm
	ip netns del "$NS" 2>/dev/null || true
	if [ -n "${KEEP:-}" ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_vm LABEL CMD...: runs CMD in a session of its own (so stop_vm ends
# QEMU with it), console to $WORK/LABEL.console.
start_vm() {
	local label=$1
	shift
	setsid "$@" >"$WORK/$label.console" 2>&1 </dev/null &
	VM=$!
}

# measure LABEL HOST HTTPPORT SINKPORT SOURCEPORT [PREFIX...]: PREFIX runs the
# host-side tools (ip netns exec NS for the tap configurations).
declare -A RPS P99 TX RX
measure() {
	local label=$1 host=$2 hp=$3 sp=$4 op=$5
	shift 5
	if ! "$@" "$WORK/client" wait "http://$host:$hp/" 120; then
		log "$label: the guest did not answer; its console:"
		cat "$WORK/$label.console" >&2
		return 1
	fi
	log "$label: up; wrk for $DURATION"
	"$@" wrk -t1 -c64 -d"$DURATION" --latency "http://$host:$hp/" | tee "$WORK/$label.wrk" >&2
	RPS[$label]=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/$label.wrk")
	# p99 in ms, whatever unit wrk chose.
	P99[$label]=$(awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
		printf "%.1f", v }' "$WORK/$label.wrk")
	log "$label: bulk host -> guest, $RUNS x $MIB MiB"
	timeout 600 "$@" "$WORK/client" send "$host:$sp" "$MIB" "$RUNS" | tee "$WORK/$label.send" >&2
	TX[$label]=$(awk '$1 == "median" {print $2}' "$WORK/$label.send")
	log "$label: bulk guest -> host, $RUNS x 64 MiB"
	timeout 600 "$@" "$WORK/client" recv "$host:$op" "$RUNS" | tee "$WORK/$label.recv" >&2
	RX[$label]=$(awk '$1 == "median" {print $2}' "$WORK/$label.recv")
	if [ -z "${TX[$label]}" ] || [ -z "${RX[$label]}" ]; then
		log "$label: a bulk transfer failed; the end of the guest's console:"
		tail -40 "$WORK/$label.console" >&2
	fi
}

setup_netns() {
	ip netns list | grep -qw "$NS" && return 0
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	ip -n "$NS" tuntap add dev "$TAP" mode tap
	ip -n "$NS" addr add "$HOST_IP/24" dev "$TAP"
	ip -n "$NS" link set "$TAP" up
}

KERNEL= INITRD=
setup_linux() {
	[ -n "$KERNEL" ] && return 0
	local deb=${KERNEL_DEB:-}
	if [ -z "$deb" ]; then
		log "downloading Debian's linux-image-cloud-amd64"
		(cd "$WORK" && apt-get download -q linux-image-cloud-amd64 >&2 2>/dev/null)
		local meta dep
		meta=$(ls "$WORK"/linux-image-cloud-amd64_*.deb)
		dep=$(dpkg-deb -f "$meta" Depends | sed 's/[ ,].*//')
		(cd "$WORK" && apt-get download -q "$dep" >&2 2>/dev/null)
		deb=$(ls "$WORK"/"$dep"_*.deb)
	fi
	log "kernel package: $(basename "$deb")"
	dpkg-deb -x "$deb" "$WORK/kernel"
	KERNEL=$(ls "$WORK"/kernel/boot/vmlinuz-*)
	local m
	m=$(ls -d "$WORK"/kernel/lib/modules/*/kernel)
	CGO_ENABLED=0 go build -o "$WORK/server-linux" ./bench/net/server
	INITRD=$WORK/initrd.gz
	# Dependency order, from each module's .modinfo depends=.
	"$WORK/mkinitramfs" -o "$INITRD" -init "$WORK/server-linux" \
		"$m"/drivers/virtio/{virtio_ring,virtio,virtio_pci_modern_dev,virtio_pci_legacy_dev,virtio_pci,virtio_mmio}.ko \
		"$m"/net/core/failover.ko "$m"/drivers/net/{net_failover,virtio_net}.ko
}

# linux_vm LABEL MACHINE DEVICE [KERNEL PARAMETERS...]
linux_vm() {
	local label=$1 machine=$2 device=$3
	shift 3
	start_vm "$label" ip netns exec "$NS" qemu-system-x86_64 -M "$machine" -accel tcg -cpu max \
		-smp 1 -m 256M -nodefaults -no-user-config -display none -no-reboot \
		-global virtio-mmio.force-legacy=false -serial stdio \
		-kernel "$KERNEL" -initrd "$INITRD" \
		-append "console=ttyS0 panic=-1 $* NB_IP=$GUEST_IP/24 NB_GW=$HOST_IP" \
		-netdev "tap,id=net0,ifname=$TAP,script=no,downscript=no" -device "$device,netdev=net0"
}

log "building into $WORK"
go build -o "$WORK/unigo-run" ./boot/cmd/unigo-run
go build -o "$WORK/client" ./bench/net/client
go build -o "$WORK/mkinitramfs" ./bench/net/mkinitramfs
CGO_ENABLED=0 go build -tags unikernel -o "$WORK/server-unigo" ./bench/net/server

DONE=()
for phase in $PHASES; do
	log "=== $phase"
	case $phase in
	unigo-user)
		start_vm "$phase" "$WORK/unigo-run" -accel tcg -smp 1 -m 256M -timeout 0 \
			-fwd "$HTTP_PORT:8080" -fwd "$SINK_PORT:9000" -fwd "$SOURCE_PORT:9001" "$WORK/server-unigo"
		measure "$phase" 127.0.0.1 "$HTTP_PORT" "$SINK_PORT" "$SOURCE_PORT" || log "$phase failed"
		;;
	unigo-tap)
		setup_netns
		start_vm "$phase" ip netns exec "$NS" "$WORK/unigo-run" -accel tcg -smp 1 -m 256M -timeout 0 \
			-net "tap:$TAP" -append-extra "unigo.net.ip=$GUEST_IP/24 unigo.net.gw=$HOST_IP" "$WORK/server-unigo"
		measure "$phase" "$GUEST_IP" 8080 9000 9001 ip netns exec "$NS" || log "$phase failed"
		;;
	unigo-q35)
		setup_netns
		start_vm "$phase" ip netns exec "$NS" "$WORK/unigo-run" -machine q35 -accel tcg -smp 1 -m 256M -timeout 0 \
			-net "tap:$TAP" -append-extra "unigo.net.ip=$GUEST_IP/24 unigo.net.gw=$HOST_IP" "$WORK/server-unigo"
		measure "$phase" "$GUEST_IP" 8080 9000 9001 ip netns exec "$NS" || log "$phase failed"
		;;
	linux-microvm)
		setup_netns
		setup_linux
		# Linux cannot calibrate the TSC on microvm under TCG (no PIT
		# reading it trusts, no HPET) and stops at boot; tell it the
		# host's frequency.
		khz=$(awk '/^cpu MHz/ {printf "%d", $4 * 1000; exit}' /proc/cpuinfo)
		linux_vm "$phase" microvm virtio-net-device "tsc_early_khz=$khz"
		measure "$phase" "$GUEST_IP" 8080 9000 9001 ip netns exec "$NS" || log "$phase failed"
		;;
	linux-q35)
		setup_netns
		setup_linux
		linux_vm "$phase" q35 virtio-net-pci
		measure "$phase" "$GUEST_IP" 8080 9000 9001 ip netns exec "$NS" || log "$phase failed"
		;;
	*)
		log "unknown phase $phase"
		exit 2
		;;
	esac
	stop_vm
	DONE+=("$phase")
done

declare -A DESC=(
	[unigo-user]="unigo, microvm, virtio-mmio, user network"
	[unigo-tap]="unigo, microvm, virtio-mmio, tap"
	[unigo-q35]="unigo, q35, virtio-net-pci, tap"
	[linux-microvm]="Linux 6.1, microvm, virtio-mmio, tap"
	[linux-q35]="Linux 6.1, q35, virtio-net-pci, tap"
)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }

echo
echo "TCG, 1 vCPU, 256 MiB; wrk -t1 -c64 -d$DURATION; bulk: median of $RUNS x $MIB MiB"
echo
echo "| guest | requests/s | p99 (ms) | host → guest (MiB/s) | guest → host (MiB/s) |"
echo "| --- | --- | --- | --- | --- |"
for p in "${DONE[@]}"; do
	echo "| ${DESC[$p]} | ${RPS[$p]} | ${P99[$p]} | ${TX[$p]} | ${RX[$p]} |"
done
for pair in "unigo-tap linux-microvm" "unigo-q35 linux-q35"; do
	read -r u l <<<"$pair"
	[ -n "${RPS[$u]:-}" ] && [ -n "${RPS[$l]:-}" ] || continue
	echo "| ratio $u / $l | $(ratio "${RPS[$u]}" "${RPS[$l]}") | $(ratio "${P99[$u]}" "${P99[$l]}") | $(ratio "${TX[$u]}" "${TX[$l]}") | $(ratio "${RX[$u]}" "${RX[$l]}") |"
done
