#!/usr/bin/env bash
# Throwaway PostgreSQL and MariaDB servers of a test run's own, for tests that stop and start
# a server (crates/almacen/tests/restart.rs). They live in a new temporary directory, listen
# on 127.0.0.1 on free ports (from 25432 and 23306 up, below Linux's ephemeral range so that a client reconnecting while
# the server is down cannot take the port by connecting to itself), keep nothing durable (PostgreSQL
# fsync=off, small buffers), and are the only servers this script ever stops or starts: the
# shared servers on 5432/3306 (scripts/services.sh) are never touched.
#
#   scripts/private-servers.sh up [postgres] [mariadb]   # default: both; prints `export` lines
#   scripts/private-servers.sh stop SERVICE              # stop one (it stays stopped)
#   scripts/private-servers.sh start SERVICE             # start it again, same port and data
#   scripts/private-servers.sh down                      # stop all, delete the directory
#
# `up` creates the directory and prints, for `eval`:
#   ALMACEN_PRIVATE_SERVERS       the directory (stop/start/down need it in the environment)
#   ALMACEN_RESTART_POSTGRES_URL  postgres://postgres@127.0.0.1:PORT/test
#   ALMACEN_RESTART_MYSQL_URL     mysql://root@127.0.0.1:PORT/test
#   ALMACEN_RESTART_COMMAND       this script's absolute path (the test runs `$it stop postgres`…)
# A server that fails to come up is reported and its variable left out; `up` then fails.
# `stop`, `start` and `down` act only on a directory `up` made (it holds a marker file), and
# only on the process whose pid that directory records and whose command line names it.
# Needs root: the servers run as the users postgres and mysql.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
MARKER=.almacen-private-servers
TIMEOUT=${ALMACEN_PRIVATE_SERVERS_TIMEOUT:-30}

say() { printf '%s\n' "$*" >&2; }
die() {
    printf 'private-servers.sh: error: %s\n' "$*" >&2
    exit 1
}

