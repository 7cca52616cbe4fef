#!/usr/bin/env bash
# `make test-cluster`: proves the runner's Slurm mode on a real, throw-away one-node Slurm cluster.
#
#   1. Installs Debian's slurm-wlm and munge if slurmctld/munged are missing (needs root + apt).
#   2. Starts munged (only if none is running), slurmctld and slurmd on localhost, with slurm.conf,
#      state, spool, logs and pid files in a temporary directory and free non-default ports.
#   3. Submits the QUICK classification grid with `classification --slurm` (an sbatch job array, one
#      task per run, plus a collect job), waits (bounded) until the queue is empty, and checks that
#      every job completed and that the collected summary.csv has one row per run of `--list`.
#   4. Runs the same grid locally and requires the two summary.csv files to be identical apart from
#      the machine-dependent columns train_seconds and peak_rss_mb.
#   5. On exit (success, failure or Ctrl-C): cancels its jobs, stops exactly the daemons it started
#      and removes the temporary directory (KEEP_TMP=1 keeps it for inspection).
#
# Not part of `make test`. Expects target/release/classification (the Makefile target builds it).
# Environment:
#   CLUSTER_TIMEOUT=1800   seconds to wait for the submitted jobs (default 30 min)
#   CLUSTER_CONFIG=...     experiment file (default experiments/dinov2_packaged_quick.toml)
#   CLUSTER_SELFTEST=1     skip the runner: submit a tiny 4-task array + dependent collect job
#                          instead, to check the cluster bring-up and teardown on their own
#   CLUSTER_PORT=N         slurmctld port (slurmd uses N+1; default: a free pair above 20000)
#   KEEP_TMP=1             keep the temporary directory (slurm.conf, logs, results) afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

start_time=$(date +%s)
timeout_s=${CLUSTER_TIMEOUT:-1800}
config=${CLUSTER_CONFIG:-experiments/dinov2_packaged_quick.toml}
selftest=${CLUSTER_SELFTEST:-0}
runner=./target/release/classification
task=classification

say() { echo "test-cluster: $*"; }
die() { echo "test-cluster: FAIL: $*" >&2; exit 1; }
elapsed() { echo "$(($(date +%s) - start_time)) s"; }

[[ $(id -u) -eq 0 ]] || die "must run as root (installs packages and starts the Slurm daemons)"
if [[ $selftest != 1 ]]; then
  [[ -x $runner ]] || die "$runner is missing; build it first (cargo build --release -p classification)"
  [[ -f $config ]] || die "experiment file $config not found"
fi

# --- 1. Packages --------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# --- Teardown (installed before anything is started) ---------------------------------------------
tmp=$(mktemp -d /tmp/test-cluster.XXXXXX)
started_pids=()     # "name:pid" of every daemon this script started, stopped in reverse order

