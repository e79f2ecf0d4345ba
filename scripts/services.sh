#!/usr/bin/env bash
# Bring up (or tear down) the database servers the almacen test suite talks to.
#
#   scripts/services.sh up   [service...]   # default: postgres mariadb redis nats
#   scripts/services.sh down [service...]
#
# `up`, for each service:
#   * its port is reachable   -> use it, change nothing (only make sure the test database exists);
#   * installed but stopped   -> start it the way the project's machines do;
#   * not installed           -> apt-get install it (one `apt-get update`, one install for all
#                                missing packages) and start it with the project's credentials.
# Every server this script starts is recorded in the state directory
# (${ALMACEN_SERVICES_STATE:-/tmp/almacen-services}, one <service>.state file each, saying how to
# stop it). `down` stops only what is recorded there, then removes those records. Servers this
# script did not start are never stopped.
#
# Environment:
#   ALMACEN_TEST_POSTGRES_URL  default postgres://postgres@127.0.0.1:5432/test
#   ALMACEN_TEST_MYSQL_URL     default mysql://root@127.0.0.1:3306/test
#   ALMACEN_TEST_REDIS_URL     default redis://127.0.0.1:6379
#   ALMACEN_TEST_NATS_URL      default nats://127.0.0.1:4222 (with JetStream)
#   ALMACEN_SERVICES_STATE     state directory (default /tmp/almacen-services)
#   ALMACEN_SERVICES_TIMEOUT   seconds to wait for a started server's port (default 30)
#   ALMACEN_SERVICES_OWNER     tag written into the records by `up`; when set, `down` stops only
#                              records carrying the same tag (so concurrent runs that share the
#                              state directory do not stop each other's servers). Unset: `up`
#                              writes "manual" and `down` stops everything recorded.
#
# Adding a service: write one function `svc_<name>` answering the actions used below
# (url, default_url, default_port, env_var, packages, installed, start, adopt, ensure, stop)
# and append <name> to ALL_SERVICES (and to OPTIONAL_SERVICES if a failure must not be fatal).
set -euo pipefail

ALL_SERVICES=(postgres mariadb redis nats)
# Services whose failure to come up is reported but does not make `up` fail. NATS is
# optional here: its tests (almacen-events, feature `nats`) fail by themselves in CI
# (ALMACEN_REQUIRE_ALL_BACKENDS=1) when it is not reachable, naming the URL.
OPTIONAL_SERVICES=(redis nats)

STATE=${ALMACEN_SERVICES_STATE:-/tmp/almacen-services}
TIMEOUT=${ALMACEN_SERVICES_TIMEOUT:-30}
OWNER_UP=${ALMACEN_SERVICES_OWNER:-manual}
OWNER_DOWN=${ALMACEN_SERVICES_OWNER:-}

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
say() { printf '%s\n' "$*"; }
warn() { printf '  warning: %s\n' "$*" >&2; }
die() {
    printf 'services.sh: error: %s\n' "$*" >&2
    exit 1
}

# Run a command as root (directly, or through passwordless sudo).
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        printf 'services.sh: needs root (or passwordless sudo) for: %s\n' "$*" >&2
        return 1
    fi
}

# Run a PostgreSQL server binary: as user postgres when we are root (postgres refuses to run
# as root), as ourselves otherwise.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# probe_tcp HOST PORT: can we open a TCP connection (within 2 s)?
probe_tcp() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_tcp HOST PORT [PIDFILE]: wait up to $TIMEOUT s for the port; give up early if the
# process named in PIDFILE (once written) has died.
wait_tcp() {
    local host=$1 port=$2 pidfile=${3:-} deadline=$((SECONDS + TIMEOUT)) pid
    while ((SECONDS < deadline)); do
        probe_tcp "$host" "$port" && return 0
        if [[ -n $pidfile && -s $pidfile ]]; then
            pid=$(head -n1 "$pidfile" 2>/dev/null || true)
            if [[ -n $pid && ! -e /proc/$pid ]]; then
                return 1
            fi
        fi
        sleep 0.2
    done
    probe_tcp "$host" "$port"
}

# wait_pid_gone PID: wait up to $TIMEOUT s for a process to exit.
wait_pid_gone() {
    local pid=$1 deadline=$((SECONDS + TIMEOUT))
    while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do
        sleep 0.2
    done
    [[ ! -e /proc/$pid ]]
}

