#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for the CW_SLURM tests (idempotent; root).
# Its configuration and state live in $RIOTS_SLURM_DIR (default /var/tmp/riots-slurm); clients
# find it through SLURM_CONF=$RIOTS_SLURM_DIR/slurm.conf. Needs Debian's slurm-wlm and munge
# (./run.sh test installs them). Prints the SLURM_CONF path on success.
#
# The node offers 8 CPUs whatever the machine has (SlurmdParameters=config_overrides), so that a
# test can run a few single-CPU worker jobs at once on a 2-core machine: the workers mostly wait
# on the channel, and SLURM only schedules here, it does not measure.
set -euo pipefail
dir="${RIOTS_SLURM_DIR:-/var/tmp/riots-slurm}"
conf="$dir/slurm.conf"
host="$(hostname -s)"
export SLURM_CONF="$conf"

if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null \
  && [ -f "$dir/slurmd.pid" ] && kill -0 "$(cat "$dir/slurmd.pid")" 2>/dev/null \
  && sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
  echo "$conf"
  exit 0
fi

for c in munged slurmctld slurmd sbatch squeue scancel sinfo; do
  command -v "$c" >/dev/null || { echo "start.sh: $c not found (apt-get install slurm-wlm munge)" >&2; exit 1; }
done

# munge: the key comes with the Debian package; the daemon runs as the munge user
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
if ! munge -n >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
  runuser -u munge -- munged
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n >/dev/null || { echo "start.sh: munged does not answer" >&2; exit 1; }
fi

mkdir -p "$dir/state" "$dir/spool"
cat > "$conf" <<CONF
ClusterName=riots
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=300
KillWait=5
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host CPUs=8 RealMemory=4000 State=UNKNOWN
PartitionName=riots Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

pkill -x slurmctld 2>/dev/null || true
pkill -x slurmd 2>/dev/null || true
sleep 0.5
slurmctld -c -f "$conf"
slurmd -f "$conf"
for _ in $(seq 100); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then echo "$conf"; exit 0; fi
  sleep 0.2
done
echo "start.sh: the SLURM node did not become idle; sinfo says: $(sinfo -h 2>&1 | head -3)" >&2
tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
exit 1
