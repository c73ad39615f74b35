#!/usr/bin/env bash
# A real single-node SLURM cluster for the tests (and for trying `hydra/launcher=slurm` locally):
# munged, MariaDB, slurmdbd (accounting: without it submitit hangs on cancelled jobs), slurmctld and
# slurmd, started by hand (the image blocks service starts) and stopped by their pid files.
#
#   tests/slurm/cluster.sh start    install the Debian packages if missing, write the configs, start
#   tests/slurm/cluster.sh stop     stop every daemon this script started
#   tests/slurm/cluster.sh status   say what runs; exit 0 only when the node is up
#   tests/slurm/cluster.sh env      print `export SLURM_CONF=...` for a shell
#
# Needs root. Idempotent: `start` on a running cluster and `stop` on a stopped one do nothing.
# Exit status 3: the cluster cannot be started here (not root, packages not installable); the tests
# skip on it. Any other failure is an error.
# Everything lives under $ABLAB_SLURM_STATE (default /tmp/ablab-slurm); /etc/slurm/slurm.conf is made
# a link to our slurm.conf only when no other slurm.conf is there, so plain `sinfo` works too.
set -euo pipefail

STATE=${ABLAB_SLURM_STATE:-/tmp/ablab-slurm}
CLUSTER=ablab
# Node names must resolve: Lightning finds the DDP main address from SLURM_NODELIST.
NODE=localhost
PARTITION=debug
DB=ablab_slurm_acct
DB_USER=ablab_slurm
SLURM_CONF=$STATE/etc/slurm.conf
export SLURM_CONF
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
WAIT_S=${ABLAB_SLURM_WAIT_S:-60}

