#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the Slurm sweep tests (tests/slurm).
#
#   bash .ci/slurm_setup.sh          # install (Debian, as root), configure, start, wait for the node: idempotent
#   bash .ci/slurm_setup.sh --stop   # stop the daemons this script started (by their pid files)
#
# Installs slurm-wlm + munge (and, for sacct, slurmdbd + MariaDB) with apt-get, writes /etc/slurm/slurm.conf
# (proctrack/linuxproc, task/none, select/cons_tres, one node = this host with its CPUs, one default partition),
# starts munged, mariadbd, slurmdbd, slurmctld and slurmd directly (no systemd), waits until the node is idle
# and runs one job. It never fails: when Slurm cannot be set up it says why, writes the reason to
# $STATE_DIR/status ("unavailable: ...", read by tests/slurm to report the skip) and exits 0. On success the
# status file starts with "ok". Without accounting (slurmdbd/MariaDB not installable) the cluster still runs
# and the status says "accounting: none" (the test that cancels a job needs sacct and skips).
#
# An /etc/slurm/slurm.conf this script did not write is never touched: that cluster is only checked.
set -u
export PATH="$PATH:/usr/sbin:/sbin" # the daemons live in /usr/sbin

STATE_DIR=${MERGINGURIEL_SLURM_STATE:-/var/tmp/merginguriel-slurm}
STATUS_FILE=$STATE_DIR/status
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
DBD_CONF=$CONF_DIR/slurmdbd.conf
MARKER="# written by merginguriel .ci/slurm_setup.sh"
CLUSTER=merginguriel-ci
PARTITION=debug
DB_PASS=merginguriel-ci-slurmdbd
LOG=$STATE_DIR/setup.log
# the whole set-up, apt-get included, gives up after this many seconds (CI must not wait on a slow mirror)
BUDGET_S=${MERGINGURIEL_SLURM_SETUP_BUDGET:-600}

say() { echo "slurm_setup: $*"; }

left() { echo $((BUDGET_S - SECONDS)); }

write_status() { mkdir -p "$STATE_DIR" 2>/dev/null && printf '%s\n' "$1" >"$STATUS_FILE" 2>/dev/null; }

unavailable() {
    say "Slurm unavailable: $1 (the Slurm tests will skip)"
    write_status "unavailable: $1"
    exit 0
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for SECONDS COMMAND...: poll COMMAND every half second until it succeeds
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.5
    done
}

# A daemon this script started has $STATE_DIR/run/NAME.started holding the path of its pid file; --stop ends
# exactly those processes (a munged or mariadbd that was already running is left alone).
mark_started() { echo "$2" >"$STATE_DIR/run/$1.started"; }

running() { [ -s "$STATE_DIR/run/$1.started" ] && alive "$(cat "$STATE_DIR/run/$1.started")"; }

stop_daemons() {
    local name pidfile pid
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        [ -s "$STATE_DIR/run/$name.started" ] || continue
        pidfile=$(cat "$STATE_DIR/run/$name.started")
        if alive "$pidfile"; then
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null
            for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
            say "stopped $name (pid $pid)"
        fi
        rm -f "$STATE_DIR/run/$name.started"
    done
}

# --- install ---------------------------------------------------------------------------------------------------

apt_install() {
    # apt_install PACKAGE...: non-interactive, services not started by the packages (no systemd here: we start
    # the daemons ourselves); one apt-get update and a retry when the first try fails; within the budget.
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=1
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    [ "$(left)" -gt 10 ] && timeout "$(left)" dpkg --configure -a >>"$LOG" 2>&1 # an install killed earlier
    if [ "$(left)" -gt 10 ]; then
        timeout "$(left)" apt-get install "${opts[@]}" "$@" >>"$LOG" 2>&1
        rc=$?
    fi
    if [ $rc -ne 0 ] && [ "$(left)" -gt 10 ]; then
        timeout "$(left)" apt-get update -q >>"$LOG" 2>&1
        [ "$(left)" -gt 10 ] && timeout "$(left)" apt-get install "${opts[@]}" "$@" >>"$LOG" 2>&1
        rc=$?
    fi
    [ $own_policy -eq 1 ] && rm -f "$policy"
    return $rc
}

