#!/bin/sh
# The container's PID 1: runs the container's command (Mogi: this script's arguments) only while
# this pod's Consul session holds the fence key <prefix>/.fence, and stops Mogi with every process
# it started before any other pod can hold that key. The protocol, and why it keeps one Mogi, is
# in README.md beside this script; components/lockTiming.ts holds the values the pod gets.
#
# Fails closed by construction: Mogi is this process's child, so whatever else dies (`consul
# lock`, its child, a call) this process still stops Mogi; if this process dies, the kernel kills
# every process of the container's PID namespace. It therefore refuses to run unless it is PID 1.
# Time comes from /proc/uptime, read by the shell itself: the deadline holds when forks fail, and
# a fork that fails ends this shell (dash, busybox), which ends the namespace.
#
# Settings (environment, set by the Deployment):
#   CONSUL_HTTP_ADDR        required  Consul HTTP API, e.g. http://consul-server.consul.svc:8500
#   CONSUL_HTTP_TOKEN_FILE  required  file holding the ACL token (read by consul itself), unless:
#   CONSUL_LOGIN_METHOD     optional  a Consul auth method: the container logs in with the bearer
#   CONSUL_LOGIN_BEARER_TOKEN_FILE    token (the pod's service-account token) and out when it ends;
#                                     the token is kept in $CONSUL_LOCK_STATE_DIR/consul-acl-token
#   CONSUL_LOCK_PREFIX      required  KV prefix: <prefix>/.lock (consul lock's) and <prefix>/.fence
#   POD_NAME                required  names the Consul session and the fence key's value
#   CONSUL_CACERT           optional  CA file for https addresses (read by consul itself)
#   CONSUL_BIN_DIR          optional  directory put first on PATH (where the init container copied consul)
#   CONSUL_LOCK_STATE_DIR   optional  writable directory for this script's files (default $TMPDIR or /tmp)
#   CONSUL_RETRY_SECONDS    optional  pause before a new round, and between checks while Consul is unreachable (3)
#   CONSUL_LOCK_CHECK_SECONDS (2), CONSUL_LOCK_DEADLINE_SECONDS (6), MOGI_GRACE_SECONDS (4),
#   CONSUL_LOCK_FENCE_SECONDS (14): the protocol's periods, held to its inequalities below.
# Mogi gets MOGI_FENCING_TOKEN (also in $CONSUL_LOCK_STATE_DIR/fencing-token, MOGI_FENCING_TOKEN_FILE).
#
# Exit status: Mogi's own when it ended by itself; 0 on SIGTERM/SIGINT; 78 (EX_CONFIG) on a
# configuration error. Any other end of the lock starts a new round in the same container: a
# restart would add the kubelet's back-off (10 s doubling to 300 s) to every lost lock.
set -u
# First: a signal that comes before its trap is set is ignored by a PID 1, and would be lost.
stopping=
held=
trap 'stopping=1' TERM INT
trap 'held=1' USR1

me=consul-lock-wrapper
log() { printf '%s: %s\n' "$me" "$*" >&2; }
fail() {
  log "$*"
  exit 78
}

# --- settings ---------------------------------------------------------------------------------
missing=
login_method=${CONSUL_LOGIN_METHOD:-}
token_setting=CONSUL_HTTP_TOKEN_FILE
[ -z "$login_method" ] || token_setting=CONSUL_LOGIN_BEARER_TOKEN_FILE
for name in CONSUL_HTTP_ADDR $token_setting CONSUL_LOCK_PREFIX POD_NAME; do
  eval "value=\${$name:-}"
  # shellcheck disable=SC2154 # value is set by the eval above
  [ -n "$value" ] || missing="$missing $name"
done
[ -z "$missing" ] || fail "missing required setting(s):$missing"
if [ -n "$login_method" ] && [ -n "${CONSUL_HTTP_TOKEN_FILE:-}" ]; then
  fail "CONSUL_HTTP_TOKEN_FILE and CONSUL_LOGIN_METHOD are both set: give a static token or an auth method, not both"
fi
# Checked here so that a bad mount fails at once with a clear message, not as a 403 from Consul.
eval "token_path=\$$token_setting"
# shellcheck disable=SC2154 # token_path is set by the eval above
if [ ! -f "$token_path" ] || [ ! -r "$token_path" ]; then
  fail "$token_setting=$token_path is not a readable file"