# Run as USER when we are root (the servers refuse to run as root), as ourselves otherwise.
as_user() {
    local user=$1
    shift
    if [[ $EUID -eq 0 ]]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

# probe_tcp PORT: does 127.0.0.1:PORT accept a connection (within 1 s)?
probe_tcp() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 1 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

# free_port FROM: the first port from FROM up (20 tried) that nothing listens on.
free_port() {
    local p
    for ((p = $1; p < $1 + 20; p++)); do
        if ! probe_tcp "$p"; then
            printf '%s' "$p"
            return 0
        fi
    done
    return 1
}

show_log() {
    if [[ -s $1 ]]; then
        say "  --- last lines of $1 ---"
        tail -n 15 "$1" | sed 's/^/  | /' >&2 || true
    fi
}

# The directory of an earlier `up`, from ALMACEN_PRIVATE_SERVERS; refuse anything else.
state_dir() {
    local dir=${ALMACEN_PRIVATE_SERVERS:-}
    [[ -n $dir ]] || die "ALMACEN_PRIVATE_SERVERS is not set (eval the output of '$SELF up' first)"
    [[ -d $dir && ! -L $dir && -f $dir/$MARKER ]] || die "$dir is not a directory made by '$SELF up'"
    printf '%s' "$dir"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL: initdb into DIR/pg/data, pg_ctl on 127.0.0.1:PORT, socket in DIR/pg
# ---------------------------------------------------------------------------------------------
pg_bin() {
    local v
    v=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -1)
    [[ -n $v && -x /usr/lib/postgresql/$v/bin/pg_ctl ]] || return 1
    printf '/usr/lib/postgresql/%s/bin' "$v"
}

pg_start() { # pg_start DIR
    local dir=$1 bin port
    bin=$(pg_bin) || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
    port=$(cat "$dir/pg/port")
    # Nothing here needs to survive a machine crash (fsync=off), but a commit is written to the
    # OS before it is acknowledged (synchronous_commit stays on), so a server crash loses no
    # acknowledged write.
    as_user postgres "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t "$TIMEOUT" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/pg -c fsync=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=60" \
        start >/dev/null 9>&-
}

pg_stop() { # pg_stop DIR
    local dir=$1 bin
    bin=$(pg_bin) || die "PostgreSQL server binaries not found"
    # pg_ctl stops the postmaster of this data directory only.
    if [[ -f $dir/pg/data/postmaster.pid ]]; then
        as_user postgres "$bin/pg_ctl" -D "$dir/pg/data" -m fast -w -t "$TIMEOUT" stop >/dev/null
    fi
}

pg_up() { # pg_up DIR: prints the URL
    local dir=$1 bin port
    bin=$(pg_bin) || {
        say "postgres: server binaries not found under /usr/lib/postgresql"
        return 1
    }
    install -d -o postgres -g postgres -m 700 "$dir/pg"
    if ! as_user postgres "$bin/initdb" -D "$dir/pg/data" -U postgres --auth=trust -E UTF8 --no-sync --no-instructions \
        >"$dir/pg/initdb.log" 2>&1; then
        say "postgres: initdb failed"
        show_log "$dir/pg/initdb.log"
        return 1
    fi
    for _ in 1 2 3; do
        port=$(free_port 25432) || {
            say "postgres: no free port in 25432-25451"
            return 1
        }
        printf '%s' "$port" >"$dir/pg/port"
        if pg_start "$dir"; then
            if ! as_user postgres "$bin/psql" -h "$dir/pg" -p "$port" -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null 2>"$dir/pg/psql.log"; then
                say "postgres: could not create database test"
                show_log "$dir/pg/psql.log"
                return 1
            fi
            printf 'postgres://postgres@127.0.0.1:%s/test' "$port"
            return 0
        fi
        # Lost a race for the port? Try the next one; anything else is fatal.
        grep -q 'could not bind\|already in use' "$dir/pg/server.log" 2>/dev/null || break
    done
    say "postgres: pg_ctl start failed"
    show_log "$dir/pg/server.log"
    return 1
}

# ---------------------------------------------------------------------------------------------
# MariaDB: mariadb-install-db into DIR/my/data, mariadbd on 127.0.0.1:PORT, socket DIR/my/s
# ---------------------------------------------------------------------------------------------
MY_OPTS=(--innodb-buffer-pool-size=16M --innodb-log-file-size=8M --innodb-doublewrite=0
    --innodb-flush-log-at-trx-commit=2 --innodb-buffer-pool-dump-at-shutdown=0
    --innodb-buffer-pool-load-at-startup=0 --skip-log-bin --skip-name-resolve
    --max-connect-errors=1000000 --max-connections=60)

# Is PID running (a zombie is not: whoever adopted the exited server may reap it late)?
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# The pid of this directory's mariadbd, if it runs (checked by its command line).
my_pid() { # my_pid DIR
    local dir=$1 pid
    pid=$(cat "$dir/my/pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == mariadbd ]] && alive "$pid" || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "--datadir=$dir/my/data" || return 1
    printf '%s' "$pid"
}

my_start() { # my_start DIR
    local dir=$1 port pid deadline
    port=$(cat "$dir/my/port")
    rm -f "$dir/my/pid"
    # --no-defaults: nothing from /etc/mysql (its socket, pid file and datadir are the shared server's).
    setsid /usr/sbin/mariadbd --no-defaults --datadir="$dir/my/data" --user=mysql \
        --bind-address=127.0.0.1 --port="$port" --socket="$dir/my/s" --pid-file="$dir/my/pid" \
        --log-error="$dir/my/error.log" "${MY_OPTS[@]}" </dev/null >>"$dir/my/out.log" 2>&1 9>&- &
    deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        if pid=$(my_pid "$dir") && probe_tcp "$port"; then
            return 0
        fi
        # Died (the pid file is written early): give up at once.
        if [[ -s $dir/my/pid ]] && ! my_pid "$dir" >/dev/null; then
            return 1
        fi
        sleep 0.05
    done
    return 1
}

my_stop() { # my_stop DIR
    local dir=$1 pid deadline
    pid=$(my_pid "$dir") || return 0
    kill -TERM "$pid"
    deadline=$((SECONDS + TIMEOUT))
    while alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.02
    done
    if alive "$pid"; then
        say "mariadb: pid $pid still running ${TIMEOUT}s after SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

my_up() { # my_up DIR: prints the URL
    local dir=$1 port
    if [[ ! -x /usr/sbin/mariadbd ]] || ! command -v mariadb-install-db >/dev/null 2>&1; then
        say "mariadb: /usr/sbin/mariadbd or mariadb-install-db not installed"
        return 1
    fi
    install -d -o mysql -m 750 "$dir/my"
    # root with an empty password over TCP, as on the shared server.
    if ! mariadb-install-db --no-defaults --datadir="$dir/my/data" --user=mysql \
        --auth-root-authentication-method=normal --skip-test-db "${MY_OPTS[@]}" >"$dir/my/install.log" 2>&1; then
        say "mariadb: mariadb-install-db failed"
        show_log "$dir/my/install.log"
        return 1
    fi
    for _ in 1 2 3; do
        port=$(free_port 23306) || {
            say "mariadb: no free port in 23306-23325"
            return 1
        }
        printf '%s' "$port" >"$dir/my/port"
        if my_start "$dir"; then
            if ! mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" -u root -e 'CREATE DATABASE test' 2>"$dir/my/client.log"; then
                say "mariadb: could not create database test"
                show_log "$dir/my/client.log"
                return 1
            fi
            printf 'mysql://root@127.0.0.1:%s/test' "$port"
            return 0
        fi
        my_stop "$dir"
        grep -q 'already in use\|Do you already have another' "$dir/my/error.log" 2>/dev/null || break
    done
    say "mariadb: mariadbd did not start"
    show_log "$dir/my/error.log"
    return 1
}

# ---------------------------------------------------------------------------------------------
service_fn() { # service_fn NAME: the function prefix of a service name
    case $1 in
        postgres | postgresql) printf 'pg' ;;
        mariadb | mysql) printf 'my' ;;
        *) die "unknown service '$1' (known: postgres, mariadb)" ;;
    esac
}