# stop_pid PID: after a polite shutdown request, make sure PID (already verified to be ours)
# exits: give it 5 s, then SIGTERM, then wait up to $TIMEOUT s. Sets STOP_NOTE.
stop_pid() {
    local pid=$1 deadline=$((SECONDS + 5))
    while [[ -e /proc/$pid ]] && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if [[ -e /proc/$pid ]]; then
        kill -TERM "$pid" 2>/dev/null || as_root kill -TERM "$pid" 2>/dev/null || true
    fi
    if wait_pid_gone "$pid"; then
        STOP_NOTE="stopped"
    else
        STOP_NOTE="asked to shut down, but pid $pid is still running after ${TIMEOUT}s"
        return 1
    fi
}

# pid_is PID COMM: is PID alive and running the command COMM?
pid_is() {
    local pid=$1 comm=$2 actual
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    actual=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $actual == "$comm" ]]
}

# first_pid_of COMM: pid of some process running COMM (no dependency on procps).
first_pid_of() {
    local d
    for d in /proc/[0-9]*; do
        if [[ $(cat "$d/comm" 2>/dev/null || true) == "$1" ]]; then
            printf '%s\n' "${d#/proc/}"
            return 0
        fi
    done
    return 1
}

is_local_host() {
    case $1 in
        127.* | localhost | ::1 | "") return 0 ;;
        *) return 1 ;;
    esac
}

# Address a freshly started server should listen on, for the URL's host.
listen_addr() {
    case $1 in
        localhost) printf 'localhost' ;;
        ::1) printf '::1' ;;
        *) printf '%s' "$1" ;;
    esac
}

# parse_url URL DEFAULT_PORT: sets U_USER U_PASS U_HOST U_PORT U_DB (no percent-decoding).
parse_url() {
    local re='^([A-Za-z0-9+.-]+)://(([^:@/]*)(:([^@/]*))?@)?(\[[^]/]*\]|[^:/?#]*)(:([0-9]+))?(/([^?#]*))?'
    [[ $1 =~ $re ]] || die "cannot parse URL '$1'"
    U_USER=${BASH_REMATCH[3]}
    U_PASS=${BASH_REMATCH[5]}
    U_HOST=${BASH_REMATCH[6]}
    U_HOST=${U_HOST#[}
    U_HOST=${U_HOST%]}
    [[ -n $U_HOST ]] || U_HOST=127.0.0.1
    U_PORT=${BASH_REMATCH[8]:-$2}
    U_DB=${BASH_REMATCH[10]}
}

# Print the last lines of a log file (to stderr), if it exists and is readable.
show_log() {
    local f=$1
    if as_root test -s "$f" 2>/dev/null; then
        printf '  --- last lines of %s ---\n' "$f" >&2
        as_root tail -n 15 "$f" | sed 's/^/  | /' >&2 || true
    fi
}

ensure_state_dir() {
    [[ $STATE != *[[:space:]]* ]] || die "ALMACEN_SERVICES_STATE must not contain whitespace: '$STATE'"
    if [[ -L $STATE ]]; then
        die "state directory $STATE is a symlink; refusing to use it"
    fi
    if [[ ! -d $STATE ]]; then
        mkdir -p "$STATE"
    fi
    [[ -O $STATE ]] || die "state directory $STATE is not owned by $(id -un); set ALMACEN_SERVICES_STATE"
    # Traversable by the postgres user (the throwaway cluster lives inside it), writable only by us.
    chmod 755 "$STATE"
}

# Serialise concurrent up/down runs on fd 9. Every command that starts a server gets `9>&-`, so
# that no daemon inherits the lock.
lock_state() {
    exec 9>"$STATE/.lock"
    if command -v flock >/dev/null 2>&1; then
        flock -w 180 9 || die "could not lock $STATE/.lock within 180 s (another services.sh running?)"
    fi
}

# write_state SERVICE key=value...: record that this script started SERVICE.
write_state() {
    local svc=$1 f
    shift
    f="$STATE/$svc.state"
    {
        printf 'owner=%s\n' "$OWNER_UP"
        printf 'started_at=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        printf '%s\n' "$@"
    } >"$f.tmp"
    mv -f "$f.tmp" "$f"
}

# state_get FILE KEY: value of KEY in a state file (empty if absent).
state_get() {
    local key val
    while IFS='=' read -r key val; do
        if [[ $key == "$2" ]]; then
            printf '%s' "$val"
            return 0
        fi
    done <"$1"
    return 0
}

