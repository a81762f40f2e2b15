#!/bin/sh
# The lock guard: run by `consul lock` as its child (consul-lock-wrapper.sh starts it), it runs
# Mogi (its arguments) and stops Mogi as soon as it can no longer show, within a deadline, that
# this pod's session still holds the lock. `consul lock` alone cannot promise that: its monitor
# waits on a blocking query with no deadline, so behind a silent partition it keeps Mogi running
# for minutes after the servers gave the lock away (hashicorp/consul api/lock.go, monitorLock;
# README, "Exclusion under faults").
#
# Every CHECK_SECONDS it reads the lock key (`consul kv get -detailed`, answered by the leader)
# and compares the key's session with the one that held it when the guard started. A timer
# started just before each read is sent fires DEADLINE_SECONDS later; the timer of the last read
# that confirmed the lock is the deadline. When it fires, or when Consul answers that the key is
# free or held by another session, Mogi gets SIGTERM and, GRACE_SECONDS later, SIGKILL.
#
# Why that is early enough (FACTS.md, `consul lock`): the lock can only pass to another session
# after ours is invalidated, and then only after the lock-delay (15 s). A read sent at q that
# confirmed the lock shows the session valid after q, so nobody else can hold the lock before
# q + 15 s. Mogi is gone by q + DEADLINE + 1 s (this loop's tick) + GRACE, so it needs
#   DEADLINE_SECONDS + 1 + GRACE_SECONDS < LOCK_DELAY_SECONDS (15)
# which is checked below; components/lockTiming.ts holds the values the pod gets and a unit test
# holds them to the same inequality. GRACE_SECONDS stays below `consul lock`'s own 5 s grace for
# this guard, so this guard is never SIGKILLed while Mogi still runs.
#
# Only the image's /bin/sh, `sleep` and the copied `consul` are used: no timeout, date, cat, rm.
# Files (all in CONSUL_LOCK_STATE_DIR, rewritten, never removed) carry what background jobs learn.
#
# Exit status: Mogi's own when it ended by itself; 0 when stopped by SIGTERM/SIGINT (the
# kubelet's, or `consul lock`'s on a lost lock); 75 (EX_TEMPFAIL) when the deadline passed without
# a confirming read; 69 (EX_UNAVAILABLE) when Consul answered that the lock is not ours; 78 on a
# configuration error. The wrapper reads the verdict file, since `consul lock` turns every
# non-zero status of its child into 2.
set -u

me=consul-lock-guard
log() { printf '%s: %s\n' "$me" "$*" >&2; }
fail() {
  log "$*"
  exit 78
}

[ "${CONSUL_LOCK_HELD:-}" = true ] || fail "not run by consul lock (CONSUL_LOCK_HELD is not true); start consul-lock-wrapper.sh instead"
[ "$#" -gt 0 ] || fail "no command given"
key=${CONSUL_LOCK_KEY:?CONSUL_LOCK_KEY must name the lock key}
state=${CONSUL_LOCK_STATE_DIR:?CONSUL_LOCK_STATE_DIR must name a writable directory}/consul-lock
check_seconds=${CONSUL_LOCK_CHECK_SECONDS:-2}
deadline_seconds=${CONSUL_LOCK_DEADLINE_SECONDS:-6}
grace_seconds=${MOGI_GRACE_SECONDS:-4}
for setting in "CONSUL_LOCK_CHECK_SECONDS=$check_seconds" "CONSUL_LOCK_DEADLINE_SECONDS=$deadline_seconds" "MOGI_GRACE_SECONDS=$grace_seconds"; do
  case "${setting#*=}" in
    '' | *[!0-9]* | 0) fail "$setting must be a whole number of seconds above 0" ;;
  esac
done
[ $((deadline_seconds + 1 + grace_seconds)) -lt 15 ] || fail "CONSUL_LOCK_DEADLINE_SECONDS + 1 + MOGI_GRACE_SECONDS must stay below the 15 s lock-delay, or another pod could start Mogi before this one stopped it"
[ "$grace_seconds" -lt 5 ] || fail "MOGI_GRACE_SECONDS must stay below consul lock's own 5 s grace for this guard"
[ "$check_seconds" -lt "$deadline_seconds" ] || fail "CONSUL_LOCK_CHECK_SECONDS must be below CONSUL_LOCK_DEADLINE_SECONDS"
# Mogi must not inherit the marker: nothing it starts is a guard.
unset CONSUL_LOCK_HELD