fi
[ -s "$token_path" ] || fail "$token_setting=$token_path is empty"
if [ -n "${CONSUL_CACERT:-}" ] && { [ ! -f "$CONSUL_CACERT" ] || [ ! -r "$CONSUL_CACERT" ]; }; then
  fail "CONSUL_CACERT=$CONSUL_CACERT is not a readable file"
fi
case "$CONSUL_LOCK_PREFIX" in
  /* | */) fail "CONSUL_LOCK_PREFIX=$CONSUL_LOCK_PREFIX must not start or end with '/'" ;;
esac
case "$POD_NAME" in
  *[!A-Za-z0-9.-]*) fail "POD_NAME=$POD_NAME must be a Kubernetes pod name" ;;
esac
[ "$#" -gt 0 ] || fail "no command given: pass the service's command as the container's args"
if [ -n "${CONSUL_BIN_DIR:-}" ]; then
  PATH="$CONSUL_BIN_DIR:$PATH"
  export PATH
fi
command -v consul >/dev/null 2>&1 || fail "consul was not found on PATH ($PATH)"

seconds() { # NAME VALUE: a whole number of seconds above 0
  case "$2" in '' | *[!0-9]* | 0*) fail "$1=$2 must be a whole number of seconds above 0" ;; esac
}
retry_s=${CONSUL_RETRY_SECONDS:-3}
check_s=${CONSUL_LOCK_CHECK_SECONDS:-2}
deadline_s=${CONSUL_LOCK_DEADLINE_SECONDS:-6}
grace_s=${MOGI_GRACE_SECONDS:-4}
fence_s=${CONSUL_LOCK_FENCE_SECONDS:-14}
seconds CONSUL_RETRY_SECONDS "$retry_s"
seconds CONSUL_LOCK_CHECK_SECONDS "$check_s"
seconds CONSUL_LOCK_DEADLINE_SECONDS "$deadline_s"
seconds MOGI_GRACE_SECONDS "$grace_s"
seconds CONSUL_LOCK_FENCE_SECONDS "$fence_s"
# Fixed by Consul (FACTS.md): the servers' default lock-delay. Assumed by the protocol: this loop's
# tick and the longest a process may be starved (README.md, "What is assumed").
lock_delay_s=15
tick_s=1
starved_s=2
# A's Mogi is gone by q + DEADLINE + TICK + GRACE + STARVED after its last confirming read (q).
gone_s=$((deadline_s + tick_s + grace_s + starved_s))
[ "$gone_s" -lt "$lock_delay_s" ] || fail "CONSUL_LOCK_DEADLINE_SECONDS + MOGI_GRACE_SECONDS + $((tick_s + starved_s)) must stay below Consul's ${lock_delay_s} s lock-delay, or another pod could start Mogi before this one stopped it"
[ "$gone_s" -lt "$fence_s" ] || fail "CONSUL_LOCK_FENCE_SECONDS must exceed CONSUL_LOCK_DEADLINE_SECONDS + MOGI_GRACE_SECONDS + $((tick_s + starved_s)) ($gone_s)"
[ "$check_s" -lt "$deadline_s" ] || fail "CONSUL_LOCK_CHECK_SECONDS must be below CONSUL_LOCK_DEADLINE_SECONDS"

# Only PID 1 of a PID namespace ends every process of the container when it dies, and only there
# is /proc this container's process table (Kubernetes gives each container both, unless the pod
# sets shareProcessNamespace).
[ "$$" = 1 ] || fail "must run as the container's PID 1 (it is PID $$): use it as the container's command, without shareProcessNamespace"
self=
{ read -r self _ </proc/self/stat; } 2>/dev/null || :
[ "$self" = 1 ] || fail "/proc is not this container's own (it shows this process as PID ${self:-none})"

state=${CONSUL_LOCK_STATE_DIR:-${TMPDIR:-/tmp}}
out=$state/consul-lock.out
err=$state/consul-lock.err
token_file=$state/fencing-token
# printf, not ':': a failed redirection of a special builtin would end the shell before fail.
{ printf '' >"$out"; } 2>/dev/null || fail "CONSUL_LOCK_STATE_DIR=$state is not a writable directory"
lock_key=$CONSUL_LOCK_PREFIX/.lock
fence_key=$CONSUL_LOCK_PREFIX/.fence
if [ -n "$login_method" ]; then
  # Every consul this script and Mogi run reads the container's login token from here.
  CONSUL_HTTP_TOKEN_FILE=$state/consul-acl-token
  export CONSUL_HTTP_TOKEN_FILE
  [ -f "$CONSUL_HTTP_TOKEN_FILE" ] || { printf '' >"$CONSUL_HTTP_TOKEN_FILE"; } 2>/dev/null || fail "CONSUL_LOCK_STATE_DIR=$state is not a writable directory"
