# wandb-sweeps agent launcher: the command each agent pod runs (POSIX sh; no bash needed).
# Why each rule is what it is, with sources: docs/failures.md and docs/gpus-and-sizing.md.
#
# Starts AGENTS_PER_POD `wandb agent -f` processes for SWEEP_PATH (entity/project/id),
# each with `--count RUNS_PER_AGENT` when that is set, all at once, and gives each agent
#   - its own share of the pod's GPUS_PER_POD GPUs (gpu_share): disjoint equal blocks when
#     GPUs >= agents (4 GPUs, 2 agents: "0,1" and "2,3"), else round-robin ("0" and "0"),
#     in CUDA_VISIBLE_DEVICES, and with GPU_RESOURCE amd.com/* in HIP_VISIBLE_DEVICES too:
#     HIP reads either, and tools (accelerate, Ray) read CUDA's. Never ROCR_VISIBLE_DEVICES:
#     ROCr applies it first and HIP's indices count within what it left, so both would hide
#     GPUs (a block "2,3" of 2 visible GPUs is none). No GPUs: nothing is set;
#   - its own WANDB_DIR, ${WANDB_DIR:-$PWD}/agent-<i> (created here), to count its runs.
# With WANDB_SWEEPS_CA_FILE set it first writes one CA bundle (trust_ca).
#
# Each agent's exit is judged (`wandb agent` also exits 0 when it gives up on failing runs,
# and 1 when W&B refuses to register it on a sweep that is over: "... is not running"):
#   exit 0, it started RUNS_PER_AGENT runs (config-*.yaml new in its WANDB_DIR)  -> done
#   exit 0, the sweep is over: FINISHED, CANCELED, FAILED or CRASHED             -> done
#   exit 0, the sweep is RUNNING, PENDING, PAUSED, other / unreadable          -> 4 / 5
#   exit N > 0, the sweep is over: FINISHED, CANCELED, FAILED or CRASHED         -> done
#   exit N > 0, any other state or unreadable                  -> N, or 6 when N > 128
# W&B is asked until a final state is known. Agents ending while the pod stops are not
# judged. The first failure decides the exit status; the launcher then sends SIGTERM to the
# other agents (so the GPUs do not sit idle) and waits for them at most STOP_GRACE_SECONDS.
# After a SIGTERM to the pod it forwards it and waits at most STOP_GRACE_SECONDS - 5 (half
# of it up to 10 s), to exit 143 before Kubernetes' SIGKILL (137). As PID 1, the launcher
# takes whatever still runs with it.
#
# Exit status:
#   0      every agent is done
#   N      the first agent that failed exited N (1..128; 1: the sweep was deleted, the key
#          rejected, or the agent refused while the sweep is not over, e.g. PAUSED)
#   4      an agent exited 0 while the sweep still runs (most likely its runs kept failing)
#   5      an agent exited 0 and the sweep's state could not be read from W&B
#   6      an agent was killed by a signal the pod did not get (the OOM killer's SIGKILL,
#          137), or exited above 128: never 143, which the Job does not count
#   143    the pod got SIGTERM (130: SIGINT) before any agent failed, and only then; even if
#          every agent exited 0. The Job's podFailurePolicy ignores 143 from this container,
#          so a preemption that gives the pod no DisruptionTarget (Kueue's) costs no retry
#   1      the agents' directories or the CA bundle could not be written (nothing started)
#   non-0  SWEEP_PATH is not set (the shell's own status; nothing was started)
set -u