for file in verdict fired check.rc check.pid check.out check.err mogi.pid mogi.rc; do
  { printf '' >"$state.$file"; } 2>/dev/null || fail "CONSUL_LOCK_STATE_DIR=${CONSUL_LOCK_STATE_DIR}: cannot write $state.$file"
done

# First line of a file ('' when empty or missing).
first_line() {
  line=
  IFS= read -r line <"$1" 2>/dev/null || :
  printf '%s' "$line"
}

seq=0          # reads sent so far; each has a timer that writes its number to $state.fired
armed=0        # the read whose timer is the deadline: the last one that confirmed the lock
inflight=      # the read not answered yet, if any
inflight_job=
fired=0        # the highest timer number seen fired
since_send=0   # ticks since the last read was sent
session=       # the session holding the lock when the guard started: this pod's
failing=       # the reason the reads are failing, logged once per outage

send_check() {
  seq=$((seq + 1))
  inflight=$seq
  since_send=0
  : >"$state.check.rc"
  : >"$state.check.pid"
  # The timer starts before the read is sent, so the deadline it sets is never late.
  n=$seq
  (sleep "$deadline_seconds"; echo "$n" >"$state.fired") </dev/null >/dev/null 2>&1 &
  (
    consul kv get -detailed "$key" >"$state.check.out" 2>"$state.check.err" </dev/null &
    echo "$!" >"$state.check.pid"
    wait "$!"
    echo "$n $?" >"$state.check.rc"
  ) </dev/null >/dev/null 2>&1 &
  inflight_job=$!
}

# The read in flight was answered ("<seq> <exit status>" in $rc): "ok <session>", "lost <why>"
# (Consul answered: not ours) or "error <why>".
read_answer() {
  holder=
  while read -r field value; do
    [ "$field" = Session ] && holder=$value
  done <"$state.check.out"
  if [ "${rc#* }" = 0 ] && [ -n "$holder" ]; then
    if [ "$holder" = - ]; then
      answer="lost the lock key has no session"
    elif [ -z "$session" ] || [ "$holder" = "$session" ]; then
      answer="ok $holder"
    else
      answer="lost the lock key is held by session $holder"
    fi
    return
  fi
  why="no answer"
  while IFS= read -r line; do [ -z "$line" ] || why=$line; done <"$state.check.err"
  case "$why" in
    *"No key exists"*) answer="lost the lock key does not exist" ;;
    *) answer="error $why" ;;
  esac
}

