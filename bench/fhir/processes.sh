# Sourced by the bench/fhir scripts: the background processes a script starts (`pids`), all
# stopped when it exits, one stopped early (`stop PID`), and waiting until a port listens.
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
stop() {  # $1 pid: stopped and forgotten
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=()
  for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  pids=("${kept[@]}")
}
# $1 port; waits up to WAIT_PORT_TENTHS tenths of a second (default 200; under valgrind,
# which starts slowly, the callgrind scripts set 600).
wait_port() {
  for _ in $(seq "${WAIT_PORT_TENTHS:-200}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}