install_packages() {
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sinfo >/dev/null ||
        ! command -v munged >/dev/null; then
        say "installing slurm-wlm and munge with apt-get (log: $LOG)"
        apt_install slurm-wlm munge ||
            unavailable "apt-get install slurm-wlm munge failed (exit $?, ${SECONDS}s; $LOG: $(tail -n 1 "$LOG"))"
    fi
    ACCOUNTING=slurmdbd
    if ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null || ! command -v mariadb >/dev/null; then
        say "installing slurmdbd and MariaDB for job accounting (sacct)"
        if ! apt_install slurmdbd mariadb-server-core mariadb-client-core; then
            say "could not install slurmdbd/MariaDB: no accounting, sacct will not work (see $LOG)"
            ACCOUNTING=none
        fi
    fi
}

# --- daemons ---------------------------------------------------------------------------------------------------

start_munge() {
    mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key >>"$LOG" 2>&1
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        fi
    fi
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
    chmod 700 /etc/munge /var/lib/munge /var/log/munge
    chmod 755 /run/munge
    chmod 400 /etc/munge/munge.key
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        # munged daemonizes and writes /run/munge/munged.pid (as user munge)
        runuser -u munge -- munged </dev/null >>"$LOG" 2>&1 || unavailable "munged did not start (see $LOG)"
        mark_started munged /run/munge/munged.pid
    fi
    wait_for 15 sh -c 'munge -n | unmunge' || unavailable "munge credentials do not work (munge -n | unmunge; see $LOG)"
}

start_mariadb() {
    local data=$STATE_DIR/mysql sock=/run/mysqld/mysqld.sock
    # mariadb-server-core (without mariadb-server's service scripts) does not create the mysql user
    id -u mysql >/dev/null 2>&1 ||
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mysql >>"$LOG" 2>&1 ||
        return 1
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld || return 1
    if ! running mariadbd; then
        if [ ! -d "$data/mysql" ]; then
            mkdir -p "$data" && chown mysql:mysql "$data"
            mariadb-install-db --user=mysql --datadir="$data" --auth-root-authentication-method=socket \
                --skip-test-db >>"$LOG" 2>&1 || return 1
        fi
        # no TCP port: slurmdbd talks to it over the socket; it drops to user mysql itself
        rm -f /run/mysqld/mariadbd.pid
        setsid mariadbd --no-defaults --user=mysql --datadir="$data" --socket="$sock" --skip-networking \
            --pid-file=/run/mysqld/mariadbd.pid --log-error="$data/mariadbd.err" </dev/null >>"$LOG" 2>&1 &
        mark_started mariadbd /run/mysqld/mariadbd.pid
    fi
    wait_for 60 mariadb --socket="$sock" -e "SELECT 1" || return 1
    mariadb --socket="$sock" >>"$LOG" 2>&1 <<SQL || return 1
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL
}

start_slurmdbd() {
    cat >"$DBD_CONF.tmp" <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=$STATE_DIR/run/slurmdbd.pid
LogFile=$STATE_DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$DBD_CONF.tmp" && mv -f "$DBD_CONF.tmp" "$DBD_CONF"
    if ! running slurmdbd; then
        slurmdbd </dev/null >>"$LOG" 2>&1 || return 1
        mark_started slurmdbd "$STATE_DIR/run/slurmdbd.pid"
    fi
    wait_for 30 sacctmgr -n list cluster || return 1
    sacctmgr -i add cluster "$CLUSTER" >>"$LOG" 2>&1  # "already exists" on a rerun
    sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"
}

write_slurm_conf() {
    local host cpus mem_kb mem_mb accounting_lines
    host=$(hostname -s)
    cpus=$(nproc)
    mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    mem_mb=$((mem_kb / 1024))
    mem_mb=$((mem_mb - mem_mb / 10 - 256)) # margin: the kernel, the daemons, and a node must never be "Low RealMemory"
    [ "$mem_mb" -lt 256 ] && mem_mb=256
    if [ "$ACCOUNTING" = slurmdbd ]; then
        accounting_lines="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819"
    else
        accounting_lines="AccountingStorageType=accounting_storage/none"
    fi
    NODE=$host
    NODE_CPUS=$cpus
    NODE_MEM=$mem_mb
    cat >"$CONF.tmp" <<EOF
$MARKER
# single-node CI cluster: $host, $cpus CPUs, ${mem_mb} MB
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
$accounting_lines
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
# scancel: SIGTERM, then SIGKILL after KillWait seconds (submitit ignores SIGTERM)
KillWait=3
MinJobAge=300
InactiveLimit=0
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=60
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if cmp -s "$CONF.tmp" "$CONF"; then
        rm -f "$CONF.tmp"
    else
        mv -f "$CONF.tmp" "$CONF"
        CONF_CHANGED=1
    fi
}

node_state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1; }