is_optional() {
    local s
    for s in "${OPTIONAL_SERVICES[@]}"; do
        [[ $s == "$1" ]] && return 0
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL -> postgres://postgres@127.0.0.1:5432/test (trust auth)
# ---------------------------------------------------------------------------------------------
pg_psql() { # pg_psql DB psql-args...: connect to the URL's server as the URL's user
    local db=$1
    shift
    PGPASSWORD=$U_PASS PGCONNECT_TIMEOUT=5 psql -w -X -q -h "$U_HOST" -p "$U_PORT" -U "$U_USER" -d "$db" "$@"
}

pg_latest_bin() {
    local v
    v=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n1)
    [[ -n $v && -x /usr/lib/postgresql/$v/bin/initdb ]] || return 1
    printf '/usr/lib/postgresql/%s/bin' "$v"
}

# The packaged cluster listening on PORT: "version cluster status datadir" (first match).
pg_packaged_cluster() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 1
    pg_lsclusters -h 2>/dev/null | awk -v p="$1" '$3 == p { print $1, $2, $4, $6; found = 1; exit } END { exit !found }'
}

# Does the cluster's pg_hba.conf have a trust line for TCP from loopback? (precheck only; the
# real test is a psql login after starting it)
pg_hba_trusts_loopback() {
    local hba=/etc/postgresql/$1/$2/pg_hba.conf
    as_root grep -Eq '^[[:space:]]*host[a-z]*[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+(127\.0\.0\.1(/32)?|0\.0\.0\.0/0|all|samehost|localhost)[[:space:]]+([0-9.]+[[:space:]]+)?trust([[:space:]]|$)' "$hba" 2>/dev/null
}

pg_postmaster_pid() { # pg_postmaster_pid DATADIR
    head -n1 "$1/postmaster.pid" 2>/dev/null || as_root head -n1 "$1/postmaster.pid" 2>/dev/null || true
}

pg_login_ok() {
    command -v psql >/dev/null 2>&1 || return 1
    pg_psql postgres -Atc 'select 1' >/dev/null 2>&1
}

# A throwaway cluster in $STATE/pg (section 1 of SERVICES.md): initdb, trust auth.
pg_start_throwaway() {
    local pgbin dir="$STATE/pg" pid
    pgbin=$(pg_latest_bin) || {
        warn "no PostgreSQL server binaries under /usr/lib/postgresql"
        return 1
    }
    if [[ -e $dir ]]; then
        # leftover from a run that was never torn down
        as_pg "$pgbin/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$dir"
    fi
    if [[ $EUID -eq 0 ]]; then
        install -d -m 700 -o postgres -g postgres "$dir" || return 1
    else
        install -d -m 700 "$dir" || return 1
    fi
    if ! as_pg "$pgbin/initdb" -D "$dir" -U "$U_USER" --auth=trust -E UTF8 --no-sync >"$STATE/postgres-initdb.log" 2>&1; then
        warn "initdb failed"
        show_log "$STATE/postgres-initdb.log"
        return 1
    fi
    # Recorded before starting: stopping with `pg_ctl -D <this dir>` can only ever hit this cluster.
    write_state postgres kind=pg_ctl "pgbin=$pgbin" "datadir=$dir" "port=$U_PORT" \
        "stop=$pgbin/pg_ctl -D $dir -m fast -w stop"
    if ! as_pg "$pgbin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t "$TIMEOUT" \
        -o "-c listen_addresses=$(listen_addr "$U_HOST") -p $U_PORT -k $dir -c fsync=off" start >/dev/null 9>&-; then
        warn "pg_ctl start failed"
        show_log "$dir/server.log"
        return 1
    fi
    pid=$(pg_postmaster_pid "$dir")
    write_state postgres kind=pg_ctl "pgbin=$pgbin" "datadir=$dir" "port=$U_PORT" "pid=$pid" \
        "stop=$pgbin/pg_ctl -D $dir -m fast -w stop"
    if ! wait_tcp "$U_HOST" "$U_PORT"; then
        warn "throwaway cluster started but $U_HOST:$U_PORT is not reachable"
        show_log "$dir/server.log"
        return 1
    fi
    START_NOTE="throwaway cluster in $dir"
}