# Sends SIGTERM to one pid and waits up to 20 s for it to exit, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  echo "test-cluster: $name ($pid) ignored SIGTERM; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  set +e
  if [[ -n ${SLURM_CONF:-} && ${#started_pids[@]} -gt 0 ]]; then
    # Cancel whatever is still queued or running (only our jobs: the cluster is ours alone), so no
    # slurmstepd or job process outlives the daemons; bounded wait for the queue to drain.
    if [[ -n $(squeue -h -o %i 2>/dev/null) ]]; then
      say "cancelling the remaining jobs"
      scancel --quiet $(squeue -h -o %F 2>/dev/null | sort -u) 2>/dev/null
      for _ in $(seq 1 30); do
        [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
        sleep 1
      done
    fi
  fi
  if [[ $status -ne 0 && -d $tmp ]]; then
    # Show what the daemons and jobs said, to make a failure debuggable without KEEP_TMP.
    for f in "$tmp"/log/slurmctld.log "$tmp"/log/slurmd.log; do
      [[ -s $f ]] && { echo "--- last lines of $f"; tail -n 20 "$f"; }
    done >&2
    while IFS= read -r f; do
      echo "--- last lines of $f"; tail -n 20 "$f"
    done < <(find "$tmp" -path "$tmp/log" -prune -o -type f \( -name '*.out' -o -name '*.err' \) -size +0 -print 2>/dev/null | head -n 8) >&2
  fi
  local i entry
  for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
    entry=${started_pids[i]}
    stop_pid "${entry%%:*}" "${entry#*:}"
  done
  if [[ ${KEEP_TMP:-0} == 1 ]]; then
    say "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  [[ $status -eq 0 ]] || echo "test-cluster: FAILED after $(elapsed)" >&2
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 2. munge -----------------------------------------------------------------------------------
# A munged that is already running (whoever started it) is used and left alone.
if pgrep -x munged >/dev/null; then
  say "using the munged that is already running"
else
  say "starting munged"
  # The package creates /etc/munge/munge.key but not the socket directory; munged refuses log and
  # state directories that are not its own.
  install -d -o munge -g munge -m 755 /run/munge
  install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
  chown -R munge:munge /var/log/munge /var/lib/munge
  rm -f /run/munge/munged.pid
  su -s /bin/sh munge -c "munged --num-threads=10"
  for _ in $(seq 1 20); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.25; done
  [[ -s /run/munge/munged.pid ]] || die "munged did not write /run/munge/munged.pid"
  started_pids+=("munged:$(cat /run/munge/munged.pid)")
fi
munge -n | unmunge >/dev/null || die "munge does not work (munge -n | unmunge)"

# --- Slurm configuration in $tmp ------------------------------------------------------------------
# Two free TCP ports (the defaults 6817/6818 are avoided so a real Slurm on the machine is not hit).
port_in_use() { ss -Htln "sport = :$1" | grep -q .; }
pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || port_in_use "$((p + 1))" || { echo "$p"; return 0; }
  done
  die "found no free TCP port"
}
ctld_port=${CLUSTER_PORT:-$(pick_port)}
slurmd_port=$((ctld_port + 1))

node=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
real_mem=$((mem_mb * 9 / 10))  # below the real total, or slurmd reports "Low RealMemory" and drains
mkdir -p "$tmp"/{state,spool,log,run}
export SLURM_CONF=$tmp/slurm.conf
cat >"$SLURM_CONF" <<EOF
# Throw-away one-node cluster of tools/test_cluster.sh
ClusterName=testcluster
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Keep finished jobs visible to scontrol long enough to check their exit codes.
MinJobAge=3600
MaxArraySize=100001
MaxJobCount=200000
SchedulerParameters=sched_interval=2
InactiveLimit=0
KillWait=5
SlurmdTimeout=60
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

# --- Start slurmctld, then slurmd; wait for the node to be idle -------------------------------------
# Each daemon runs in the foreground (-D) as a background child, so its pid ($!) is known without a
# race; the pid files in $tmp/run are written too.
say "starting slurmctld (port $ctld_port) and slurmd (port $slurmd_port) for node $node ($cpus CPUs), config $SLURM_CONF"
slurmctld -D >"$tmp/log/slurmctld.stdout" 2>&1 &
started_pids+=("slurmctld:$!")
for _ in $(seq 1 40); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.5; done
scontrol ping 2>/dev/null | grep -q UP || die "slurmctld did not come up"
slurmd -D -N "$node" >"$tmp/log/slurmd.stdout" 2>&1 &
started_pids+=("slurmd:$!")
deadline=$(($(date +%s) + 60))
until [[ $(sinfo -h -N -n "$node" -o %T 2>/dev/null) == idle ]]; do
  for entry in "${started_pids[@]}"; do
    kill -0 "${entry#*:}" 2>/dev/null || die "${entry%%:*} exited during start-up"
  done
  (($(date +%s) < deadline)) || die "node $node not idle after 60 s (state: $(sinfo -h -N -o %T 2>/dev/null))"
  sleep 1
done
say "cluster up after $(elapsed)"

# Waits (bounded by CLUSTER_TIMEOUT) until the queue is empty, then requires every job the
# cluster has seen (array tasks and the collect job; all are ours) to have COMPLETED with exit 0.
wait_for_jobs() {
  local deadline=$(($(date +%s) + timeout_s)) last=""
  while [[ -n $(squeue -h -o %i) ]]; do
    (($(date +%s) < deadline)) || { squeue >&2; die "jobs still queued or running after $timeout_s s (CLUSTER_TIMEOUT)"; }
    local now
    now=$(squeue -h -o %T | sort | uniq -c | tr -s ' ' | tr '\n' ',')
    [[ $now == "$last" ]] || { say "queue: ${now%,}"; last=$now; }
    sleep 5
  done
  local jobs bad
  jobs=$(scontrol -o show job 2>/dev/null)
  [[ -n $jobs ]] || die "scontrol shows no finished jobs (MinJobAge too short?)"
  bad=$(grep -v 'JobState=COMPLETED .*ExitCode=0:0' <<<"$jobs" || true)
  if [[ -n $bad ]]; then
    while IFS= read -r line; do
      grep -oE '(^| )(JobId|ArrayJobId|ArrayTaskId|JobName|JobState|ExitCode|StdOut)=[^ ]*' <<<"$line" | paste -sd ''
    done <<<"$bad" >&2
    die "not every job completed successfully"
  fi
  say "all $(wc -l <<<"$jobs") jobs COMPLETED with exit code 0 after $(elapsed)"
}

# --- 3a. Self-test: a tiny array plus a dependent collect job, no runner needed ---------------------
if [[ $selftest == 1 ]]; then
  dir=$tmp/selftest
  mkdir -p "$dir"
  array=$(sbatch --parsable --chdir="$dir" --array=0-3 --cpus-per-task=1 --output="$dir/array_%A_%a.out" \
    --wrap 'echo $SLURM_ARRAY_TASK_ID > out.$SLURM_ARRAY_TASK_ID')
  collect=$(sbatch --parsable --chdir="$dir" --dependency=afterany:"$array" --output="$dir/collect_%j.out" \
    --wrap 'cat out.0 out.1 out.2 out.3 > collected')
  say "submitted array job $array (4 tasks) and collect job $collect"
  wait_for_jobs
  for i in 0 1 2 3; do
    [[ $(cat "$dir/out.$i" 2>/dev/null) == "$i" ]] || die "array task $i wrote no $dir/out.$i"
  done
  [[ $(cat "$dir/collected") == $'0\n1\n2\n3' ]] || die "collect job output wrong: $(cat "$dir/collected")"
  say "PASS (self-test): 4 array tasks and the dependent collect job ran on the one-node cluster in $(elapsed)"
  exit 0
fi

# --- 3b. The QUICK grid as a job array ------------------------------------------------------------
export OMP_NUM_THREADS=1  # sbatch exports the environment to the jobs (and the local run uses it)
# An experiment with a [select] section is tested by its selection stage (a grid that needs no
# earlier result): its runs, summary and lr_selection.csv must match a local run.
stage=() folder=$task
if grep -q '^\[select\]' "$config"; then stage=(--select) folder=$task/selection; fi
mapfile -t runs < <("$runner" --config "$config" "${stage[@]}" --list)
n_runs=${#runs[@]}
((n_runs > 0)) || die "$runner --config $config --list printed no runs"
say "grid $config: $n_runs runs"

out=$("$runner" --config "$config" "${stage[@]}" --results "$tmp/cluster" --slurm --slurm-cpus 1)
echo "$out"
re='submitted array job ([0-9]+) \(([0-9]+) tasks\) and collect job ([0-9]+)'
[[ $out =~ $re ]] || die "unexpected --slurm output (want 'submitted array job <ID> (<N> tasks) and collect job <ID2>')"
[[ ${BASH_REMATCH[2]} -eq $n_runs ]] || die "--slurm submitted ${BASH_REMATCH[2]} tasks, --list has $n_runs runs"
wait_for_jobs
cluster_csv=$tmp/cluster/$folder/summary.csv
[[ -f $cluster_csv ]] || die "the collect job wrote no $cluster_csv"
rows=$(($(wc -l <"$cluster_csv") - 1))
[[ $rows -eq $n_runs ]] || die "$cluster_csv has $rows rows for $n_runs runs"
cluster_done=$(elapsed)
say "cluster: $rows rows collected after $cluster_done"

# --- 4. The same grid locally, then compare ---------------------------------------------------------
say "running the same grid locally (one thread)"
"$runner" --config "$config" "${stage[@]}" --results "$tmp/local" --threads 1 >"$tmp/local.log" 2>&1 ||
  { tail -n 30 "$tmp/local.log" >&2; die "local run failed"; }
local_csv=$tmp/local/$folder/summary.csv
[[ -f $local_csv ]] || "$runner" --config "$config" "${stage[@]}" --results "$tmp/local" --collect >/dev/null
[[ -f $local_csv ]] || die "the local run wrote no $local_csv"

# Drops the machine-dependent columns (found by name in the header) and sorts the data rows, so
# only the results are compared. Plain comma splitting: the summary has no quoted fields.
comparable() {
  awk -F, -v OFS=, '
    NR == 1 { for (i = 1; i <= NF; i++) skip[i] = ($i == "train_seconds" || $i == "peak_rss_mb") }
    { line = ""; sep = ""
      for (i = 1; i <= NF; i++) if (!skip[i]) { line = line sep $i; sep = OFS }
      print (NR == 1 ? "0" : "1") "\t" line }' "$1" | LC_ALL=C sort | cut -f2-
}
comparable "$cluster_csv" >"$tmp/cluster.cmp"
comparable "$local_csv" >"$tmp/local.cmp"
if ! diff -u --label "cluster $cluster_csv" --label "local $local_csv" "$tmp/cluster.cmp" "$tmp/local.cmp" >&2; then
  die "the cluster and local summaries differ (train_seconds and peak_rss_mb ignored)"
fi
if ((${#stage[@]})); then
  diff -u "$tmp/cluster/$task/lr_selection.csv" "$tmp/local/$task/lr_selection.csv" >&2 ||
    die "the cluster and local lr_selection.csv differ"
fi
say "PASS: $n_runs runs as a Slurm job array (done after $cluster_done) equal a local run, total $(elapsed)"