node_usable() { case "$(node_state)" in idle | mixed | allocated) return 0 ;; *) return 1 ;; esac; }

slurm_stopped() { ! running slurmd && ! running slurmctld; }

start_slurm() {
    mkdir -p "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd"
    if [ "$CONF_CHANGED" = 1 ]; then
        for name in slurmd slurmctld; do
            running $name && kill "$(cat "$(cat "$STATE_DIR/run/$name.started")")" 2>/dev/null
        done
        wait_for 20 slurm_stopped
    fi
    if ! running slurmctld; then
        slurmctld </dev/null >>"$LOG" 2>&1 || unavailable "slurmctld did not start (see $STATE_DIR/log/slurmctld.log)"
        mark_started slurmctld "$STATE_DIR/run/slurmctld.pid"
    fi
    wait_for 30 scontrol ping || unavailable "slurmctld does not answer scontrol ping (see $STATE_DIR/log/slurmctld.log)"
    if ! running slurmd; then
        slurmd </dev/null >>"$LOG" 2>&1 || unavailable "slurmd did not start (see $STATE_DIR/log/slurmd.log)"
        mark_started slurmd "$STATE_DIR/run/slurmd.pid"
    fi
    if ! wait_for 60 node_usable; then
        # a node left down/drained by an earlier run: bring it back once
        scontrol update nodename="$NODE" state=resume >>"$LOG" 2>&1
        wait_for 30 node_usable ||
            unavailable "node $NODE is '$(node_state)', not idle (sinfo -R: $(sinfo -h -R 2>/dev/null | head -n 1))"
    fi
}

check_job() {
    # one real job through the scheduler, with its accounting record
    local out
    out=$(timeout 120 srun --quiet -N1 -n1 -t 1 hostname 2>&1) ||
        unavailable "a test job did not run (srun hostname: $out)"
    if [ "$ACCOUNTING" = slurmdbd ] && ! wait_for 20 sh -c 'sacct -n -X -P -o State | grep -q COMPLETED'; then
        say "sacct does not see the test job: no accounting"
        ACCOUNTING=none
    fi
}

main() {
    mkdir -p "$STATE_DIR/run" "$STATE_DIR/log" || { echo "slurm_setup: cannot create $STATE_DIR"; exit 0; }
    if [ "${1:-}" = "--stop" ]; then
        stop_daemons
        grep -q '^ok' "$STATUS_FILE" 2>/dev/null && write_status "unavailable: stopped by .ci/slurm_setup.sh --stop"
        exit 0
    fi
    : >"$LOG"
    CONF_CHANGED=0
    write_status "unavailable: .ci/slurm_setup.sh did not finish"
    if [ -e "$CONF" ] && ! grep -qxF "$MARKER" "$CONF"; then
        # somebody's own cluster: use it as it is
        if command -v sinfo >/dev/null && [ -n "$(sinfo -h -o '%T' 2>/dev/null | grep -E 'idle|mixed')" ]; then
            say "ok: existing Slurm cluster ($CONF not written by this script): $(sinfo -h -o '%P %D %T' | head -n 1)"
            write_status "ok: existing cluster"
        else
            unavailable "$CONF exists (not written by this script) but sinfo shows no idle node"
        fi
        exit 0
    fi
    [ "$(id -u)" -eq 0 ] || unavailable "not root (the CI set-up installs packages and starts daemons as root)"
    [ -r /etc/debian_version ] && command -v apt-get >/dev/null || unavailable "not Debian (no apt-get)"
    command -v runuser >/dev/null || unavailable "runuser (util-linux) is missing"
    install_packages
    mkdir -p "$CONF_DIR"
    start_munge
    write_slurm_conf # sacctmgr and slurmdbd read the accounting lines of slurm.conf
    if [ "$ACCOUNTING" = slurmdbd ]; then
        if ! start_mariadb || ! start_slurmdbd; then
            say "MariaDB/slurmdbd did not start (see $LOG, $STATE_DIR/log): no accounting, sacct will not work"
            ACCOUNTING=none
            write_slurm_conf
        fi
    fi
    start_slurm
    check_job
    local version
    version=$(sinfo --version 2>/dev/null)
    say "ok: $version, cluster $CLUSTER, node $NODE $(node_state) ($NODE_CPUS CPUs, $NODE_MEM MB), partition $PARTITION, accounting: $ACCOUNTING; stop with: bash .ci/slurm_setup.sh --stop"
    write_status "ok: $version node=$NODE cpus=$NODE_CPUS accounting=$ACCOUNTING"
}

main "$@"
exit 0