# Start the packaged cluster on the URL's port if it trusts loopback connections.
pg_start_packaged() {
    local info ver cluster status datadir pid
    info=$(pg_packaged_cluster "$U_PORT") || return 1
    read -r ver cluster status datadir <<<"$info"
    pg_hba_trusts_loopback "$ver" "$cluster" || return 1
    if ! as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" start >/dev/null 2>&1 9>&-; then
        warn "pg_ctlcluster $ver $cluster start failed"
        show_log "/var/log/postgresql/postgresql-$ver-$cluster.log"
        return 1
    fi
    pid=$(pg_postmaster_pid "$datadir")
    write_state postgres kind=pg_ctlcluster "version=$ver" "cluster=$cluster" "datadir=$datadir" \
        "port=$U_PORT" "pid=$pid" "stop=pg_ctlcluster --skip-systemctl-redirect $ver $cluster stop"
    if wait_tcp "$U_HOST" "$U_PORT" && pg_login_ok; then
        START_NOTE="packaged cluster $ver/$cluster"
        return 0
    fi
    warn "packaged cluster $ver/$cluster does not accept 'psql -h $U_HOST -U $U_USER' without a password; stopping it again"
    svc_postgres stop "$STATE/postgres.state" >/dev/null 2>&1 || true
    rm -f "$STATE/postgres.state"
    return 1
}

svc_postgres() {
    local action=$1
    shift
    [[ -n ${U_USER:-} ]] || U_USER=postgres
    case $action in
        env_var) printf 'ALMACEN_TEST_POSTGRES_URL' ;;
        default_url) printf 'postgres://postgres@127.0.0.1:5432/test' ;;
        default_port) printf '5432' ;;
        url)
            printf '%s' "${ALMACEN_TEST_POSTGRES_URL:-$(svc_postgres default_url)}"
            ;;
        packages) printf 'postgresql' ;;
        installed)
            pg_latest_bin >/dev/null && command -v psql >/dev/null 2>&1
            ;;
        start)
            # Installed but down (or just installed): the packaged cluster if it is configured like
            # the project's machines (trust from 127.0.0.1), else a throwaway cluster.
            pg_start_packaged || pg_start_throwaway
            ;;
        adopt)
            # The package's maintainer scripts started the packaged cluster during apt-get install.
            local info ver cluster status datadir pid
            info=$(pg_packaged_cluster "$U_PORT") || return 1
            read -r ver cluster status datadir <<<"$info"
            [[ $status == online ]] || return 1
            pid=$(pg_postmaster_pid "$datadir")
            write_state postgres kind=pg_ctlcluster "version=$ver" "cluster=$cluster" "datadir=$datadir" \
                "port=$U_PORT" "pid=$pid" "stop=pg_ctlcluster --skip-systemctl-redirect $ver $cluster stop"
            if pg_login_ok; then
                START_NOTE="packaged cluster $ver/$cluster"
                return 0
            fi
            # Debian's default pg_hba.conf wants a password over TCP: replace it by a throwaway cluster.
            svc_postgres stop "$STATE/postgres.state" >/dev/null 2>&1 || true
            rm -f "$STATE/postgres.state"
            return 1
            ;;
        ensure)
            # Make sure the test database exists (best effort; never fails the run).
            local db=${U_DB:-test} exists
            if ! command -v psql >/dev/null 2>&1; then
                warn "psql not installed: cannot check that database '$db' exists"
                return 0
            fi
            if ! exists=$(pg_psql postgres -Atc "select 1 from pg_database where datname = '${db//\'/\'\'}'" 2>&1); then
                warn "cannot log in with 'psql -h $U_HOST -p $U_PORT -U $U_USER': ${exists//$'\n'/ }"
                return 0
            fi
            if [[ $exists != 1 ]]; then
                if pg_psql postgres -c "CREATE DATABASE \"${db//\"/\"\"}\"" >/dev/null 2>&1; then
                    ENSURE_NOTE="created database $db"
                elif [[ $(pg_psql postgres -Atc "select 1 from pg_database where datname = '${db//\'/\'\'}'" 2>/dev/null) != 1 ]]; then
                    warn "could not create database '$db'"
                fi
            fi
            ;;
        stop)
            local f=$1 kind pid datadir
            kind=$(state_get "$f" kind)
            pid=$(state_get "$f" pid)
            datadir=$(state_get "$f" datadir)
            case $kind in
                pg_ctl)
                    local pgbin
                    pgbin=$(state_get "$f" pgbin)
                    if [[ -f $datadir/postmaster.pid ]]; then
                        if ! as_pg "$pgbin/pg_ctl" -D "$datadir" -m fast -w -t "$TIMEOUT" stop >/dev/null; then
                            STOP_NOTE="pg_ctl -D $datadir stop failed"
                            return 1
                        fi
                        STOP_NOTE="stopped (throwaway cluster, data removed)"
                    else
                        STOP_NOTE="throwaway cluster was no longer running; data removed"
                    fi
                    [[ $datadir == "$STATE/pg" ]] && rm -rf "$datadir"
                    ;;
                pg_ctlcluster)
                    local ver cluster
                    ver=$(state_get "$f" version)
                    cluster=$(state_get "$f" cluster)
                    if [[ -n $pid && $(pg_postmaster_pid "$datadir") == "$pid" ]] && pid_is "$pid" postgres; then
                        if ! as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" stop >/dev/null; then
                            STOP_NOTE="pg_ctlcluster $ver $cluster stop failed"
                            return 1
                        fi
                        STOP_NOTE="stopped (packaged cluster $ver/$cluster)"
                    else
                        STOP_NOTE="not stopped: the server started by this script (pid ${pid:-?}) is gone; the one running now is not ours"
                    fi
                    ;;
                *)
                    STOP_NOTE="unknown record kind '$kind'; nothing stopped"
                    ;;
            esac
            ;;
        *) return 2 ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# MariaDB -> mysql://root@127.0.0.1:3306/test (root, empty password)