fi

# --- time and processes (shell builtins only: nothing here forks) -----------------------------
now() { # t = centiseconds since boot
  read -r t _ </proc/uptime
  t=${t%.*}${t#*.}
  while case "$t" in 0?*) true ;; *) false ;; esac; do t=${t#0}; done
}
proc_stat() { # PID: pstate and ppid from /proc/PID/stat; fails when there is no such process
  line=
  { IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  line=${line##*) }
  pstate=${line%% *}
  line=${line#* }
  ppid=${line%% *}
}
alive() { proc_stat "$1" && [ "$pstate" != Z ] && [ "$pstate" != X ]; }

# Ticks. One fork each: a fork that fails ends this shell, which is the fail-closed way out.
# `sleep` with fractions (GNU, busybox) makes the start and stop steps fast; POSIX sleep takes 1.
fine=0.05
sleep "$fine" 2>/dev/null || fine=1
tick_pid=
nap() { # SECONDS: sleeps, woken at once by a trapped signal
  sleep "$1" &
  tick_pid=$!
  wait "$tick_pid"
  tick_pid=
}

# Every process but PID 1, L, L's children (the holder) and the call in flight is Mogi's tree:
# Mogi, what it started, and what they left behind (orphans are reparented to PID 1).
signal_tree() { # SIGNAL (0: count only); sets left to how many are alive
  left=0
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case " 1 $lock_pid $call_pid $tick_pid " in *" $p "*) continue ;; esac
    alive "$p" || continue
    [ -n "$lock_pid" ] && [ "$ppid" = "$lock_pid" ] && continue
    left=$((left + 1))
    [ "$1" = 0 ] || kill -"$1" "$p" 2>/dev/null
  done
}

# --- calls to Consul --------------------------------------------------------------------------
# One at a time, in the background (so that a signal or a deadline can cut it short), output in
# $out/$err, answered when the process is gone, killed when it is not answered within the deadline.
call_pid=
call_sent=0
call_start() {
  : >"$out"
  : >"$err"
  now
  call_sent=$t
  consul "$@" >"$out" 2>"$err" </dev/null &
  call_pid=$!
}
call_done() { # 0 once the call ended (call_rc set), 1 while it runs; kills it past the deadline
  if alive "$call_pid"; then
    now
    [ $((t - call_sent)) -gt $((deadline_s * 100)) ] || return 1
    kill -KILL "$call_pid" 2>/dev/null
    wait "$call_pid"
    call_rc=137
    call_pid=
    printf 'no answer within %s s\n' "$deadline_s" >"$err"
    return 0
  fi
  wait "$call_pid"
  call_rc=$?
  call_pid=
}
finishing= # set while the round's last calls run: they are not cut short by SIGTERM
ask() { # consul ARGS…: runs one call to its end; fails when stopping or when L ended meanwhile
  call_start "$@"
  until call_done; do
    nap "$fine"
    if { [ -n "$stopping" ] && [ -z "$finishing" ]; } || { [ -n "$lock_pid" ] && ! alive "$lock_pid"; }; then
      kill -KILL "$call_pid" 2>/dev/null
      wait "$call_pid"
      call_pid=
      return 1
    fi
  done
}
why_failed() { # failure: the last line the call wrote on stderr
  failure="no answer"
  while IFS= read -r line; do [ -z "$line" ] || failure=$line; done <"$err"
}
read_key() { # after a `kv get -detailed`: key = present|absent|error, key_session, key_index, key_value
  key=error key_session='' key_index='' key_value=
  while read -r field rest; do
    case "$field" in
      ModifyIndex) key_index=$rest ;;
      Session) key_session=$rest ;;
      Value) key_value=$rest ;;
    esac
  done <"$out"
  why_failed
  if [ "$call_rc" = 0 ] && [ -n "$key_index" ]; then
    key=present
    [ "$key_session" != - ] || key_session=
  else
    case "$failure" in *"No key exists"*) key=absent ;; esac
  fi
}
fence_value() { # PHASE POD SESSION FENCE: the parts of the fence key's value
  value_phase=${1:-} value_pod=${2:-} value_session=${3:-} value_fence=${4:-1}
}