: "${SWEEP_PATH:?SWEEP_PATH (entity/project/sweep id) must be set}"
agents=${AGENTS_PER_POD:-1}
gpus=${GPUS_PER_POD:-0}
runs=${RUNS_PER_AGENT:-}
stop_grace=${STOP_GRACE_SECONDS:-120}
gpu_resource=${GPU_RESOURCE:-nvidia.com/gpu}
agent_dirs=${WANDB_DIR:-$PWD}
sweep_id=${SWEEP_PATH##*/}
STOPPED_EARLY=4
STATE_UNKNOWN=5
KILLED=6
# After a SIGTERM: exit 143 this long before Kubernetes' SIGKILL (see the header).
drain_margin=5
if [ "$stop_grace" -le $((2 * drain_margin)) ]; then
  drain_margin=$((stop_grace / 2))
fi

# The files where images keep their public roots: Debian/Ubuntu, RHEL/Fedora, Alpine/macOS.
public_roots="/etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem"

# trust_ca: with WANDB_SWEEPS_CA_FILE set, writes the public roots (the first of
# public_roots, else certifi's) and the CA to WANDB_SWEEPS_TRUST_DIR/ca-bundle.pem, and
# exports SSL_CERT_FILE and REQUESTS_CA_BUNDLE pointing at it (why both, and why the public
# roots too: docs/self-managed-wandb.md). Returns 1 when the bundle cannot be written.
trust_ca() {
  ca_file=${WANDB_SWEEPS_CA_FILE:-}
  if [ -z "$ca_file" ]; then
    return 0
  fi
  if [ ! -r "$ca_file" ]; then
    echo "wandb-sweeps: cannot read the CA certificate $ca_file (caCertificate)" >&2
    return 1
  fi
  roots=""
  for candidate in $public_roots; do
    if [ -s "$candidate" ]; then
      roots=$candidate
      break
    fi
  done
  if [ -z "$roots" ]; then
    for python in $(python_candidates); do
      roots=$("$python" -c 'import certifi; print(certifi.where())' 2> /dev/null < /dev/null) || roots=""
      if [ -n "$roots" ] && [ -s "$roots" ]; then
        break
      fi
      roots=""
    done
  fi
  trust_dir=${WANDB_SWEEPS_TRUST_DIR:-${TMPDIR:-/tmp}}
  bundle=$trust_dir/ca-bundle.pem
  if ! mkdir -p "$trust_dir" || ! {
    if [ -n "$roots" ]; then
      cat "$roots" && echo
    fi
    cat "$ca_file"
  } > "$bundle.tmp" || ! mv -f "$bundle.tmp" "$bundle"; then
    echo "wandb-sweeps: cannot write the CA bundle $bundle (caCertificate)" >&2
    return 1
  fi
  if [ -n "$roots" ]; then
    echo "wandb-sweeps: trusting the public roots of $roots and caCertificate ($bundle)"
  else
    echo "wandb-sweeps: found no public root certificates in the image (none of $public_roots, no Python with certifi); the agents trust caCertificate only" >&2
  fi
  SSL_CERT_FILE=$bundle
  REQUESTS_CA_BUNDLE=$bundle
  export SSL_CERT_FILE REQUESTS_CA_BUNDLE
}

# Prints the sweep's state upper-cased and nothing else (wandb's output goes to /dev/null,
# the one-line error has the API key scrubbed out); exits 3 when this Python has no wandb
# package, 1 on any other error. Bounded by SIGALRM (3 x WANDB_HTTP_TIMEOUT), faulthandler
# (10 s later) and os._exit (wandb's exit handlers may hang): docs/failures.md says why.
STATE_QUERY='
import faulthandler, os, signal, sys
key = os.environ.get("WANDB_API_KEY") or ""
out, err = os.dup(1), os.dup(2)
quiet = os.open(os.devnull, os.O_WRONLY)
os.dup2(quiet, 1)
os.dup2(quiet, 2)
def finish(fd, text, code):
    if key:
        text = text.replace(key, "<WANDB_API_KEY>")
    os.write(fd, (text.replace("\n", " ")[:500] + "\n").encode())
    os._exit(code)
try:
    http_timeout = max(1, int(os.environ.get("WANDB_HTTP_TIMEOUT") or 20))
except ValueError:
    http_timeout = 20
bound = 3 * http_timeout
signal.signal(signal.SIGALRM, lambda *_: finish(err, "W&B did not answer within %d s" % bound, 1))
signal.alarm(bound)
faulthandler.dump_traceback_later(bound + 10, exit=True)
try:
    import wandb
except Exception as error:
    finish(err, "%s cannot import wandb: %s" % (sys.executable, error), 3)
try:
    state = wandb.Api(timeout=http_timeout).sweep(sys.argv[1]).state
except BaseException as error:
    finish(err, "%s: %s" % (type(error).__name__, error), 1)
finish(out, str(state or "").upper(), 0)
'

# gpu_share INDEX: the GPUs of agent INDEX, "0,1" ("" for none).
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

# The agents not yet reaped, as "<index>:<pid>:<runs its directory held before it started>"
# entries; an agent leaves the list once its status has been collected, so that no signal
# is ever sent to a pid the system may have reused.
running=""
signal_status=""  # 143 or 130 once the pod got SIGTERM or SIGINT
stopping=0        # 1 once the launcher itself sent SIGTERM to the agents
status=0          # the first failure's status, i.e. the exit status
known_state=""    # the sweep's state once read and final (FINISHED, CANCELED, FAILED,
                  # CRASHED): the agents that end after it are judged without asking again
expired=""        # 1 once drain has run out of time (see drain)

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

# parse ENTRY: sets index, pid and base from an entry of `running`.
parse() {
  index=${1%%:*}
  pid=${1#*:}
  base=${pid#*:}
  pid=${pid%%:*}
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

# make_agent_dirs: creates every agent's WANDB_DIR, before any agent starts.
make_agent_dirs() {
  set --
  i=0
  while [ "$i" -lt "$agents" ]; do
    set -- "$@" "$agent_dirs/agent-$i"
    i=$((i + 1))
  done
  mkdir -p "$@"
}

# start_agent INDEX
start_agent() {
  number=$1
  dir=$agent_dirs/agent-$number
  runs_started "$dir"
  devices=$(gpu_share "$number")
  if [ -n "$runs" ]; then
    set -- --count "$runs"
  else
    set --
  fi
  if [ -z "$devices" ]; then
    echo "wandb-sweeps: starting agent $number for $SWEEP_PATH"
    WANDB_DIR=$dir wandb agent -f "$@" "$SWEEP_PATH" &
  elif [ "${gpu_resource%%/*}" = amd.com ]; then
    echo "wandb-sweeps: starting agent $number on AMD GPU(s) $devices (HIP_VISIBLE_DEVICES, CUDA_VISIBLE_DEVICES) for $SWEEP_PATH"
    HIP_VISIBLE_DEVICES=$devices CUDA_VISIBLE_DEVICES=$devices WANDB_DIR=$dir wandb agent -f "$@" "$SWEEP_PATH" &
  else
    echo "wandb-sweeps: starting agent $number on GPU(s) $devices for $SWEEP_PATH"
    CUDA_VISIBLE_DEVICES=$devices WANDB_DIR=$dir wandb agent -f "$@" "$SWEEP_PATH" &
  fi
  running="$running $number:$!:$started"
}

# python_candidates: the Pythons that may have the wandb package, best first: the one in
# the first line of the `wandb` console script ("#!/path/to/python", written by pip for
# the Python wandb is installed in), then python3 and python on PATH.
python_candidates() {
  wandb_path=$(command -v wandb) || wandb_path=""
  if [ -n "$wandb_path" ] && [ -r "$wandb_path" ]; then
    read -r first second _ < "$wandb_path"
    case $first in
      '#!') interpreter=$second ;;
      '#!'*) interpreter=${first#??} ;;
      *) interpreter="" ;;
    esac
    case ${interpreter##*/} in
      python*) if [ -x "$interpreter" ]; then echo "$interpreter"; fi ;;
    esac
  fi
  command -v python3
  command -v python
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

# judge INDEX BASE: decides whether agent INDEX, which exited 0, is done (see the header).
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

# judge_failure INDEX CODE: agent INDEX exited CODE (not 0); done if the sweep is over.
judge_failure() {
  sweep_state "$1"
  if [ -n "$signal_status" ]; then
    return 0
  fi
  case $state in
    FINISHED | CANCELED | FAILED | CRASHED)
      echo "wandb-sweeps: agent $1 is done: the sweep is $state (W&B refuses new agents on a sweep that is over)"
      ;;
    *)
      if [ "$2" -gt 128 ]; then
        echo "wandb-sweeps: agent $1 was killed by signal $(($2 - 128)), which the pod did not get (the OOM killer?); exiting $KILLED, not $2" >&2
        fail "$KILLED"
      else
        fail "$2"
      fi
      ;;
  esac
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
    judge_failure "$index" "$code"
  else
    judge "$index" "$base"
  fi
}

# watch: until every agent is done, one fails or a signal comes, checks the agents once a
# second. POSIX sh has no `wait -n`; `kill -0` fails once the shell has reaped an agent,
# which it does while waiting for the `sleep`. A trapped signal interrupts that wait.
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