# ---------------------------------------------------------------------------------------------
my_client() { # my_client args...: connect over TCP as the URL's user
    MYSQL_PWD=$U_PASS mariadb --protocol=TCP --connect-timeout=5 -h "$U_HOST" -P "$U_PORT" -u "$U_USER" "$@"
}

svc_mariadb() {
    local action=$1
    shift
    [[ -n ${U_USER:-} ]] || U_USER=root
    case $action in
        env_var) printf 'ALMACEN_TEST_MYSQL_URL' ;;
        default_url) printf 'mysql://root@127.0.0.1:3306/test' ;;
        default_port) printf '3306' ;;
        url)
            printf '%s' "${ALMACEN_TEST_MYSQL_URL:-$(svc_mariadb default_url)}"
            ;;
        packages) printf 'mariadb-server' ;;
        installed)
            [[ -x /usr/sbin/mariadbd ]] && command -v mariadb >/dev/null 2>&1
            ;;
        start)
            # SERVICES.md section 0: start-stop-daemon ... mariadbd (packaged datadir /var/lib/mysql).
            local pidfile="$STATE/mariadb.pid"
            rm -f "$pidfile"
            as_root install -d -o mysql -g root /run/mysqld || return 1
            if ! as_root start-stop-daemon --start --oknodo --background \
                --make-pidfile --pidfile "$pidfile" --output "$STATE/mariadb.log" \
                --exec /usr/sbin/mariadbd -- --user=mysql --bind-address="$(listen_addr "$U_HOST")" --port="$U_PORT" 9>&-; then
                warn "start-stop-daemon could not start /usr/sbin/mariadbd"
                return 1
            fi
            write_state mariadb kind=mariadbd "port=$U_PORT" "pid=$(cat "$pidfile" 2>/dev/null || true)" \
                "stop=mariadb-admin shutdown"
            if ! wait_tcp "$U_HOST" "$U_PORT" "$pidfile"; then
                warn "mariadbd did not open $U_HOST:$U_PORT within ${TIMEOUT}s"
                show_log "$STATE/mariadb.log"
                show_log /var/log/mysql/error.log
                return 1
            fi
            MY_MAY_FIX_ROOT=1
            ;;
        adopt)
            local pid
            pid=$(as_root cat /run/mysqld/mysqld.pid 2>/dev/null || first_pid_of mariadbd || true)
            pid_is "$pid" mariadbd || return 1
            write_state mariadb kind=mariadbd "port=$U_PORT" "pid=$pid" "stop=mariadb-admin shutdown"
            MY_MAY_FIX_ROOT=1
            ;;
        ensure)
            local db=${U_DB:-test} err
            if ! command -v mariadb >/dev/null 2>&1; then
                warn "mariadb client not installed: cannot check that database '$db' exists"
                return 0
            fi
            if ! err=$(my_client -e 'SELECT 1' 2>&1 >/dev/null); then
                # A server this script started (packaged install): give root the project's
                # credentials, as in SERVICES.md section 1.
                if [[ ${MY_MAY_FIX_ROOT:-0} == 1 && $U_USER == root && -z $U_PASS ]] && is_local_host "$U_HOST"; then
                    as_root mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')" 2>/dev/null || true
                    if ! err=$(my_client -e 'SELECT 1' 2>&1 >/dev/null) && [[ $err == *1130* ]]; then
                        # "Host '127.0.0.1' is not allowed to connect": the server runs with
                        # skip-name-resolve (as on the project's machines), so 127.0.0.1 is not
                        # "localhost"; give it its own root account, as the project's machines have.
                        as_root mariadb -uroot -e "CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION" 2>/dev/null || true
                    fi
                    if my_client -e 'SELECT 1' >/dev/null 2>&1; then
                        ENSURE_NOTE="root may now log in over TCP with an empty password"
                    fi
                fi
                if ! err=$(my_client -e 'SELECT 1' 2>&1 >/dev/null); then
                    warn "cannot log in as '$U_USER' over TCP: ${err//$'\n'/ }"
                    return 0
                fi
            fi
            if ! err=$(my_client -e "CREATE DATABASE IF NOT EXISTS \`${db//\`/\`\`}\`" 2>&1 >/dev/null); then
                warn "could not create database '$db': ${err//$'\n'/ }"
            fi
            ;;
        stop)
            local f=$1 pid
            pid=$(state_get "$f" pid)
            if ! pid_is "$pid" mariadbd; then
                STOP_NOTE="not stopped: the mariadbd started by this script (pid ${pid:-?}) is gone"
                return 0
            fi
            # mariadb-admin talks to the server behind the default socket: use it only when that
            # server is ours (its pid file names our pid), else signal our pid directly.
            if [[ $(as_root cat /run/mysqld/mysqld.pid 2>/dev/null || true) == "$pid" ]]; then
                as_root mariadb-admin shutdown >/dev/null 2>&1 || true
            fi
            stop_pid "$pid"
            ;;
        *) return 2 ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# Redis -> redis://127.0.0.1:6379 (keeps nothing on disk)