# --- one round --------------------------------------------------------------------------------
lock_pid=
session=
fence_held=
token=

pause() { # SECONDS: waits, returning early when stopping or when L ended
  now
  pause_end=$((t + $1 * 100))
  while [ -z "$stopping" ] && { [ -z "$lock_pid" ] || alive "$lock_pid"; }; do
    now
    [ "$t" -lt "$pause_end" ] || return 0
    nap "$fine"
  done
  return 1
}

# --- login (CONSUL_LOGIN_METHOD) ---------------------------------------------------------------
# One token per container: taken before the first call, deleted when the container ends (or, after
# a kill, when the next container of the pod starts), replaced when Consul says it is gone. A token
# deleted or expired during a round fails the fence checks (403): the deadline stops Mogi, fail
# closed, and the next round logs in again.
logged_in_at=0
log_in() { # a new token in CONSUL_HTTP_TOKEN_FILE; fails (with failure set) when Consul refuses
  ask login -method="$login_method" -bearer-token-file="$CONSUL_LOGIN_BEARER_TOKEN_FILE" \
    -token-sink-file="$CONSUL_HTTP_TOKEN_FILE" -meta "pod=$POD_NAME" || return 1
  now
  logged_in_at=$t
  [ "$call_rc" = 0 ] && [ -s "$CONSUL_HTTP_TOKEN_FILE" ] && return 0
  why_failed
  return 1
}
log_out() { # deletes the token in CONSUL_HTTP_TOKEN_FILE, if any (also one an earlier container left)
  [ -n "$login_method" ] && [ -s "$CONSUL_HTTP_TOKEN_FILE" ] || return 0
  finishing=1
  ask logout || :
  finishing=
  if [ "$call_rc" != 0 ]; then
    why_failed
    case "$failure" in
      *"ACL not found"*) ;; # already deleted or expired
      *) log "login token not deleted ($failure); Consul keeps it until the auth method's MaxTokenTTL, if any" ;;
    esac
  fi
  : >"$CONSUL_HTTP_TOKEN_FILE"
}
token_gone() { # after a failed call: Consul does not know the login token (yet, or any more)
  [ -n "$login_method" ] && case "$failure" in *"ACL not found"*) true ;; *) false ;; esac
}

wait_for_consul() { # until `consul info` (GET /v1/agent/self, what consul lock calls first) answers
  attempt=0
  while [ -z "$stopping" ]; do
    attempt=$((attempt + 1))
    if [ -n "$login_method" ] && [ ! -s "$CONSUL_HTTP_TOKEN_FILE" ] && ! log_in; then
      [ -z "$stopping" ] || return 1
      log "cannot log in to Consul with auth method $login_method (attempt $attempt): $failure; retrying in $retry_s s"
      pause "$retry_s" || return 1
      continue
    fi
    ask info || return 1
    [ "$call_rc" != 0 ] || return 0
    why_failed
    if token_gone; then
      now
      # A follower knows a new token only once it has applied the leader's write (consul-k8s
      # reads a new token back for the same reason, control-plane/subcommand/common/common.go):
      # not known within the deadline, it is gone (deleted, expired), so it is deleted for sure
      # (logout goes to the leader) and the next attempt logs in again.
      if [ $((t - logged_in_at)) -lt $((deadline_s * 100)) ]; then
        pause "$tick_s" || return 1
        continue
      fi
      log_out
    fi
    log "Consul at $CONSUL_HTTP_ADDR is not usable yet (attempt $attempt): $failure; retrying in $retry_s s"
    pause "$retry_s" || return 1
  done
  return 1
}

start_lock() { # L, whose child (the holder) tells PID 1 the lock is held, then sleeps until L ends it
  held=
  log "waiting for the lock $lock_key as session $POD_NAME"
  # -shell=false: the holder is run directly, not under `sh -c` (hashicorp/consul#2022).
  # shellcheck disable=SC2016 # $1 is the holder's own argument
  consul lock -shell=false -name="$POD_NAME" "$CONSUL_LOCK_PREFIX" \
    /bin/sh -c 'kill -USR1 "$1" && exec sleep 2147483647' consul-lock-holder "$$" </dev/null &
  lock_pid=$!
  while [ -z "$held" ] && [ -z "$stopping" ] && alive "$lock_pid"; do nap 1; done
  [ -n "$held" ] && [ -z "$stopping" ] && alive "$lock_pid"
}

