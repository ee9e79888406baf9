# Shell helpers of scripts/install and scripts/test (POSIX sh, sourced).

fail() {
    echo "$0: $*" >&2
    exit 1
}

# as_root CMD...: run CMD as root (directly, else through sudo), or fail naming it.
as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        fail "needs root (or sudo) to run: $*"
    fi
}

# need_packages PKG...: install these Debian packages, or fail with the one command to run.
need_packages() {
    to_run="apt-get update && apt-get install -y $*"
    if ! command -v apt-get >/dev/null 2>&1; then
        fail "missing system packages; on Debian or Ubuntu run as root: $to_run"
    fi
    if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
        fail "missing system packages; run as root: $to_run"
    fi
    echo "$0: installing Debian packages: $*" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# as_postgres CMD...: run CMD as the database superuser `postgres`.
as_postgres() {
    (cd / && as_root runuser -u postgres -- "$@")
}

# start_postgres: start the first PostgreSQL cluster (Debian's postgresql package creates one)
# and create the role `basis` (password `basis`) and its database `basis_test` when missing.
# Sets pg_port to the cluster's port.
start_postgres() {
    # shellcheck disable=SC2046
    set -- $(pg_lsclusters --no-header | head -n 1) # version name port status owner ...
    [ $# -ge 4 ] || fail "no PostgreSQL cluster: as root run pg_createcluster --start VERSION main"
    case $4 in online*) ;; *) as_root pg_ctlcluster "$1" "$2" start ;; esac
    pg_port=$3
    as_postgres psql --quiet --port "$pg_port" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT 'CREATE ROLE basis LOGIN PASSWORD ''basis'''
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'basis') \gexec
SELECT 'CREATE DATABASE basis_test OWNER basis'
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'basis_test') \gexec
SQL
}