log() { echo "cluster.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
impossible() { log "cannot start here: $*"; exit 3; }

# Wait until `$@` succeeds, or fail after WAIT_S seconds naming what did not come up and its log.
wait_for() {
    local what=$1 logfile=$2
    shift 2
    local deadline=$((SECONDS + WAIT_S))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "error: $what did not come up within ${WAIT_S}s; last lines of $logfile:"
            tail -n 20 "$logfile" >&2 2>/dev/null || true
            exit 1
        fi
        sleep 0.2
    done
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local missing=()
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null || impossible "packages ${missing[*]} are missing and apt-get is not available"
    log "installing ${missing[*]} (apt-get)"
    apt-get update -q >"$STATE/log/apt.log" 2>&1 || {
        tail -n 5 "$STATE/log/apt.log" >&2
        impossible "apt-get update failed (no network to the Debian mirrors?)"
    }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >>"$STATE/log/apt.log" 2>&1 || {
        tail -n 5 "$STATE/log/apt.log" >&2
        impossible "apt-get install ${missing[*]} failed"
    }
}

write_configs() {
    local cpus mem_mb host
    # nproc honours OMP_NUM_THREADS (tests set it to 1): count the CPUs this machine lets us use.
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
    mem_mb=$(($(free -m | awk '/^Mem:/ {print $2}') * 9 / 10))
    host=$(hostname -s)
    mkdir -p "$STATE"/{etc,log,run,spool/ctld,spool/d}
    cat >"$SLURM_CONF" <<EOF
# Written by tests/slurm/cluster.sh: one node, no cgroups, accounting through slurmdbd.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued job waits cred_expire seconds before it may start again (default 120).
AuthInfo=cred_expire=5
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Start pending and requeued jobs within seconds (defaults: every 60 s and 30 s).
SchedulerParameters=sched_interval=2,bf_interval=1
MpiDefault=none
ReturnToService=2
# submitit ignores SIGTERM: a low KillWait makes scancel and time limits end jobs quickly.
KillWait=5
InactiveLimit=0
MinJobAge=600
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    local db_pass
    db_pass=$(cat "$STATE/etc/db_pass" 2>/dev/null || head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    echo "$db_pass" >"$STATE/etc/db_pass"
    (
        umask 077
        cat >"$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=$DB
StorageUser=$DB_USER
StoragePass=$db_pass
EOF
    )
    chmod 600 "$STATE/etc/slurmdbd.conf" "$STATE/etc/db_pass"
    if [[ ! -e /etc/slurm/slurm.conf ]]; then
        mkdir -p /etc/slurm && ln -s "$SLURM_CONF" /etc/slurm/slurm.conf
    fi
}

start_munge() {
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    [[ -f /etc/munge/munge.key ]] || die "/etc/munge/munge.key is missing: reinstall munge (apt-get install --reinstall munge)"
    if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged --force
        wait_for munged /var/log/munge/munged.log bash -c 'munge -n </dev/null | unmunge'
        cp /run/munge/munged.pid "$STATE/run/munged.pid"
    fi
}

start_mariadb() {
    # MariaDB runs as user mysql: its pid and log files go where that user may write.
    mkdir -p /run/mysqld "$STATE/mariadb" && chown mysql "$STATE/mariadb" && chown mysql:root /run/mysqld
    if ! mysqladmin ping --silent >/dev/null 2>&1; then
        mariadbd --user=mysql --skip-networking --pid-file="$STATE/mariadb/mariadbd.pid" \
            --log-error="$STATE/mariadb/mariadb.log" </dev/null >/dev/null 2>&1 &
        disown
        wait_for MariaDB "$STATE/mariadb/mariadb.log" mysqladmin ping --silent
        cp "$STATE/mariadb/mariadbd.pid" "$STATE/run/mariadbd.pid"
    fi
    mysql -u root <<EOF
CREATE DATABASE IF NOT EXISTS $DB;
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$(cat "$STATE/etc/db_pass")';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$(cat "$STATE/etc/db_pass")';
GRANT ALL ON $DB.* TO '$DB_USER'@'localhost';
EOF
}

start() {
    [[ $(id -u) == 0 ]] || impossible "must run as root (it starts munged, MariaDB and the SLURM daemons)"
    mkdir -p "$STATE/log"
    local t0=$SECONDS
    install_packages
    write_configs
    start_munge
    start_mariadb
    alive "$STATE/run/slurmdbd.pid" || slurmdbd
    wait_for slurmdbd "$STATE/log/slurmdbd.log" sacctmgr -n list cluster
    alive "$STATE/run/slurmctld.pid" || slurmctld -i
    wait_for slurmctld "$STATE/log/slurmctld.log" scontrol ping
    alive "$STATE/run/slurmd.pid" || slurmd -N "$NODE"
    wait_for "slurmd (node $NODE idle)" "$STATE/log/slurmd.log" node_idle
    log "up in $((SECONDS - t0)) s: partition $PARTITION, node $NODE ($(sinfo -h -n "$NODE" -o %c) CPUs); SLURM_CONF=$SLURM_CONF"
}

node_idle() { sinfo -h -n "$NODE" -o %t | grep -Eq '^(idle|mix|alloc)'; }

stop_pid() {
    local name=$1 pidfile=$2
    alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    local pid deadline
    pid=$(cat "$pidfile")
    kill "$pid"
    deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$name (pid $pid) ignored SIGTERM for 20 s; sending SIGKILL"
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$pidfile"
}

stop() {
    # Jobs first, so nothing keeps running without its daemons.
    if alive "$STATE/run/slurmctld.pid"; then
        scancel --full --quiet --partition="$PARTITION" 2>/dev/null || true
    fi
    stop_pid slurmd "$STATE/run/slurmd.pid"
    stop_pid slurmctld "$STATE/run/slurmctld.pid"
    stop_pid slurmdbd "$STATE/run/slurmdbd.pid"
    stop_pid mariadbd "$STATE/run/mariadbd.pid"
    stop_pid munged "$STATE/run/munged.pid"
    if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$SLURM_CONF" ]]; then
        rm -f /etc/slurm/slurm.conf
    fi
    log "stopped"
}

status() {
    local up=0
    for daemon in munged mariadbd slurmdbd slurmctld slurmd; do
        if alive "$STATE/run/$daemon.pid"; then
            echo "$daemon: running (pid $(cat "$STATE/run/$daemon.pid"))"
        else
            echo "$daemon: not started by cluster.sh"
        fi
    done
    if [[ -f $SLURM_CONF ]] && node_idle; then
        echo "node $NODE: $(sinfo -h -n "$NODE" -o %t); SLURM_CONF=$SLURM_CONF"
    else
        echo "node $NODE: down"
        up=1
    fi
    return $up
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) echo "export SLURM_CONF=$SLURM_CONF" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