take_fence() { # steps 3-6 of the round: 0 once this pod's session holds the fence key, confirmed
  ask kv get -detailed "$lock_key" || return 1
  read_key
  if [ "$key" != present ] || [ -z "$key_session" ]; then
    why="the lock key shows no session ($key: $failure)"
    return 1
  fi
  session=$key_session
  while :; do
    ask kv get -detailed "$fence_key" || return 1
    read_key
    case "$key" in error) log "cannot read $fence_key: $failure"; pause "$check_s" || return 1; continue ;; esac
    set -f
    # shellcheck disable=SC2086 # the value's four words
    fence_value $key_value
    set +f
    mine="running $POD_NAME $session $value_fence"
    if [ -n "$key_session" ] && [ "$key_session" != "$session" ]; then
      log "the fence key is still held by session $key_session; waiting for it"
      pause "$check_s" || return 1
      continue
    fi
    if { [ -n "$key_session" ] && [ "$key_value" != "$mine" ]; } || { [ "$value_session" = "$session" ] && [ "$value_pod" != "$POD_NAME" ]; }; then
      why="session $session is claimed by another pod (the lock key was replaced meanwhile)"
      return 1
    fi
    if [ -z "$key_session" ]; then
      need=1
      if [ "$key" = present ]; then
        # stopped: its holder proved its own Mogi gone, and passes on a fence wait it did not finish.
        case "$value_phase" in running) need=0 ;; stopped | claim) [ "$value_fence" != 0 ] || need=0 ;; esac
      fi
      index=0
      [ "$key" = absent ] || index=$key_index
      ask kv put -cas -modify-index="$index" "$fence_key" "claim $POD_NAME $session $need" || return 1
      [ "$call_rc" = 0 ] || continue # another pod claimed first: read again
      # Counted as held from the moment the acquire is sent: an acquire cut short may still have
      # landed, and releasing a key one does not hold is refused harmlessly.
      fence_held=1
      ask kv put -acquire -session="$session" "$fence_key" "running $POD_NAME $session $need" || return 1
      [ "$call_rc" = 0 ] || { why_failed; log "fence key not acquired ($failure); trying again in $check_s s"; pause "$check_s" || return 1; continue; }
    else
      need=$value_fence # our own acquire, whose answer was lost
      fence_held=1
    fi
    ask kv get -detailed "$fence_key" || return 1
    confirmed=$call_sent
    read_key
    if [ "$key" = present ] && [ "$key_session" = "$session" ] && [ "$key_value" = "running $POD_NAME $session $need" ]; then
      token=$key_index
      return 0
    fi
  done
}

# Every check period a read of the fence key; a read sent at q that shows it held by our session
# with our value confirms the lock at q. Sets lost when Consul answered that it is not ours.
check_step() {
  if [ -n "$call_pid" ]; then
    call_done || return 0
    read_key
    if [ "$key" = present ] && [ "$key_session" = "$session" ] && [ "$key_value" = "running $POD_NAME $session $need" ]; then
      [ -z "$failing" ] || log "lock confirmed again after: $failing"
      failing=
      confirmed=$call_sent
    elif [ "$key" = error ]; then
      [ -n "$failing" ] || log "cannot confirm the lock ($failure); Mogi stops if not confirmed within $deadline_s s of the last confirmation"
      failing=$failure
    else
      lost="Consul answered that the fence key is not ours any more ($key, session ${key_session:-none})"
    fi
  fi
  now
  [ -n "$call_pid" ] || [ $((t - call_sent)) -lt $((check_s * 100)) ] || call_start kv get -detailed "$fence_key"
}

# Until the deadline passes, Consul says the key is not ours, L ends, Mogi ends, or SIGTERM; with
# no Mogi running (the fence wait), also until UNTIL (centiseconds). Sets why.
hold() {
  failing=
  lost=
  while :; do
    [ -z "$stopping" ] || { why="stopped by a signal"; return; }
    if [ -n "$mogi_pid" ] && ! alive "$mogi_pid"; then
      wait "$mogi_pid"
      mogi_status=$?
      mogi_ended=$mogi_pid
      mogi_pid=
      why="Mogi exited with status $mogi_status"
      return
    fi
    alive "$lock_pid" || { why="consul lock ended (it saw the lock lost, or could not reach Consul)"; return; }
    check_step
    [ -z "$lost" ] || { why=$lost; return; }
    now
    [ $((t - confirmed)) -le $((deadline_s * 100)) ] || { why="could not confirm the lock within $deadline_s s (${failing:-no answer})"; return; }
    [ -n "$mogi_pid" ] || [ "$t" -lt "$1" ] || { why=; return; }
    nap "$tick_s"
  done
}