# One step of the read loop: collect an answer, enforce the deadline, send the next read.
# Sets verdict_status and verdict when the lock can no longer be shown to be ours.
step_checks() {
  latest=$(first_line "$state.fired")
  case "$latest" in '' | *[!0-9]*) ;; *) [ "$latest" -le "$fired" ] || fired=$latest ;; esac
  rc=$(first_line "$state.check.rc")
  if [ -n "$inflight" ] && [ "${rc%% *}" = "$inflight" ]; then
    wait "$inflight_job" 2>/dev/null || :
    read_answer
    case "$answer" in
      ok\ *)
        armed=$inflight
        [ -z "$failing" ] || log "lock confirmed again after: $failing"
        failing=
        session=${answer#ok }
        ;;
      lost\ *)
        verdict_status=69
        verdict="Consul answered that the lock is not ours any more: ${answer#lost }"
        return
        ;;
      *)
        [ -n "$failing" ] || log "cannot confirm the lock yet (${answer#error }); Mogi stops if not confirmed within ${deadline_seconds} s of the last confirmation"
        failing=${answer#error }
        ;;
    esac
    inflight=
  elif [ -n "$inflight" ] && [ "$fired" -ge "$inflight" ]; then
    # Unanswered past its own deadline: a hung connection. Kill it, so a fresh one can be tried.
    pid=$(first_line "$state.check.pid")
    [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || :
    wait "$inflight_job" 2>/dev/null || :
    failing="no answer within ${deadline_seconds} s"
    inflight=
  fi
  if [ "$armed" -gt 0 ] && [ "$fired" -ge "$armed" ]; then
    verdict_status=75
    verdict="could not confirm the lock within ${deadline_seconds} s (${failing:-no answer}); another pod may get it once the servers expire this session"
    return
  fi
  if [ -z "$inflight" ] && [ "$since_send" -ge "$check_seconds" ]; then send_check; fi
}

tick() {
  sleep 1 >/dev/null 2>&1 &
  tick_job=$!
  # Mogi's end wakes the guard (USR1); one that came before this wait is seen here instead.
  [ -n "$mogi_job" ] && [ -n "$(first_line "$state.mogi.rc")" ] || wait "$tick_job" || :
  since_send=$((since_send + 1))
}

stopping=
stop_signal() {
  [ -z "$stopping" ] || return 0
  stopping=1
  verdict_status=0
  verdict="stopped by a signal (the pod stopping, or consul lock having seen the lock lost)"
  stop_mogi
}

mogi_job=
killer=
stop_mogi() {
  [ -n "$mogi_job" ] || return 0
  pid=$(first_line "$state.mogi.pid")
  [ -n "$pid" ] || { sleep 1; pid=$(first_line "$state.mogi.pid"); }
  [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || :
  [ -n "$killer" ] || {
    (sleep "$grace_seconds"; [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null) </dev/null >/dev/null 2>&1 &
    killer=$!
  }
}

verdict_status=
verdict=
trap stop_signal TERM INT
trap : USR1
# A read still hanging when the guard ends must not outlive it.
end_inflight() {
  pid=$(first_line "$state.check.pid")
  [ -z "$inflight" ] || [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || :
}
trap end_inflight EXIT

# Before Mogi starts: one read must confirm the lock within the deadline. It also learns this
# pod's session: `consul lock` acquired the key just before starting the guard, and nobody else
# can hold it within 15 s of that, so the session the key shows now is ours.
send_check
armed=-1
while [ -z "$session" ] && [ -z "$verdict_status" ]; do
  if [ -n "$inflight" ]; then
    # Wait for the read itself, not a whole tick: Mogi starts as soon as the lock is confirmed.
    # The watchdog ends a read that hangs when its deadline passes.
    (sleep "$deadline_seconds"; pid=$(first_line "$state.check.pid"); [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null) </dev/null >/dev/null 2>&1 &
    watchdog=$!
    while [ -z "$(first_line "$state.check.rc")" ] && [ -z "$stopping" ]; do wait "$inflight_job" || :; done
    kill "$watchdog" 2>/dev/null || :
  else
    tick
  fi
  [ -z "$stopping" ] || break
  step_checks
  [ "$fired" -lt 1 ] || [ -n "$session" ] || { verdict_status=75; verdict="could not confirm the lock within ${deadline_seconds} s (${failing:-no answer})"; }
done
if [ -n "$verdict_status" ]; then
  log "Mogi not started: $verdict"
  echo "lock $verdict_status $verdict" >"$state.verdict"
  exit "$verdict_status"
fi

log "lock confirmed (session $session); starting Mogi"
(
  "$@" </dev/null &
  echo "$!" >"$state.mogi.pid"
  wait "$!"
  status=$?
  printf '%s: Mogi (pid %s) exited with status %s\n' "$me" "$(first_line "$state.mogi.pid")" "$status" >&2
  echo "$status" >"$state.mogi.rc"
  kill -USR1 $$ 2>/dev/null # wakes the guard from its tick: the hand-over need not wait for it
) &
mogi_job=$!

while :; do
  tick
  if [ -n "$(first_line "$state.mogi.rc")" ]; then
    status=$(first_line "$state.mogi.rc")
    wait "$mogi_job" 2>/dev/null || :
    [ -z "$killer" ] || kill "$killer" 2>/dev/null || :
    if [ -z "$verdict_status" ]; then
      verdict_status=$status
      verdict="Mogi exited with status $status"
      echo "mogi $status" >"$state.verdict"
    else
      echo "lock $verdict_status $verdict" >"$state.verdict"
    fi
    log "$verdict"
    exit "$verdict_status"
  fi
  [ -z "$verdict_status" ] || continue # stopping: wait for Mogi to end
  step_checks
  if [ -n "$verdict_status" ]; then
    log "stopping Mogi: $verdict"
    stop_mogi
  fi
done