cmd_up() {
    local dir s fn rc=0 want=("$@")
    ((${#want[@]})) || want=(postgres mariadb)
    dir=$(mktemp -d /tmp/almacen-private.XXXXXX)
    touch "$dir/$MARKER"
    chmod 755 "$dir" # traversable by the servers' users
    # Both at once: MariaDB's install takes a few seconds, PostgreSQL's about one.
    local pids=() names=()
    for s in "${want[@]}"; do
        fn=$(service_fn "$s")
        "${fn}_up" "$dir" >"$dir/$fn.url" 2>"$dir/$fn.up.log" 9>&- &
        pids+=($!)
        names+=("$s")
    done
    printf 'export ALMACEN_PRIVATE_SERVERS=%q\n' "$dir"
    printf 'export ALMACEN_RESTART_COMMAND=%q\n' "$SELF"
    local i
    for i in "${!pids[@]}"; do
        s=${names[i]}
        fn=$(service_fn "$s")
        if wait "${pids[i]}"; then
            case $fn in
                pg) printf 'export ALMACEN_RESTART_POSTGRES_URL=%q\n' "$(cat "$dir/pg.url")" ;;
                my) printf 'export ALMACEN_RESTART_MYSQL_URL=%q\n' "$(cat "$dir/my.url")" ;;
            esac
            say "private $s: $(cat "$dir/$fn.url") (data in $dir)"
        else
            cat "$dir/$fn.up.log" >&2
            say "private $s: FAILED to come up"
            rc=1
        fi
    done
    return "$rc"
}

cmd_stop() {
    (($# == 1)) || die "usage: $0 stop SERVICE"
    local dir fn
    dir=$(state_dir)
    fn=$(service_fn "$1")
    [[ -f $dir/$fn/port ]] || die "$1 was not brought up in $dir"
    "${fn}_stop" "$dir"
}

cmd_start() {
    (($# == 1)) || die "usage: $0 start SERVICE"
    local dir fn
    dir=$(state_dir)
    fn=$(service_fn "$1")
    [[ -f $dir/$fn/port ]] || die "$1 was not brought up in $dir"
    if [[ $fn == my ]] && my_pid "$dir" >/dev/null; then
        return 0
    fi
    if ! "${fn}_start" "$dir"; then
        case $fn in
            pg) show_log "$dir/pg/server.log" ;;
            my) show_log "$dir/my/error.log" ;;
        esac
        die "$1 did not start again"
    fi
}

cmd_down() {
    local dir rc=0
    dir=$(state_dir)
    if [[ -f $dir/pg/port ]]; then
        pg_stop "$dir" || rc=1
    fi
    if [[ -f $dir/my/port ]]; then
        my_stop "$dir" || rc=1
    fi
    if ((rc == 0)); then
        rm -rf -- "$dir"
    else
        say "private servers in $dir did not all stop; the directory is kept"
    fi
    return "$rc"
}

main() {
    (($# >= 1)) || {
        sed -n '7,11p' "$SELF" | sed 's/^# \{0,1\}//' >&2
        exit 2
    }
    local cmd=$1
    shift
    case $cmd in
        up) cmd_up "$@" ;;
        stop) cmd_stop "$@" ;;
        start) cmd_start "$@" ;;
        down) cmd_down "$@" ;;
        *)
            sed -n '7,11p' "$SELF" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