# ---------------------------------------------------------------------------------------------
svc_redis() {
    local action=$1
    shift
    case $action in
        env_var) printf 'ALMACEN_TEST_REDIS_URL' ;;
        default_url) printf 'redis://127.0.0.1:6379' ;;
        default_port) printf '6379' ;;
        url)
            printf '%s' "${ALMACEN_TEST_REDIS_URL:-$(svc_redis default_url)}"
            ;;
        packages) printf 'redis-server' ;;
        installed)
            command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1
            ;;
        start)
            local pidfile="$STATE/redis.pid"
            rm -f "$pidfile"
            if ! redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$U_PORT" --save '' --appendonly no \
                --pidfile "$pidfile" --logfile "$STATE/redis.log" --dir "$STATE" >/dev/null 9>&-; then
                warn "redis-server failed to start"
                show_log "$STATE/redis.log"
                return 1
            fi
            local rc=0
            wait_tcp "$U_HOST" "$U_PORT" "$pidfile" || rc=$?
            write_state redis kind=redis "port=$U_PORT" "pid=$(cat "$pidfile" 2>/dev/null || true)" \
                "stop=redis-cli -h 127.0.0.1 -p $U_PORT shutdown nosave"
            if ((rc)); then
                warn "redis-server did not open $U_HOST:$U_PORT within ${TIMEOUT}s"
                show_log "$STATE/redis.log"
                return 1
            fi
            ;;
        adopt)
            local pid
            pid=$(cat /run/redis/redis-server.pid 2>/dev/null || first_pid_of redis-server || true)
            pid_is "$pid" redis-server || return 1
            write_state redis kind=redis "port=$U_PORT" "pid=$pid" \
                "stop=redis-cli -h 127.0.0.1 -p $U_PORT shutdown nosave"
            ;;
        ensure) : ;;
        stop)
            local f=$1 pid port
            pid=$(state_get "$f" pid)
            port=$(state_get "$f" port)
            if ! pid_is "$pid" redis-server; then
                STOP_NOTE="not stopped: the redis-server started by this script (pid ${pid:-?}) is gone"
                return 0
            fi
            redis-cli -h 127.0.0.1 -p "${port:-6379}" shutdown nosave >/dev/null 2>&1 || true
            stop_pid "$pid"
            ;;
        *) return 2 ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# NATS with JetStream -> nats://127.0.0.1:4222 (JetStream files under the state directory)
