# wandb-sweeps agent launcher, part 2 of 3: the agents, started, judged and restarted
# (the rules: the header of setup.sh).

# The agents not yet reaped, as entries "<index>:<pid>:<origin>:<base>:<restarts>:<since>:
# <errors>": the runs its directory held before its first start in this pod (origin) and
# before this process started (base), its restarts in a row, the watch tick from which it
# counts as started (after its start delay), and the W&B errors its debug log held at the
# last idle round. An agent leaves the list once its status has been collected, so that no
# signal is ever sent to a pid the system may have reused.
running=""
signal_status=""  # 143 or 130 once the pod got SIGTERM or SIGINT
stopping=0        # 1 once the launcher itself sent SIGTERM to the agents
status=0          # the first failure's status, i.e. the exit status
known_state=""    # the sweep's state once read and final (FINISHED, CANCELED, FAILED,
                  # CRASHED): the agents that end after it are judged without asking again
expired=""        # 1 once drain has run out of time (see drain)
ticks=0           # rounds of the watch loop, about one a second (see watch)

# sh functions share the script's variables, and this one runs as a trap in the middle
# of anything: it must use names nothing else uses (the wait loops' `pid`, ...).
# shellcheck disable=SC2329  # invoked by the traps below, which shellcheck does not follow
forward() {
  signal_status=$2
  # Agents the launcher is already stopping got a SIGTERM: a second one would make
  # `wandb agent` terminate its runs instead of letting them finish.
  if [ "$1" = TERM ] && [ "$stopping" -eq 1 ]; then
    return 0
  fi
  for agent_entry in $running; do
    agent_pid=${agent_entry#*:}
    kill -s "$1" "${agent_pid%%:*}" 2>/dev/null
  done
}
trap 'forward TERM 143' TERM
trap 'forward INT 130' INT
trap 'expired=1' USR1

# parse ENTRY: sets index, pid, origin, base, restarts, since and errors from an entry of
# `running`.
parse() {
  index=${1%%:*}
  fields=${1#*:}
  pid=${fields%%:*}
  fields=${fields#*:}
  origin=${fields%%:*}
  fields=${fields#*:}
  base=${fields%%:*}
  fields=${fields#*:}
  restarts=${fields%%:*}
  fields=${fields#*:}
  since=${fields%%:*}
  errors=${fields#*:}
}

# forget ENTRY: removes ENTRY from `running`.
forget() {
  kept=""
  for other in $running; do
    if [ "$other" != "$1" ]; then
      kept="$kept $other"
    fi
  done
  running=$kept
}

# runs_started DIR: sets `started` to the number of runs an agent using DIR was handed.
runs_started() {
  set -- "$1/wandb/sweep-$sweep_id"/config-*.yaml
  if [ -e "$1" ]; then
    started=$#
  else
    started=0
  fi
}

# make_agent_dirs: creates every agent's WANDB_DIR and its wandb/ folder, before any agent
# starts: `wandb agent` writes its debug log (debug-cli.<user>.log) into
# $WANDB_DIR/wandb only if that folder exists when it starts, and into the system's temp
# folder otherwise, shared by every agent (wandb/cli/cli.py, `_get_wandb_dir` and the
# `_wandb_dir` check after it).
make_agent_dirs() {
  set --
  i=0
  while [ "$i" -lt "$agents" ]; do
    set -- "$@" "$agent_dirs/agent-$i/wandb"
    i=$((i + 1))
  done
  mkdir -p "$@"
}

# launch DELAY DEVICES COUNT: in the background, after DELAY s (whole, or with 3 decimals),
# becomes `wandb agent` for agent `number` (its WANDB_DIR `dir`), with its GPUs (see the
# header of setup.sh) and `--count COUNT` unless COUNT is empty. A subshell: a SIGTERM
# during its delay ends it (its traps are the default ones), and exec keeps its pid for
# the agent.
launch() {
  case $1 in
    0 | 0.000) ;;
    *) sleep "$1" > /dev/null 2>&1 ;;
  esac
  devices=$2
  if [ -n "$3" ]; then
    set -- --count "$3"
  else
    set --
  fi
  if [ -z "$devices" ]; then
    WANDB_DIR=$dir exec wandb agent -f "$@" "$SWEEP_PATH"
  elif [ "${gpu_resource%%/*}" = amd.com ]; then
    HIP_VISIBLE_DEVICES=$devices CUDA_VISIBLE_DEVICES=$devices WANDB_DIR=$dir exec wandb agent -f "$@" "$SWEEP_PATH"
  else
    CUDA_VISIBLE_DEVICES=$devices WANDB_DIR=$dir exec wandb agent -f "$@" "$SWEEP_PATH"
  fi
}

# start_agent INDEX [DELAY [RESTARTS ORIGIN]]: starts agent INDEX after DELAY whole seconds
# (default: its random start delay, see the header of setup.sh), as restart RESTARTS of an agent
# whose directory held ORIGIN runs before its first start. A restarted agent with
# RUNS_PER_AGENT is given the runs it has left.
start_agent() {
  number=$1
  dir=$agent_dirs/agent-$number
  runs_started "$dir"
  again=${3:-0}
  first=${4:-$started}
  if [ $# -ge 2 ]; then
    delay=$2
    later=$2
  else
    random_below $((start_spread * 1000))
    delay=$((random / 1000))
    later=$(((random + 999) / 1000))
    if [ -n "$fractions" ]; then
      delay=$delay.$(printf %03d $((random % 1000)))
    fi
    if [ "$start_spread" -gt 0 ]; then
      echo "wandb-sweeps: agent $number starts in $delay s (a random 0 to $start_spread s, AGENT_START_SPREAD_SECONDS: the sweep's agents start at about agentStartsPerSecond)"
    fi
  fi
  devices=$(gpu_share "$number")
  count=""
  if [ -n "$runs" ]; then
    count=$((runs - (started - first)))
  fi
  if [ -z "$devices" ]; then
    echo "wandb-sweeps: starting agent $number for $SWEEP_PATH"
  elif [ "${gpu_resource%%/*}" = amd.com ]; then
    echo "wandb-sweeps: starting agent $number on AMD GPU(s) $devices (HIP_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES) for $SWEEP_PATH"
  else
    echo "wandb-sweeps: starting agent $number on GPU(s) $devices for $SWEEP_PATH"
  fi
  read_debug_log "$dir"
  launch "$delay" "$devices" "$count" &
  running="$running $number:$!:$first:$started:$again:$((ticks + later)):$seen"
  # A signal that came while it was being started found it in no list: pass it on now.
  case $signal_status in
    143) kill -s TERM $! 2> /dev/null ;;
    130) kill -s INT $! 2> /dev/null ;;
  esac
}

# run_query PYTHON FILE: runs STATE_QUERY with PYTHON, its answer in FILE, its status in
# query_status. In the background with `wait`, which a trapped signal interrupts at once
# (a command substitution would hold the signal until the query ends).
run_query() {
  "$1" -c "$STATE_QUERY" "$SWEEP_PATH" > "$2" < /dev/null &
  query=$!
  while :; do
    wait "$query"
    query_status=$?
    if [ -n "$signal_status" ]; then
      kill "$query" 2>/dev/null
      wait "$query"
      query_status=1
      return 0
    fi
    if [ "$query_status" -gt 128 ] && kill -0 "$query" 2>/dev/null; then
      continue
    fi
    return 0
  done
}

# read_sweep_state FILE: sets `state` to the sweep's state from W&B, "" if unreadable.
read_sweep_state() {
  state=""
  query_status=127
  for python in $(python_candidates); do
    echo "wandb-sweeps: reading the sweep's state with $python"
    run_query "$python" "$1"
    if [ "$query_status" -eq 0 ]; then
      IFS= read -r state < "$1"
    fi
    # 3: this Python has no wandb package; try the next one.
    if [ "$query_status" -ne 3 ]; then
      break
    fi
  done
  rm -f "$1"
  if [ "$query_status" -eq 127 ] || [ "$query_status" -eq 3 ]; then
    echo "wandb-sweeps: found no Python with the wandb package to read the sweep's state" >&2
  fi
}

# fail STATUS: the first failure decides the exit status and stops the other agents.
fail() {
  if [ "$status" -eq 0 ] && [ -z "$signal_status" ]; then
    status=$1
  fi
  if [ "$stopping" -eq 1 ] || [ -z "$running" ] || [ -n "$signal_status" ]; then
    return 0
  fi
  stopping=1
  echo "wandb-sweeps: stopping the other agents (SIGTERM) so that the pod fails and its slot is retried" >&2
  for victim in $running; do
    victim=${victim#*:}
    kill -s TERM "${victim%%:*}" 2>/dev/null
  done
}

# sweep_state INDEX: sets `state`: known_state, else read from W&B (in agent INDEX's dir).
sweep_state() {
  state=$known_state
  if [ -z "$state" ]; then
    read_sweep_state "$agent_dirs/agent-$1/sweep-state"
    case $state in
      FINISHED | CANCELED | FAILED | CRASHED) known_state=$state ;;
    esac
  fi
}

# judge INDEX ORIGIN: decides whether agent INDEX, which exited 0, is done (see the header).
judge() {
  if [ -n "$runs" ]; then
    runs_started "$agent_dirs/agent-$1"
    if [ $((started - $2)) -ge "$runs" ]; then
      echo "wandb-sweeps: agent $1 is done: it started its $runs run(s) (RUNS_PER_AGENT)"
      return 0
    fi
  fi
  sweep_state "$1"
  if [ -n "$signal_status" ]; then
    return 0
  fi
  case $state in
    FINISHED | CANCELED | FAILED | CRASHED)
      echo "wandb-sweeps: agent $1 is done: the sweep is $state"
      ;;
    "")
      echo "wandb-sweeps: agent $1 stopped (exit 0) and the sweep's state could not be read from W&B; counting it as stopped early" >&2
      fail "$STATE_UNKNOWN"
      ;;
    *)
      echo "wandb-sweeps: agent $1 stopped early (exit 0) while the sweep is $state: most likely its runs kept failing; see the runs' logs" >&2
      fail "$STOPPED_EARLY"
      ;;
  esac
}

# restart INDEX ORIGIN BASE RESTARTS: restarts agent INDEX, which exited 1 while the sweep
# is RUNNING or PENDING, if it has restarts left, and returns 0; else returns 1. Its
# restarts in a row start again from 0 when it started a run since BASE.
restart() {
  runs_started "$agent_dirs/agent-$1"
  made=$4
  if [ "$started" -gt "$3" ]; then
    made=0
  fi
  if [ "$made" -ge "$restart_limit" ] || [ "$stopping" -eq 1 ]; then
    return 1
  fi
  if [ -n "$runs" ] && [ $((started - $2)) -ge "$runs" ]; then
    return 1
  fi
  wait_for=$((restart_backoff << made))
  random_below "$wait_for"
  wait_for=$((wait_for + random))
  made=$((made + 1))
  echo "wandb-sweeps: agent $1 exited with status 1 while the sweep is $state (W&B may have kept refusing or rate-limiting its calls; its output above says why): restarting it in $wait_for s, restart $made of $restart_limit (AGENT_RESTARTS)" >&2
  start_agent "$1" "$wait_for" "$made" "$2"
}

# judge_failure INDEX CODE ORIGIN BASE RESTARTS: agent INDEX exited CODE (not 0); done if
# the sweep is over, restarted if it exited 1 while the sweep runs (see restart).
judge_failure() {
  sweep_state "$1"
  if [ -n "$signal_status" ]; then
    return 0
  fi
  case $state in
    FINISHED | CANCELED | FAILED | CRASHED)
      echo "wandb-sweeps: agent $1 is done: the sweep is $state (W&B refuses new agents on a sweep that is over)"
      return 0
      ;;
    RUNNING | PENDING)
      if [ "$2" -eq 1 ] && restart "$1" "$3" "$4" "$5"; then
        return 0
      fi
      ;;
  esac
  if [ "$2" -gt 128 ]; then
    echo "wandb-sweeps: agent $1 was killed by signal $(($2 - 128)), which the pod did not get (the OOM killer?); exiting $KILLED, not $2" >&2
    fail "$KILLED"
  else
    fail "$2"
  fi
}

# collect ENTRY: the agent has exited; `wait` once for its status (the shell keeps the
# status of a reaped child for it) and judge it, unless the pod is already stopping.
collect() {
  parse "$1"
  forget "$1"
  wait "$pid"
  code=$?
  if [ "$code" -ne 0 ]; then
    echo "wandb-sweeps: agent $index (pid $pid) exited with status $code" >&2
  fi
  if [ "$stopping" -eq 1 ] || [ -n "$signal_status" ]; then
    return 0
  elif [ "$code" -ne 0 ]; then
    judge_failure "$index" "$code" "$origin" "$base" "$restarts"
  else
    judge "$index" "$origin"
  fi
}
