#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the `pg` tests.
#
#   scripts/pg-test-server.sh start DIR   # initdb in DIR/data, start on 127.0.0.1:<free port>,
#                                         # create database trustbridge_test, write DIR/uri
#   scripts/pg-test-server.sh stop DIR    # pg_ctl stop -m fast, then remove DIR
#   scripts/pg-test-server.sh restart DIR # stop -m fast (open sessions are cut, as by a crash or
#                                         # a failover) and start again on the same port
#   scripts/pg-test-server.sh pause DIR   # stop -m fast, keeping DIR (the database is down)
#   scripts/pg-test-server.sh resume DIR  # start a paused cluster again on the same port
#
# The cluster trusts every connection (it listens on loopback only and holds test data only),
# keeps fsync on (so durability tests mean something) and puts its unix socket in DIR.
# Installs the Debian `postgresql` package when initdb is missing (needs root and apt); exits 77
# (CTest: skipped) when that is impossible, so the pg tests skip rather than fail.
# When run as root the cluster is owned by, and run as, the `postgres` user.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|restart|pause|resume DIR" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
action=$1
dir=$2
case $dir in
  /*) ;;
  *) dir="$PWD/$dir" ;;
esac

find_bindir() {
  local candidate
  candidate=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n $candidate && -x $candidate/initdb ]]; then
    echo "$candidate"
    return 0
  fi
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

# Runs a PostgreSQL program as the cluster owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# True when something listens on 127.0.0.1:$1 or on any address with that port (IPv4 or IPv6).
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  # Column 2 is local_address as HEXIP:HEXPORT; state 0A is LISTEN.
  awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { found = 1 }
                    END { exit found ? 0 : 1 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

pick_port() {
  local port tries=0
  while ((tries < 200)); do
    port=$((20000 + (RANDOM % 20000)))
    if ! port_in_use "$port"; then
      echo "$port"
      return 0
    fi
    tries=$((tries + 1))
  done
  echo "no free port found" >&2
  return 1
}

# The cluster lives in DIR/data, or (when the postgres user cannot reach DIR, e.g. a clone under
# /root) in a temporary folder whose path DIR/datadir records.
data_dir() {
  if [[ -f $dir/datadir ]]; then
    cat "$dir/datadir"
  else
    echo "$dir/data"
  fi
}

stop_cluster() {
  local bindir=$1 data
  data=$(data_dir)
  if [[ -f $data/postmaster.pid ]]; then
    as_owner "$bindir/pg_ctl" -D "$data" stop -m fast -w -t 60 >/dev/null || true
  fi
  if [[ $data != "$dir/data" ]]; then
    rm -rf "$(dirname "$data")"
  fi
}

start() {
  local bindir
  if ! bindir=$(find_bindir); then
    echo "initdb not found: installing the Debian postgresql package" >&2
    if [[ $(id -u) -ne 0 ]]; then
      echo "SKIP: need root to install postgresql; the pg tests will skip" >&2
      exit 77
    fi
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; then
      echo "SKIP: could not install postgresql; the pg tests will skip" >&2
      exit 77
    fi
    bindir=$(find_bindir)
  fi

  # A cluster left over from an interrupted run is stopped and replaced.
  if [[ -d $dir ]]; then
    stop_cluster "$bindir"
    rm -rf "$dir"
  fi
  mkdir -p "$dir"
  local data="$dir/data" sockets="$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      sockets=$(mktemp -d /tmp/tb-pg-test-XXXXXX)
      chown postgres: "$sockets"
      data="$sockets/data"
      echo "$data" >"$dir/datadir"
    fi
  fi

  as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }

  local port attempt
  for attempt in 1 2 3 4 5; do
    port=$(pick_port)
    if as_owner "$bindir/pg_ctl" -D "$data" -l "$sockets/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $sockets -c fsync=on -c synchronous_commit=on" \
      start >/dev/null; then
      break
    fi
    echo "start on port $port failed (attempt $attempt)" >&2
    port=""
  done
  if [[ -z $port ]]; then
    tail -n 30 "$sockets/server.log" >&2 || true
    exit 1
  fi

  as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres trustbridge_test
  echo "postgresql://postgres@127.0.0.1:$port/trustbridge_test" >"$dir/uri"
  echo "PostgreSQL test server on 127.0.0.1:$port (data in $data)"
}

# pg_ctl ACTION on the cluster in DIR, on the port and socket folder start gave it.
control() {
  local bindir data port
  bindir=$(find_bindir) || {
    echo "initdb not found" >&2
    exit 1
  }
  data=$(data_dir)
  port=$(sed -E 's|.*:([0-9]+)/.*|\1|' "$dir/uri")
  # The socket folder is the data folder's parent (start puts both there).
  as_owner "$bindir/pg_ctl" -D "$data" -l "$(dirname "$data")/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $(dirname "$data") -c fsync=on -c synchronous_commit=on" \
    "$@" >/dev/null
}

stop() {
  local bindir
  if bindir=$(find_bindir); then
    stop_cluster "$bindir"
  fi
  rm -rf "$dir"
}

case $action in
  start) start ;;
  stop) stop ;;
  restart) control restart -m fast ;;
  pause) control stop -m fast ;;
  resume) control start ;;
  *) usage ;;
esac