# ---------------------------------------------------------------------------------------------
svc_nats() {
    local action=$1
    shift
    case $action in
        env_var) printf 'ALMACEN_TEST_NATS_URL' ;;
        default_url) printf 'nats://127.0.0.1:4222' ;;
        default_port) printf '4222' ;;
        url)
            printf '%s' "${ALMACEN_TEST_NATS_URL:-$(svc_nats default_url)}"
            ;;
        packages) printf 'nats-server' ;;
        installed)
            command -v nats-server >/dev/null 2>&1
            ;;
        start)
            local pidfile="$STATE/nats.pid" bin
            bin=$(command -v nats-server)
            rm -f "$pidfile"
            mkdir -p "$STATE/nats"
            # (9>&-: the server must not inherit our lock)
            setsid "$bin" -js -a 127.0.0.1 -p "$U_PORT" -sd "$STATE/nats" -P "$pidfile" -l "$STATE/nats.log" \
                </dev/null >/dev/null 2>&1 9>&- &
            local rc=0
            wait_tcp "$U_HOST" "$U_PORT" "$pidfile" || rc=$?
            write_state nats kind=nats "port=$U_PORT" "pid=$(cat "$pidfile" 2>/dev/null || true)" "stop=kill pid"
            if ((rc)); then
                warn "nats-server did not open $U_HOST:$U_PORT within ${TIMEOUT}s"
                show_log "$STATE/nats.log"
                return 1
            fi
            ;;
        adopt)
            local pid
            pid=$(first_pid_of nats-server || true)
            pid_is "$pid" nats-server || return 1
            write_state nats kind=nats "port=$U_PORT" "pid=$pid" "stop=kill pid"
            ;;
        ensure) : ;;
        stop)
            local f=$1 pid
            pid=$(state_get "$f" pid)
            if ! pid_is "$pid" nats-server; then
                STOP_NOTE="not stopped: the nats-server started by this script (pid ${pid:-?}) is gone"
                return 0
            fi
            kill -TERM "$pid" 2>/dev/null || true
            stop_pid "$pid"
            ;;
        *) return 2 ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# up / down
