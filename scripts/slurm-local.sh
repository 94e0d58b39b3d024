#!/usr/bin/env bash
# A single-node Slurm on this machine, for tests/slurm.rs: Debian's slurm-wlm and munge
# (installed with apt-get when missing), munged, slurmctld and slurmd started by hand (no
# systemd), proctrack/linuxproc, task/none, no cgroups, one partition with this host's CPUs.
# Needs root. Usage: scripts/slurm-local.sh [start|stop|status]; start does nothing when a
# scheduler already answers. State and logs: $QUASIPOT_SLURM_STATE (default /var/tmp/quasipot-slurm).
set -euo pipefail
STATE=${QUASIPOT_SLURM_STATE:-/var/tmp/quasipot-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by quasipot scripts/slurm-local.sh"
up() { sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mix|alloc)'; }

case "${1:-start}" in
status)
    if up; then sinfo; else echo "no Slurm scheduler answers" >&2; exit 1; fi ;;
stop)
    for d in slurmd slurmctld; do
        if [ -f "$STATE/$d.pid" ]; then kill "$(cat "$STATE/$d.pid")" 2>/dev/null || true; fi
    done ;;
start)
    if up; then echo "Slurm already up:"; sinfo; exit 0; fi
    [ "$(id -u)" = 0 ] || { echo "slurm-local.sh: needs root (apt-get, daemons)" >&2; exit 1; }
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
    fi
    mkdir -p "$STATE/state" "$STATE/spool" /etc/slurm
    if ! munge -n >/dev/null 2>&1; then
        if [ ! -s /etc/munge/munge.key ]; then
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
            chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
        fi
        mkdir -p /run/munge; chown munge:munge /run/munge; chmod 755 /run/munge
        runuser -u munge -- /usr/sbin/munged
    fi
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        echo "slurm-local.sh: $CONF exists and was not written by this script; not touching it" >&2; exit 1
    fi
    host=$(hostname -s)
    cat > "$CONF" <<CONF
$MARK
ClusterName=quasipot
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld   # daemonises, pid in $STATE
    slurmd
    for _ in $(seq 60); do up && break; sleep 0.5; done
    if up; then sinfo; else echo "slurm-local.sh: the scheduler did not come up; see $STATE/*.log" >&2; exit 1; fi ;;
*) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