stop_tree() { # SIGTERM to Mogi's tree, SIGKILL after the grace, until none of it is left
  now
  stop_from=$t
  signal_tree TERM
  while :; do
    signal_tree 0
    [ "$left" -gt 0 ] || break
    now
    [ $((t - stop_from)) -lt $((grace_s * 100)) ] || signal_tree KILL
    nap "$fine"
  done
  if [ -n "$mogi_pid" ]; then
    wait "$mogi_pid"
    mogi_status=$?
    mogi_ended=$mogi_pid
    mogi_pid=
  fi
  # Logged only now: the e2e tier judges overlap by this line (test/e2e/support/mogiIntervals.ts).
  [ -z "$mogi_ended" ] || log "Mogi (pid $mogi_ended) exited with status $mogi_status; its process tree is gone"
  mogi_ended=
}

end_round() { # Mogi's tree gone, the fence key released, L ended, nothing of the round left
  stop_tree
  if [ -n "$call_pid" ]; then
    kill -KILL "$call_pid" 2>/dev/null
    wait "$call_pid"
    call_pid=
  fi
  if [ -n "$lock_pid" ] && ! alive "$lock_pid"; then
    wait "$lock_pid"
    lock_pid=
  fi
  if [ -n "$fence_held" ]; then
    # Only now, with Mogi's tree gone, may the fence key be freed without a lock-delay.
    # A round that ends in its fence wait has not waited out the earlier holder's Mogi: the next
    # holder must (the model's counterexample to releasing with 0 here, test/model/README.md).
    owed=0
    [ -n "$mogi_started" ] || [ "${need:-0}" = 0 ] || owed=1
    finishing=1
    ask kv put -release -session="$session" "$fence_key" "stopped $POD_NAME $session $owed" || :
    finishing=
    [ "$call_rc" = 0 ] || { why_failed; log "fence key not released ($failure): the next holder waits for the lock-delay"; }
  fi
  if [ -n "$lock_pid" ]; then
    kill -TERM "$lock_pid" 2>/dev/null
    # A waiting consul lock notices SIGTERM only between 15 s blocking queries (hashicorp/consul#4439);
    # it holds nothing then, so it is killed after a short wait.
    now
    lock_stop=$t
    while alive "$lock_pid"; do
      now
      [ $((t - lock_stop)) -lt 200 ] || kill -KILL "$lock_pid" 2>/dev/null
      nap "$fine"
    done
    wait "$lock_pid"
    lock_pid=
  fi
  signal_tree KILL
  session=
  fence_held=
  mogi_started=
  need=0
}

mogi_pid=
mogi_ended=
mogi_status=
mogi_started=
need=0
log_out # a token an earlier container of this pod was killed with
while :; do
  if ! wait_for_consul; then
    log_out
    log "stopped while waiting for Consul; Mogi was not started"
    exit 0
  fi
  why=
  if start_lock && take_fence; then
    if [ "$need" = 1 ]; then
      log "the fence key was deleted or never written: a Mogi of an earlier holder may still run; waiting $fence_s s"
      now
      hold $((t + fence_s * 100))
    fi
    if [ -z "$why" ]; then
      printf '%s\n' "$token" >"$token_file"
      log "lock confirmed (session $session, fencing token $token); starting Mogi"
      MOGI_FENCING_TOKEN=$token MOGI_FENCING_TOKEN_FILE=$token_file "$@" </dev/null &
      mogi_pid=$!
      mogi_started=1
      hold 0
      [ -z "$mogi_pid" ] || log "stopping Mogi: $why"
    fi
  fi
  ended_by_mogi=
  [ -z "$mogi_ended" ] || ended_by_mogi=$mogi_status
  end_round
  if [ -n "$stopping" ]; then
    log_out
    log "stopped by a signal; the lock is released"
    exit 0
  fi
  if [ -n "$ended_by_mogi" ]; then
    log_out
    log "Mogi exited with status $ended_by_mogi; the container ends with it"
    exit "$ended_by_mogi"
  fi
  log "lock given up (${why:-consul lock ended before the lock was confirmed}); waiting for it again in $retry_s s"
  mogi_status=
  pause "$retry_s" || :
done
