#!/usr/bin/env bash
# Run the whole test suite: rustfmt check, clippy (also per backend feature), all test
# targets, doc tests.
#
#   scripts/test.sh
#
# Brings up PostgreSQL/MariaDB (and Redis, NATS) with scripts/services.sh first, unless
# ALMACEN_SERVICES_READY=1 says the caller (e.g. .ci/run) already did, and private throwaway
# PostgreSQL/MariaDB servers for the restart test with scripts/private-servers.sh, unless
# ALMACEN_RESTART_COMMAND is set; whatever this script started itself is stopped again when it
# exits. With CI=true, ALMACEN_REQUIRE_ALL_BACKENDS=1 is exported, so backend tests fail
# instead of skipping when a server is missing (the restart test fails without its servers).
# Every step runs even if an earlier one failed; the exit code is that of the first failure.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

started_services=0
started_private=0
# shellcheck disable=SC2317 # invoked through the trap
teardown() {
    local rc=$?
    trap - EXIT
    if ((started_private)); then
        printf '\n==> private servers: scripts/private-servers.sh down\n'
        scripts/private-servers.sh down || echo "test.sh: warning: scripts/private-servers.sh down failed" >&2
    fi
    if ((started_services)); then
        printf '\n==> services: scripts/services.sh down\n'
        scripts/services.sh down || echo "test.sh: warning: scripts/services.sh down failed" >&2
    fi
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ${ALMACEN_SERVICES_READY:-} != 1 ]]; then
    export ALMACEN_SERVICES_OWNER=${ALMACEN_SERVICES_OWNER:-test.sh-$$-$(date +%s)}
    started_services=1 # before `up`, so that a partly successful `up` is torn down as well
    printf '==> services: scripts/services.sh up\n'
    scripts/services.sh up
fi

# The restart test (crates/almacen/tests/restart.rs) stops and starts servers: it gets private
# throwaway ones of this run's own, never the shared ones above. Unless the caller named its own
# (ALMACEN_RESTART_COMMAND set), start them here; if that fails the test skips, or fails in CI.
if [[ -z ${ALMACEN_RESTART_COMMAND:-} ]]; then
    printf '==> private servers: scripts/private-servers.sh up\n'
    private_rc=0
    private_env=$(scripts/private-servers.sh up) || private_rc=$?
    if [[ $private_env == *ALMACEN_PRIVATE_SERVERS=* ]]; then
        eval "$private_env"
        started_private=1
    fi
    ((private_rc == 0)) || echo "test.sh: warning: private servers not (all) up; the restart test will skip them, or fail in CI" >&2
fi

export ALMACEN_TEST_POSTGRES_URL=${ALMACEN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
export ALMACEN_TEST_MYSQL_URL=${ALMACEN_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
export ALMACEN_TEST_NATS_URL=${ALMACEN_TEST_NATS_URL:-nats://127.0.0.1:4222}
if [[ ${CI:-} == true || ${CI:-} == 1 ]]; then
    export ALMACEN_REQUIRE_ALL_BACKENDS=${ALMACEN_REQUIRE_ALL_BACKENDS:-1}
    # A one-off build gains nothing from incremental state, which is a third of target/.
    export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
fi
# The build needs several GB; say how much there is, so a full disk is recognised as such.
target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p "$target_dir"
printf '==> disk: %s free where %s is\n' "$(df -h --output=avail "$target_dir" | tail -1 | tr -d ' ')" "$target_dir"
printf '==> env: ALMACEN_TEST_POSTGRES_URL=%s ALMACEN_TEST_MYSQL_URL=%s ALMACEN_REQUIRE_ALL_BACKENDS=%s\n' \
    "$ALMACEN_TEST_POSTGRES_URL" "$ALMACEN_TEST_MYSQL_URL" "${ALMACEN_REQUIRE_ALL_BACKENDS:-0}"
printf '==> env: ALMACEN_RESTART_POSTGRES_URL=%s ALMACEN_RESTART_MYSQL_URL=%s ALMACEN_RESTART_COMMAND=%s\n' \
    "${ALMACEN_RESTART_POSTGRES_URL:-}" "${ALMACEN_RESTART_MYSQL_URL:-}" "${ALMACEN_RESTART_COMMAND:-}"

failed=()
first_rc=0
step() { # step NAME COMMAND...
    local name=$1 rc=0
    shift
    printf '\n==> [%s] %s\n' "$name" "$*"
    "$@" || rc=$?
    if ((rc != 0)); then
        printf '==> [%s] FAILED (exit %d)\n' "$name" "$rc"
        failed+=("$name")
        ((first_rc != 0)) || first_rc=$rc
    fi
}

step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
# Each backend feature alone, warnings as errors: SQLite only with every target (tests and
# examples must build without the servers), each server with the library; and the refusal,
# by a build without them, of the other backends' URLs (SQLite-only and PostgreSQL-only).
# Checks, not the suite.
step clippy-sqlite-only cargo clippy -p almacen --no-default-features --features sqlite --all-targets -- -D warnings
step clippy-postgres-only cargo clippy -p almacen --no-default-features --features postgres -- -D warnings
step clippy-mysql-only cargo clippy -p almacen --no-default-features --features mysql -- -D warnings
step features-sqlite-only cargo test -p almacen --no-default-features --features sqlite --lib database::tests
step features-postgres-only cargo test -p almacen --no-default-features --features postgres --lib database::tests
step test cargo test --workspace --all-targets
# The broker transports are features of almacen-events, off by default: their tests run
# against the real brokers scripts/services.sh brought up.
step clippy-events-brokers cargo clippy -p almacen-events --features nats,cli --all-targets -- -D warnings
step test-events-brokers cargo test -p almacen-events --features nats,cli --test nats --test crash
# The example shop from outside: its docs pages in headless Chromium, schemathesis against its
# OpenAPI document (installs chromium from Debian and schemathesis from PyPI if missing).
step shop-api scripts/check-shop.sh
step doctest cargo test --workspace --doc
step doc env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

if ((${#failed[@]})); then
    printf '\n==> disk: %s free where %s is\n' "$(df -h --output=avail "$target_dir" | tail -1 | tr -d ' ')" "$target_dir"
    printf '\n==> test.sh: FAILED steps: %s\n' "${failed[*]}"
    exit "$first_rc"
fi
printf '\n==> test.sh: all steps passed (fmt, clippy, clippy and tests per feature, test, events with brokers, shop-api, doctest, doc)\n'
