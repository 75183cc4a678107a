# Shared preamble of the integration scripts (*/tests/*.sh, protocols/*/tests/*.sh). Sourced,
# never run, after the script has changed to the repository root:
#
#   set -u
#   cd "$(dirname "$0")/../.."
#   . ci/testlib.sh
#
# It sets
#   B      the build folder (from the environment, default 'build')
#   FB     the fleetbench binary, as an absolute path ($B/fleetbench)
#   T      a fresh temporary folder, removed at exit
#   pids   an array: every PID a script appends (pids+=($!)) is sent SIGTERM and reaped at exit
#   fails  the count of failed checks (keep-going mode, below)
# and defines
#   ok MSG                    prints 'ok: MSG'
#   fail MSG                  prints 'FAIL: MSG' on stderr and exits 1; after `keep_going`, prints
#                             it on stdout, counts it in $fails and carries on
#   keep_going                switches fail to counting; end such a script with `finish`
#   finish                    prints '$fails failed'; its status is 0 only when none failed
#   die MSG                   'FAIL: MSG' on stderr and exit 1, in either mode (a broken set-up)
#   free_port [udp]           a loopback port nobody listens on, from the kernel (bind port 0)
#   poll SECONDS CMD...       runs CMD every 50 ms until it succeeds (status 0) or SECONDS pass
#                             (status 1): the readiness wait, never a bare sleep
#   wait_lines FILE RE N      waits (20 s at most) until FILE has N lines matching the ERE RE;
#                             dies naming the file, the pattern and what it holds otherwise
#   port_open PORT            whether something accepts TCP connections on 127.0.0.1:PORT
#   mosquitto_conf PORT [LINE...]
#                             prints a mosquitto configuration: run as the current user (as root
#                             mosquitto would switch to user 'mosquitto', who cannot write $T), one
#                             anonymous listener on 127.0.0.1:PORT, then each LINE
#   start_mosquitto CONF PORT...
#                             starts mosquitto -c CONF (output appended to $T/mosquitto.out), adds
#                             its PID to pids and sets $mosquitto_pid, and waits until every PORT
#                             accepts connections; dies with mosquitto's output if it does not
#   expect_code CODE WHAT -- CMD...
#                             runs CMD (stdout to $T/out, stderr to $T/err) and checks its status
#   expect_err ERE WHAT       checks that $T/err has a line matching ERE
#   json_field FILE EXPR      prints the JavaScript expression EXPR over the JSON document in FILE,
#                             bound to r (node; objects and arrays printed as JSON)
#   modbus_ports LOG N        waits until a run's stderr LOG announces N Modbus listening ports;
#                             sets the array ports to them and port to the first
#   lorawan_keys_csv COUNT PREFIX
#                             prints a keys file (the columns of `fleetbench keys`) of COUNT OTAA
#                             devices: DevEUI PREFIX then the index in 5 hex digits, random AppKeys
#   start_lns_oracle NAME ARG...
#                             starts the lora-packet oracle network server (ci/oracles/lns-oracle.js
#                             ARG...) on a free UDP port: its events in $T/NAME.jsonl, its stderr in
#                             $T/NAME.err, its stdin a FIFO held open until the script ends; returns
#                             once it listens, with its port in $lns_port

B=${B:-build}
case $B in
/*) FB=$B/fleetbench ;;
*) FB=$PWD/$B/fleetbench ;;
esac
T=$(mktemp -d)
pids=()
fails=0
tl_keep_going=

tl_cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap tl_cleanup EXIT

ok() { echo "ok: $*"; }
die() {
	echo "FAIL: $*" >&2
	exit 1
}
fail() {
	if [ -n "$tl_keep_going" ]; then
		echo "FAIL: $*"
		fails=$((fails + 1))
	else
		die "$@"
	fi
}
keep_going() { tl_keep_going=1; }
finish() {
	echo "$fails failed"
	[ "$fails" -eq 0 ]
}

free_port() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1:] == ["udp"] else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' "$@"
}

poll() {
	local seconds=$1 i
	shift
	for i in $(seq $((seconds * 20))); do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}

tl_has_lines() { [ "$(grep -c -E -- "$2" "$1" 2>/dev/null)" -ge "$3" ]; }
wait_lines() {
	poll 20 tl_has_lines "$1" "$2" "$3" && return 0
	die "timed out waiting for $3 lines /$2/ in $1 (have $(grep -c -E -- "$2" "$1" 2>/dev/null)):
$(tail -n 20 "$1" 2>/dev/null)"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mosquitto_conf() {
	local port=$1 line
	shift
	printf 'user %s\nlistener %s 127.0.0.1\nallow_anonymous true\n' "$(id -un)" "$port"
	for line in "$@"; do
		printf '%s\n' "$line"
	done
}

tl_mosquitto_up() {
	local port
	for port in "$@"; do
		port_open "$port" || return 1
	done
}
start_mosquitto() {
	local conf=$1
	shift
	mosquitto -c "$conf" >> "$T/mosquitto.out" 2>&1 &
	mosquitto_pid=$!
	pids+=($mosquitto_pid)
	poll 10 tl_mosquitto_up "$@" || die "mosquitto did not start: $(cat "$T/mosquitto.out")"
}

expect_code() {
	local want=$1 what=$2 got
	shift 3
	"$@" > "$T/out" 2> "$T/err"
	got=$?
	if [ "$got" = "$want" ]; then
		ok "$what (exit $got)"
	else
		fail "$what: exit $got, wanted $want"
		cat "$T/err"
	fi
}
expect_err() {
	if grep -qE -- "$1" "$T/err"; then
		ok "$2"
	else
		fail "$2: stderr lacks '$1'"
		cat "$T/err"
	fi
}

json_field() {
	node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const v = new Function("r", "return (" + process.argv[2] + ");")(r);
console.log(v !== null && typeof v === "object" ? JSON.stringify(v) : v);' "$1" "$2"
}

modbus_ports() {
	wait_lines "$1" 'modbus: listening on 127.0.0.1:[0-9]+' "$2"
	mapfile -t ports < <(sed -n 's/.*modbus: listening on 127.0.0.1:\([0-9]*\),.*/\1/p' "$1")
	port=${ports[0]}
}

lorawan_keys_csv() {
	local i
	echo "device,dev_eui,join_eui,app_key,dev_addr,nwk_s_key,app_s_key"
	for i in $(seq 0 $(($1 - 1))); do
		printf '%d,%s%05x,70b3d57ed0000000,%s,,,\n' "$i" "$2" "$i" "$(openssl rand -hex 16)"
	done
}

start_lns_oracle() {
	local name=$1 fd
	shift
	mkfifo "$T/$name.in"
	node ci/oracles/lns-oracle.js "$@" < "$T/$name.in" > "$T/$name.jsonl" 2> "$T/$name.err" &
	pids+=($!)
	exec {fd}> "$T/$name.in"
	wait_lines "$T/$name.jsonl" '"event":"listening"' 1
	lns_port=$(sed -n 's/.*"event":"listening","port":\([0-9]*\).*/\1/p' "$T/$name.jsonl")
}
