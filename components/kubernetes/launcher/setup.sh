# wandb-sweeps agent launcher: the command each agent pod runs (POSIX sh; no bash needed).
# Three parts, run as one script in this order (agent_job.LAUNCHER_PARTS): setup.sh (the
# settings and the helpers that need no agent), agents.sh (starting, judging and restarting
# agents), watch.sh (watching them, reporting idle ones, stopping, and the main sequence).
# Why each rule is what it is, with sources: docs/failures.md, docs/performance.md and
# docs/gpus-and-sizing.md.
#
# Starts AGENTS_PER_POD `wandb agent -f` processes for SWEEP_PATH (entity/project/id),
# each with `--count RUNS_PER_AGENT` when that is set, and gives each agent
#   - its own share of the pod's GPUS_PER_POD GPUs (gpu_share): disjoint equal blocks when
#     GPUs >= agents (4 GPUs, 2 agents: "0,1" and "2,3"), else round-robin ("0" and "0"),
#     in CUDA_VISIBLE_DEVICES, and with GPU_RESOURCE amd.com/* in HIP_VISIBLE_DEVICES too:
#     HIP reads either, and tools (accelerate, Ray) read CUDA's. Never ROCR_VISIBLE_DEVICES:
#     ROCr applies it first and HIP's indices count within what it left, so both would hide
#     GPUs (a block "2,3" of 2 visible GPUs is none). No GPUs: nothing is set;
#   - its own WANDB_DIR, ${WANDB_DIR:-$PWD}/agent-<i> (created here, with its wandb/
#     folder, so that `wandb agent` keeps its debug log there and not in /tmp), to count its
#     runs and read its W&B errors;
#   - a start delay: with AGENT_START_SPREAD_SECONDS = S > 0 (the sweep's agent count over
#     agentStartsPerSecond, from the pod's scale ConfigMap), a random 0 to S s (in ms where
#     `sleep` takes fractions, else whole seconds), so that a sweep's agents (and a retried
#     pod's) start at about that rate; 0 or unset: at once.
# With WANDB_SWEEPS_CA_FILE set it first writes one CA bundle (trust_ca).
#
# Each agent's exit is judged (`wandb agent` also exits 0 when it gives up on failing runs,
# and 1 when W&B refuses to register it on a sweep that is over: "... is not running", or
# when W&B kept answering 429/5xx to its start-up calls for WANDB_HTTP_TIMEOUT):
#   exit 0, it started RUNS_PER_AGENT runs (config-*.yaml new in its WANDB_DIR)  -> done
#   exit 0, the sweep is over: FINISHED, CANCELED, FAILED or CRASHED             -> done
#   exit 0, the sweep is RUNNING, PENDING, PAUSED, other / unreadable          -> 4 / 5
#   exit N > 0, the sweep is over: FINISHED, CANCELED, FAILED or CRASHED         -> done
#   exit 1, the sweep is RUNNING or PENDING, restarts left (AGENT_RESTARTS)  -> restarted
#   exit N > 0, any other state or unreadable                  -> N, or 6 when N > 128
# A restart waits B x 2^n s plus a random 0 .. B x 2^n - 1 s (n: the agent's restarts in a
# row, B: WANDB_SWEEPS_RESTART_BACKOFF_SECONDS, 30); an agent that has started a run since
# its last start has its count reset. AGENT_RESTARTS unset: 0, the pod fails at once.
# W&B is asked until a final state is known. Agents ending while the pod stops are not
# judged. The first failure decides the exit status; the launcher then sends SIGTERM to the
# other agents (so the GPUs do not sit idle) and waits for them at most STOP_GRACE_SECONDS.
# After a SIGTERM to the pod it forwards it and waits at most STOP_GRACE_SECONDS - 5 (half
# of it up to 10 s), to exit 143 before Kubernetes' SIGKILL (137). As PID 1, the launcher
# takes whatever still runs with it.
#
# Every WANDB_SWEEPS_IDLE_REPORT_SECONDS (600; 0: never) it prints one line for each agent
# that has started no run since it started that long ago while the sweep is not PAUSED or
# over (the state is read only then, once per round), or that met at least 2 W&B errors
# since the last round, with the last W&B error in the agent's debug log
# ($WANDB_DIR/wandb/debug-cli.*.log), the API key scrubbed out. It restarts nothing.
#
# Exit status:
#   0      every agent is done
#   N      the first agent that failed exited N (1..128; 1: the sweep was deleted, the key
#          rejected, the agent refused while the sweep is not over, e.g. PAUSED, or W&B
#          kept refusing its calls after its restarts)
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

# whole NAME VALUE DEFAULT: sets `value` to VALUE if it is a whole number, else to DEFAULT,
# with a warning naming NAME when VALUE is set (users may set these in the pod's env).
whole() {
  value=$3
  case $2 in
    '') ;;
    *[!0-9]*) echo "wandb-sweeps: $1 must be a whole number, got '$2'; using $3" >&2 ;;
    *) value=$2 ;;
  esac
}
whole AGENT_START_SPREAD_SECONDS "${AGENT_START_SPREAD_SECONDS:-}" 0
start_spread=$value
whole AGENT_RESTARTS "${AGENT_RESTARTS:-}" 0
restart_limit=$value
whole WANDB_SWEEPS_RESTART_BACKOFF_SECONDS "${WANDB_SWEEPS_RESTART_BACKOFF_SECONDS:-}" 30
restart_backoff=$value
whole WANDB_SWEEPS_IDLE_REPORT_SECONDS "${WANDB_SWEEPS_IDLE_REPORT_SECONDS:-}" 600
idle_period=$value
# Start delays in milliseconds where `sleep` takes fractions of a second (GNU coreutils,
# busybox: a smooth rate, not a burst each second); POSIX asks only for whole seconds.
fractions=""
if [ "$start_spread" -gt 0 ] && sleep 0.001 > /dev/null 2>&1; then
  fractions=1
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

# random_below N: sets `random` to a whole number from 0 to N - 1 (0 when N < 1), from
# /dev/urandom through od; where either is missing, from a generator seeded with the
# launcher's pid, so that pods started together still draw different numbers.
seed=$$
random_below() {
  random=0
  if [ "$1" -lt 1 ]; then
    return 0
  fi
  drawn=$(od -An -N4 -tu4 /dev/urandom 2> /dev/null) || drawn=""
  drawn=${drawn##* }
  case $drawn in
    '' | *[!0-9]*)
      seed=$(((seed * 1103515245 + 12345) % 2147483648))
      drawn=$seed
      ;;
  esac
  random=$((drawn % $1))
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
