# wandb-sweeps agent launcher: the command each agent pod runs (POSIX sh; no bash needed).
#
# Starts AGENTS_PER_POD `wandb agent` processes for SWEEP_PATH (entity/project/id),
# each with `--count RUNS_PER_AGENT` when that is set, and gives each agent its own
# share of the pod's GPUS_PER_POD GPUs through CUDA_VISIBLE_DEVICES:
#   GPUs >= agents: disjoint equal blocks (4 GPUs, 2 agents: "0,1" and "2,3");
#   GPUs <  agents: agents share GPUs round-robin (1 GPU, 2 agents: "0" and "0");
#   no GPUs: CUDA_VISIBLE_DEVICES is left alone.
# `wandb agent -f` forwards signals to its training run; this script forwards SIGTERM
# and SIGINT to every agent, waits for all of them, and exits non-zero if any agent
# exited non-zero. After a SIGTERM it always exits non-zero (143): a pod stopped by a
# preemption must not count as "succeeded", or its Job would never start another.
set -u

: "${SWEEP_PATH:?SWEEP_PATH (entity/project/sweep id) must be set}"
agents=${AGENTS_PER_POD:-1}
gpus=${GPUS_PER_POD:-0}
runs=${RUNS_PER_AGENT:-}

# gpu_share INDEX: the CUDA_VISIBLE_DEVICES value of agent INDEX ("" for none).
gpu_share() {
  if [ "$gpus" -le 0 ]; then
    return 0
  fi
  if [ "$gpus" -ge "$agents" ]; then
    per=$((gpus / agents))
    first=$(($1 * per))
    devices=$first
    d=$((first + 1))
    while [ "$d" -lt $((first + per)) ]; do
      devices="$devices,$d"
      d=$((d + 1))
    done
    echo "$devices"
  else
    echo $(($1 % gpus))
  fi
}

pids=""
terminated=0
# sh functions share the script's variables: this loop must not reuse `pid`, which
# the wait loop below is in the middle of when the trap runs.
forward() {
  terminated=1
  for agent_pid in $pids; do
    kill -s "$1" "$agent_pid" 2>/dev/null
  done
}
trap 'forward TERM' TERM
trap 'forward INT' INT

i=0
while [ "$i" -lt "$agents" ] && [ "$terminated" -eq 0 ]; do
  devices=$(gpu_share "$i")
  if [ -n "$runs" ]; then
    set -- --count "$runs"
  else
    set --
  fi
  if [ -n "$devices" ]; then
    echo "wandb-sweeps: starting agent $i on GPU(s) $devices for $SWEEP_PATH"
    CUDA_VISIBLE_DEVICES=$devices wandb agent -f "$@" "$SWEEP_PATH" &
  else
    echo "wandb-sweeps: starting agent $i for $SWEEP_PATH"
    wandb agent -f "$@" "$SWEEP_PATH" &
  fi
  pids="$pids $!"
  i=$((i + 1))
done

# A trapped signal interrupts `wait` with a status above 128 while the agent still
# runs: wait again until that agent has really exited, to get its own status.
status=0
for pid in $pids; do
  while :; do
    wait "$pid"
    code=$?
    if [ "$code" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then
      continue
    fi
    break
  done
  if [ "$code" -ne 0 ]; then
    echo "wandb-sweeps: agent process $pid exited with status $code" >&2
    status=$code
  fi
done
if [ "$terminated" -eq 1 ] && [ "$status" -eq 0 ]; then
  status=143
fi
exit "$status"
