#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh - "make bench": vdpa_vserial beside pipe(2) and AF_UNIX
#
# Usage: bench.sh [RUNS]
#        bench.sh --nested
#
# Boots the test VM (VM_CPUS vCPUs, default 2) and runs
# selftests/vserial_bench there (or, with --nested, bench-nested.sh: a
# QEMU guest on the device beside QEMU's own virtio-serial), then keeps,
# in Documentation/bench/:
#
#   results.csv    every figure of vserial_bench (median of RUNS runs)
#   nested.csv     the nested figures
#   results.txt    the table the README shows (both)
#   results.svg    throughput by write size (gnuplot)
#
# and replaces the table in the README between its "bench:" markers.

set -u

# shellcheck disable=SC2034 # for msg() and die() of lib.sh
PROG=bench.sh
. "$(dirname "$0")/lib.sh"

runs=${1:-5}
nested=0
[ "$runs" = --nested ] && nested=1 && runs=
dest=$CHECKOUT/Documentation/bench
out_rel=selftests/output/bench-$(date +%Y%m%d-%H%M%S)-$$
out=$CHECKOUT/$out_rel

need_root
need_host_tools gnuplot:gnuplot-nox awk:gawk
mkdir -p "$out" "$dest"
if [ $nested = 1 ]; then
	"$VM_DIR/vm.sh" run -o "$out_rel/vm" -c "${VM_CPUS:-2}" -m 3G \
		--no-load -- "selftests/vm/bench-nested.sh $out_rel/nested.csv" ||
		die "the nested benchmark failed (see $out_rel/vm)"
	cp "$out/nested.csv" "$dest/nested.csv"
else
	"$VM_DIR/vm.sh" run -o "$out_rel/vm" -c "${VM_CPUS:-2}" --no-load -- \
		"selftests/vserial_bench -r $runs -o $out_rel/results.csv" ||
		die "the benchmark failed (see $out_rel/vm)"
	cp "$out/results.csv" "$dest/results.csv"
fi
[ -f "$dest/results.csv" ] || die "no results.csv yet: run make bench first"

# v METRIC TRANSPORT DIRECTION SIZE PORTS: one value of the CSV
v()
{
	cat "$dest/results.csv" "$dest/nested.csv" 2>/dev/null |
	awk -F, -v m="$1" -v t="$2" -v d="$3" -v s="$4" -v p="$5" \
		'$1 == m && $2 == t && $3 == d && $4 == s && $5 == p {
			printf "%s", $6; exit }'
}

# ratio A B: A / B with two decimals
ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'
}

