# wandb-sweeps agent launcher, part 3 of 3: watching the agents, reporting idle ones,
# stopping, and the main sequence (the rules: the header of setup.sh).

# Reads a `wandb agent` debug log (debug-cli.<user>.log: the CLI's logging handler,
# wandb/cli/cli.py `_setup_logger`, which the `wandb` logger of wandb_agent.py and
# wandb/apis/public/sweeps.py writes to). Prints two lines: how many heartbeats failed
# ("Error communicating with W&B.", which `_agent_heartbeat` logs with its traceback when
# a heartbeat fails for any reason but a 404, and which the agent shows nowhere else), and
# the last exception message in the log, with its continuation lines ("while retrying:
# HTTP 429: ..."), its module path cut, the API key scrubbed out and at most 400
# characters. The key comes from ENVIRON, never from the command line.
# shellcheck disable=SC2016  # awk's own $0, not the shell's
DEBUG_LOG_READER='
BEGIN { exception = "^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception): " }
{
  if (open && $0 != "" && $0 !~ /^([0-9 \t]|Traceback |The above |During handling )/ && $0 !~ exception) {
    message = message " " $0
    next
  }
  open = 0
}
/Error communicating with W&B/ { count++ }
$0 ~ exception {
  message = $0
  sub(/^[A-Za-z0-9_.]*\./, "", message)
  open = 1
}
END {
  key = ENVIRON["WANDB_API_KEY"]
  if (key != "") {
    while ((at = index(message, key)) > 0) {
      message = substr(message, 1, at - 1) "<WANDB_API_KEY>" substr(message, at + length(key))
    }
  }
  print count + 0
  print substr(message, 1, 400)
}
'

# read_debug_log DIR: sets `seen` (the heartbeats that failed) and `last_error` from the
# debug log of the agent using DIR (see DEBUG_LOG_READER); 0 and "" when there is none yet.
read_debug_log() {
  seen=0
  last_error=""
  set -- "$1"/wandb/debug-cli.*.log
  if [ ! -e "$1" ]; then
    return 0
  fi
  if ! command -v awk > /dev/null 2>&1; then
    last_error="(no awk in the image to read $*)"
    return 0
  fi
  { read -r seen && IFS= read -r last_error; } << EOF_LOG
$(awk "$DEBUG_LOG_READER" "$@" 2> /dev/null)
EOF_LOG
  case $seen in
    '' | *[!0-9]*) seen=0 ;;
  esac
}

# idle_round: one line for each agent that has started no run since it started at least
# WANDB_SWEEPS_IDLE_REPORT_SECONDS ago while the sweep is not PAUSED or over (its state
# read once, and only when an agent is idle), or whose heartbeats failed at least twice
# since the last round; with the last W&B error in its debug log. Restarts nothing: an
# agent whose heartbeats fail keeps trying every 5 s and starts runs again once W&B
# answers (docs/failures.md).
idle_round() {
  asked=""
  for entry in $running; do
    parse "$entry"
    dir=$agent_dirs/agent-$index
    read_debug_log "$dir"
    new=$((seen - errors))
    runs_started "$dir"
    idle=""
    if [ "$started" -eq "$base" ] && [ $((ticks - since)) -ge "$idle_period" ]; then
      if [ -z "$asked" ]; then
        sweep_state "$index"
        asked=1
        if [ -n "$signal_status" ]; then
          return 0
        fi
      fi
      case $state in
        PAUSED | FINISHED | CANCELED | FAILED | CRASHED) ;;
        "") idle="while the sweep's state could not be read from W&B" ;;
        *) idle="while the sweep is $state" ;;
      esac
    fi
    if [ -n "$idle" ]; then
      echo "wandb-sweeps: agent $index has started no run in $((ticks - since)) s $idle; $new heartbeat(s) failed since the last report; last W&B error in its debug log: ${last_error:-none} (WANDB_SWEEPS_IDLE_REPORT_SECONDS)" >&2
    elif [ "$new" -ge 2 ]; then
      echo "wandb-sweeps: agent $index: $new heartbeats failed in the last $idle_period s; last W&B error in its debug log: ${last_error:-none} (WANDB_SWEEPS_IDLE_REPORT_SECONDS)" >&2
    fi
    if [ "$new" -ne 0 ]; then
      forget "$entry"
      running="$running $index:$pid:$origin:$base:$restarts:$since:$seen"
    fi
  done
}

# watch: until every agent is done, one fails or a signal comes, checks the agents once a
# second, and every WANDB_SWEEPS_IDLE_REPORT_SECONDS rounds runs idle_round. POSIX sh has
# no `wait -n`; `kill -0` fails once the shell has reaped an agent, which it does while
# waiting for the `sleep`. A trapped signal interrupts that wait.
watch() {
  while [ -n "$running" ] && [ "$stopping" -eq 0 ] && [ -z "$signal_status" ]; do
    for entry in $running; do
      parse "$entry"
      if ! kill -0 "$pid" 2>/dev/null; then
        collect "$entry"
      fi
    done
    if [ -n "$running" ] && [ "$stopping" -eq 0 ] && [ -z "$signal_status" ]; then
      sleep 1 > /dev/null 2>&1 &
      wait $!
      ticks=$((ticks + 1))
      if [ "$idle_period" -gt 0 ] && [ $((ticks % idle_period)) -eq 0 ]; then
        idle_round
      fi
    fi
  done
}

# drain: waits for every agent still running (the pod is stopping), at most
# STOP_GRACE_SECONDS after the launcher stopped them itself, STOP_GRACE_SECONDS -
# drain_margin after a signal: then a watchdog sends SIGUSR1 (every second, so that none
# is lost between two waits) and drain returns with agents still running. A trapped
# signal interrupts `wait` with a status above 128 while the agent still runs: wait again.
# The launcher is the container's PID 1: exiting kills the agents and their runs.
drain() {
  if [ -z "$running" ]; then
    return 0
  elif [ "$stopping" -eq 1 ]; then
    set -- "$stop_grace" STOP_GRACE_SECONDS
  else
    set -- $((stop_grace - drain_margin)) "STOP_GRACE_SECONDS - $drain_margin, before Kubernetes' SIGKILL"
  fi
  (sleep "$1" && while kill -s USR1 $$; do sleep 1; done) > /dev/null 2>&1 &
  watchdog=$!
  for entry in $running; do
    parse "$entry"
    while :; do
      if [ -n "$expired" ] && kill -0 "$pid" 2>/dev/null; then
        echo "wandb-sweeps: agents still running $1 s after SIGTERM ($2); exiting without them" >&2
        return 1
      fi
      wait "$pid"
      code=$?
      if [ "$code" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then
        continue
      fi
      break
    done
    forget "$entry"
    if [ "$code" -ne 0 ]; then
      echo "wandb-sweeps: agent $index (pid $pid) exited with status $code" >&2
    fi
  done
  kill "$watchdog" 2>/dev/null
}

if ! trust_ca; then
  exit 1
fi
if ! make_agent_dirs; then
  echo "wandb-sweeps: cannot create the agents' directories in $agent_dirs" >&2
  exit 1
fi
i=0
while [ "$i" -lt "$agents" ] && [ -z "$signal_status" ]; do
  start_agent "$i"
  i=$((i + 1))
done
watch
drain
if [ "$status" -eq 0 ] && [ -n "$signal_status" ]; then
  status=$signal_status
fi
if [ "$status" -ne 0 ]; then
  echo "wandb-sweeps: exiting with status $status" >&2
fi
exit "$status"