# ---------------------------------------------------------------------------------------------
select_services() {
    local s t ok
    SELECTED=()
    if (($# == 0)); then
        SELECTED=("${ALL_SERVICES[@]}")
        return
    fi
    for s in "$@"; do
        [[ $s == mysql ]] && s=mariadb
        ok=0
        for t in "${ALL_SERVICES[@]}"; do
            [[ $s == "$t" ]] && ok=1
        done
        ((ok)) || die "unknown service '$s' (known: ${ALL_SERVICES[*]})"
        SELECTED+=("$s")
    done
}

apt_install() {
    local log="$STATE/apt.log"
    command -v apt-get >/dev/null 2>&1 || {
        warn "apt-get not found: install $* yourself"
        return 1
    }
    say "installing: $* (apt-get; log in $log)"
    if ! as_root apt-get update >"$log" 2>&1; then
        warn "apt-get update failed"
        show_log "$log"
        return 1
    fi
    # (9>&-: servers started by the packages' scripts must not inherit our lock)
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$log" 2>&1 9>&-; then
        warn "apt-get install $* failed"
        show_log "$log"
        return 1
    fi
}

cmd_up() {
    select_services "$@"
    ensure_state_dir
    lock_state

    local s url f owner failed=() to_install=() pkgs=()
    declare -A STATUS=() URLS=()

    # 1. probe everything first, so that one apt-get run installs all that is missing
    for s in "${SELECTED[@]}"; do
        url=$("svc_$s" url)
        URLS[$s]=$url
        parse_url "$url" "$("svc_$s" default_port)"
        f="$STATE/$s.state"
        if probe_tcp "$U_HOST" "$U_PORT"; then
            STATUS[$s]=reachable
        else
            if [[ -f $f ]]; then
                # stale record: what this script started earlier is no longer listening
                STOP_NOTE=""
                "svc_$s" stop "$f" >/dev/null 2>&1 || true
                rm -f "$f" "$STATE/$s.pid" "$STATE/$s.log"
            fi
            if ! is_local_host "$U_HOST"; then
                STATUS[$s]=remote
            elif "svc_$s" installed; then
                STATUS[$s]=down
            else
                STATUS[$s]=missing
                to_install+=("$s")
                pkgs+=("$("svc_$s" packages)")
            fi
        fi
    done

    # 2. install what is missing (one update, one install)
    if ((${#pkgs[@]})); then
        if ! apt_install "${pkgs[@]}"; then
            for s in "${to_install[@]}"; do STATUS[$s]=install_failed; done
        fi
    fi

    # 3. start / check each service, one line each
    for s in "${SELECTED[@]}"; do
        parse_url "${URLS[$s]}" "$("svc_$s" default_port)"
        START_NOTE="" ENSURE_NOTE="" MY_MAY_FIX_ROOT=0
        local where="$U_HOST:$U_PORT" line="" ok=1
        case ${STATUS[$s]} in
            reachable)
                f="$STATE/$s.state"
                line="reachable at $where (already running"
                if [[ -f $f ]]; then
                    owner=$(state_get "$f" owner)
                    if [[ $owner == "$OWNER_UP" ]]; then
                        line+="; started earlier by this script, 'down' will stop it"
                    else
                        line+="; started by this script for '$owner'"
                    fi
                fi
                line+=")"
                ;;
            remote)
                line="NOT reachable at $where (not a local address, so not starting anything)"
                ok=0
                ;;
            install_failed)
                line="NOT installed (apt-get install $("svc_$s" packages) failed)"
                ok=0
                ;;
            down)
                if "svc_$s" start; then
                    line="started at $where"
                else
                    line="FAILED to start at $where"
                    ok=0
                fi
                ;;
            missing)
                if ! "svc_$s" installed; then
                    line="NOT installed after apt-get install $("svc_$s" packages)"
                    ok=0
                elif probe_tcp "$U_HOST" "$U_PORT" && "svc_$s" adopt; then
                    line="installed and started at $where (by the package's scripts)"
                elif probe_tcp "$U_HOST" "$U_PORT"; then
                    line="installed; something already listens on $where that this script cannot use or stop"
                    ok=0
                elif "svc_$s" start; then
                    line="installed and started at $where"
                else
                    line="installed but FAILED to start at $where"
                    ok=0
                fi
                ;;
        esac
        if ((ok)); then
            "svc_$s" ensure || true
        fi
        [[ -n $START_NOTE ]] && line+=" [$START_NOTE]"
        [[ -n $ENSURE_NOTE ]] && line+=" [$ENSURE_NOTE]"
        if ((!ok)) && is_optional "$s"; then
            line+=" (optional, continuing)"
        elif ((!ok)); then
            failed+=("$s")
        fi
        say "$s: $line"
    done

    for s in "${SELECTED[@]}"; do
        say "$("svc_$s" env_var)=${URLS[$s]}"
    done
    if ((${#failed[@]})); then
        die "not available: ${failed[*]}"
    fi
}

cmd_down() {
    select_services "$@"
    if [[ ! -d $STATE ]]; then
        say "services: nothing recorded in $STATE; nothing to stop"
        return 0
    fi
    [[ -O $STATE && ! -L $STATE ]] || die "state directory $STATE is not owned by $(id -un); refusing to use it"
    lock_state

    local i s f owner rc=0
    for ((i = ${#SELECTED[@]} - 1; i >= 0; i--)); do
        s=${SELECTED[i]}
        f="$STATE/$s.state"
        if [[ ! -f $f ]]; then
            say "$s: left alone (not started by this script)"
            continue
        fi
        owner=$(state_get "$f" owner)
        if [[ -n $OWNER_DOWN && $owner != "$OWNER_DOWN" ]]; then
            say "$s: left alone (started by this script for '$owner', not for '$OWNER_DOWN')"
            continue
        fi
        STOP_NOTE=""
        if "svc_$s" stop "$f"; then
            rm -f "$f" "$STATE/$s.pid" "$STATE/$s.log"
            say "$s: ${STOP_NOTE:-stopped}"
        else
            say "$s: ${STOP_NOTE:-FAILED to stop} (record kept in $f)"
            rc=1
        fi
    done
    if ! compgen -G "$STATE/*.state" >/dev/null; then
        rm -f "$STATE/apt.log" "$STATE/postgres-initdb.log"
    fi
    return "$rc"
}

usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

main() {
    (($# >= 1)) || usage
    local cmd=$1
    shift
    case $cmd in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

main "$@"