{
	echo "vdpa_vserial benchmark, $(date -u -r "$dest/results.csv" +%Y-%m-%d), test VM:" \
	     "${VM_CPUS:-2} vCPUs (TCG), Linux $("$VM_DIR/vm.sh" kver),"
	echo "each figure the median of several runs.  MB/s = 10^6 bytes/s."
	echo
	echo "Bulk throughput, one port (MB/s)      64 B    4 KiB   64 KiB    1 MiB"
	for row in "vserial h2g:vserial:h2g" "vserial g2h:vserial:g2h" \
		   "pipe:pipe:-" "AF_UNIX stream:unix:-"; do
		IFS=: read -r label t d <<< "$row"
		printf '  %-34s' "$label"
		for s in 64 4096 65536 1048576; do
			printf ' %8s' "$(v throughput "$t" "$d" "$s" 1)"
		done
		echo
	done
	echo
	echo "Aggregate at 64 KiB (MB/s)          1 port  4 ports 16 ports  16 / 1"
	for row in "vserial h2g:vserial:h2g" "vserial g2h:vserial:g2h" \
		   "pipe (pairs):pipe:-"; do
		IFS=: read -r label t d <<< "$row"
		printf '  %-34s' "$label"
		for p in 1 4 16; do
			printf ' %8s' "$(v aggregate "$t" "$d" 65536 "$p")"
		done
		printf ' %8s\n' "$(ratio "$(v aggregate "$t" "$d" 65536 16)" \
				       "$(v aggregate "$t" "$d" 65536 1)")"
	done
	echo
	echo "1-byte ping-pong round trip (us)    vserial     pipe  AF_UNIX"
	printf '  %-34s %8s %8s %8s\n' "" "$(v rtt vserial - 1 1)" \
		"$(v rtt pipe - 1 1)" "$(v rtt unix - 1 1)"
	echo
	echo "CPU time per GiB at 64 KiB (s)  vserial h2g  vserial g2h   pipe  AF_UNIX"
	printf '  %-30s %11s %12s %6s %8s\n' "" \
		"$(v cpu vserial h2g 65536 1)" "$(v cpu vserial g2h 65536 1)" \
		"$(v cpu pipe - 65536 1)" "$(v cpu unix - 65536 1)"
	echo
	echo "Device: idle port $(v idle_port vserial device 0 200) bytes of the device's own slab" \
	     "($(v idle_port vserial - 0 200) with devtmpfs and udev);"
	echo "511-port device created in $(v create vserial - 0 511) ms;"
	echo "max_nr_ports 511 device bound to virtio_vdpa (driver ready) in" \
	     "$(v create vserial bound 0 2) ms."
	echo
	if [ -f "$dest/nested.csv" ]; then
		echo "A QEMU guest (nested, TCG), 64 KiB blocks (MB/s)     g2h      h2g"
		printf '  %-46s %8s %8s\n' "vdpa_vserial (vhost-vdpa-device-pci)" \
			"$(v nested vdpa g2h 65536 1)" "$(v nested vdpa h2g 65536 1)"
		printf '  %-46s %8s %8s\n' "QEMU virtio-serial-pci, socket chardev" \
			"$(v nested qemu g2h 65536 1)" "$(v nested qemu h2g 65536 1)"
		printf '  %-46s %8s %8s\n' "ratio (>= 2)" \
			"$(ratio "$(v nested vdpa g2h 65536 1)" "$(v nested qemu g2h 65536 1)")" \
			"$(ratio "$(v nested vdpa h2g 65536 1)" "$(v nested qemu h2g 65536 1)")"
		echo "  CPU time of the whole test VM per GiB (s)"
		printf '  %-46s %8s %8s\n' "vdpa_vserial" \
			"$(v nested_cpu vdpa g2h 65536 1)" "$(v nested_cpu vdpa h2g 65536 1)"
		printf '  %-46s %8s %8s\n' "QEMU virtio-serial-pci" \
			"$(v nested_cpu qemu g2h 65536 1)" "$(v nested_cpu qemu h2g 65536 1)"
		echo
	fi
	echo "Targets: 64 KiB h2g/pipe $(ratio "$(v throughput vserial h2g 65536 1)" "$(v throughput pipe - 65536 1)")," \
	     "g2h/pipe $(ratio "$(v throughput vserial g2h 65536 1)" "$(v throughput pipe - 65536 1)") (>= 1.0);"
	echo "16 ports / 1 port h2g $(ratio "$(v aggregate vserial h2g 65536 16)" "$(v aggregate vserial h2g 65536 1)")," \
	     "g2h $(ratio "$(v aggregate vserial g2h 65536 16)" "$(v aggregate vserial g2h 65536 1)") (>= 1.5);" \
	     "RTT / pipe $(ratio "$(v rtt vserial - 1 1)" "$(v rtt pipe - 1 1)") (<= 1.5)."
} > "$dest/results.txt"

# Throughput by write size, log-log.
awk -F, '$1 == "throughput" { print $2 "-" $3, $4, $6 }' "$dest/results.csv" \
	> "$out/plot.dat"
gnuplot <<EOF || die "gnuplot failed"
set terminal svg size 800,480 font "sans,12"
set output "$dest/results.svg"
set title "Bulk throughput, one port, test VM (TCG)"
set xlabel "write(2)/read(2) size (bytes)"
set ylabel "MB/s"
set logscale xy
set xtics ("64" 64, "4 KiB" 4096, "64 KiB" 65536, "1 MiB" 1048576)
set key top left
set grid
plot "< grep '^vserial-h2g ' $out/plot.dat" using 2:3 with linespoints title "vserial host->guest", \\
     "< grep '^vserial-g2h ' $out/plot.dat" using 2:3 with linespoints title "vserial guest->host", \\
     "< grep '^pipe--' $out/plot.dat" using 2:3 with linespoints title "pipe", \\
     "< grep '^unix--' $out/plot.dat" using 2:3 with linespoints title "AF\\_UNIX stream"
EOF

# The README's copy of the table.
awk -v table="$dest/results.txt" '
	/^bench: begin/ { print; while ((getline l < table) > 0) print "    " l; skip = 1; next }
	/^bench: end/ { skip = 0 }
	!skip' "$CHECKOUT/README" > "$out/README" && cp "$out/README" "$CHECKOUT/README"

cat "$dest/results.txt"
msg "results in Documentation/bench/ (results.csv, results.txt, results.svg)"
