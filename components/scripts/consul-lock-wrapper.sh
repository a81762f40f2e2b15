#!/bin/sh
# Runs the container's command (this script's arguments) under `consul lock`, so that only the
# holder of the Consul lock runs it, through consul-lock-guard.sh (beside this script), which stops
# it when the lock can no longer be confirmed within a deadline. Shipped verbatim in a ConfigMap;
# see components/lockWrapper.ts.
#
# The container ends only when Mogi ends by itself (with Mogi's status) or on SIGTERM. When the
# lock is lost or given up, the wrapper waits for it again in the same container: a restart would
# add the kubelet's back-off (10 s doubling to 300 s) to every lost lock.
#
# Settings (environment, set by the Deployment):
#   CONSUL_HTTP_ADDR        required  Consul HTTP API, e.g. http://consul-server.consul.svc:8500
#   CONSUL_HTTP_TOKEN_FILE  required  file holding the ACL token (read by consul itself)
#   CONSUL_LOCK_PREFIX      required  KV prefix; consul lock holds <prefix>/.lock
#   POD_NAME                required  names the Consul session, to tell holders apart
#   CONSUL_CACERT           optional  CA file for https addresses (read by consul itself)
#   CONSUL_BIN_DIR          optional  directory put first on PATH (where the init container copied consul)
#   CONSUL_RETRY_SECONDS    optional  pause between checks while Consul is unreachable (default 3)
#   CONSUL_LOCK_STATE_DIR   optional  writable directory for the guard's state files (default $TMPDIR or /tmp)
#   CONSUL_LOCK_CHECK_SECONDS, CONSUL_LOCK_DEADLINE_SECONDS, MOGI_GRACE_SECONDS: read by the guard
set -eu

me=consul-lock-wrapper
# 78 = EX_CONFIG (sysexits.h): the container's configuration is wrong, retrying will not help.
fail() {
  printf '%s: %s\n' "$me" "$*" >&2
  exit 78
}

missing=
for name in CONSUL_HTTP_ADDR CONSUL_HTTP_TOKEN_FILE CONSUL_LOCK_PREFIX POD_NAME; do
  eval "value=\${$name:-}"
  # shellcheck disable=SC2154 # value is set by the eval above
  [ -n "$value" ] || missing="$missing $name"
done
[ -z "$missing" ] || fail "missing required setting(s):$missing"

# Checked here so that a bad mount fails at once with a clear message, not as a 403 from Consul.
if [ ! -f "$CONSUL_HTTP_TOKEN_FILE" ] || [ ! -r "$CONSUL_HTTP_TOKEN_FILE" ]; then
  fail "CONSUL_HTTP_TOKEN_FILE=$CONSUL_HTTP_TOKEN_FILE is not a readable file"
fi
[ -s "$CONSUL_HTTP_TOKEN_FILE" ] || fail "CONSUL_HTTP_TOKEN_FILE=$CONSUL_HTTP_TOKEN_FILE is empty"
if [ -n "${CONSUL_CACERT:-}" ] && { [ ! -f "$CONSUL_CACERT" ] || [ ! -r "$CONSUL_CACERT" ]; }; then
  fail "CONSUL_CACERT=$CONSUL_CACERT is not a readable file"
fi

case "$CONSUL_LOCK_PREFIX" in
  /* | */) fail "CONSUL_LOCK_PREFIX=$CONSUL_LOCK_PREFIX must not start or end with '/'" ;;
esac

[ "$#" -gt 0 ] || fail "no command given: pass the service's command as the container's args"

if [ -n "${CONSUL_BIN_DIR:-}" ]; then
  PATH="$CONSUL_BIN_DIR:$PATH"
  export PATH
fi
command -v consul >/dev/null 2>&1 || fail "consul was not found on PATH ($PATH)"

retry_seconds=${CONSUL_RETRY_SECONDS:-3}
case "$retry_seconds" in
  '' | *[!0-9.]* | *.*.* | . ) fail "CONSUL_RETRY_SECONDS=$retry_seconds must be a number of seconds" ;;
esac

guard=${0%/*}/consul-lock-guard.sh
[ -x "$guard" ] || fail "$guard is missing or not executable (it ships beside this script)"
CONSUL_LOCK_STATE_DIR=${CONSUL_LOCK_STATE_DIR:-${TMPDIR:-/tmp}}
verdict_file=$CONSUL_LOCK_STATE_DIR/consul-lock.verdict
{ printf '' >"$verdict_file"; } 2>/dev/null || fail "CONSUL_LOCK_STATE_DIR=$CONSUL_LOCK_STATE_DIR is not a writable directory"
CONSUL_LOCK_KEY=$CONSUL_LOCK_PREFIX/.lock
export CONSUL_LOCK_STATE_DIR CONSUL_LOCK_KEY

# Background jobs and `wait`, so that SIGTERM interrupts at once whatever the wrapper waits on.
probe=
pause=
lock_job=
stopping=
on_signal() {
  stopping=1
  # `consul lock` forwards SIGTERM to the guard, which stops Mogi; then the lock is released
  # without lock-delay, so the next holder starts at once (FACTS.md).
  # The probe and the pause hold nothing: SIGKILL, because a SIGTERM that reaches a background
  # child between its fork and its exec is lost (the shell's own handler is still installed there).
  for pid in $probe $pause; do kill -KILL "$pid" 2>/dev/null || :; done
  [ -z "$lock_job" ] || kill -TERM "$lock_job" 2>/dev/null || :
}
trap on_signal TERM INT

# A signal that came after a child was started but before its PID was known ended nothing:
# send it the signal on_signal would have sent ($1), now that the PID ($2) is known.
end_if_stopping() {
  [ -z "$stopping" ] || kill -"$1" "$2" 2>/dev/null || :
}

pause() {
  sleep "$retry_seconds" &
  pause=$!
  end_if_stopping KILL "$pause"
  wait "$pause" || :
  pause=
}

# Waits until Consul answers the call `consul lock` makes first (/v1/agent/self, with this token),
# using consul itself (the image may have no curl). `consul lock` exits at once when Consul is
# unreachable: waiting here lets Mogi start within one retry of Consul coming back.
wait_for_consul() {
  attempt=0
  while :; do
    attempt=$((attempt + 1))
    consul info >/dev/null 2>"$CONSUL_LOCK_STATE_DIR/consul-lock.probe" </dev/null &
    probe=$!
    end_if_stopping KILL "$probe"
    wait "$probe" && status=0 || status=$?
    probe=
    [ -z "$stopping" ] || return 1
    [ "$status" -ne 0 ] || return 0
    reason="no answer"
    while IFS= read -r line; do [ -z "$line" ] || reason=$line; done <"$CONSUL_LOCK_STATE_DIR/consul-lock.probe"
    printf '%s: Consul at %s is not usable yet (attempt %s): %s; retrying in %s s\n' "$me" "$CONSUL_HTTP_ADDR" "$attempt" "$reason" "$retry_seconds" >&2
    pause
    [ -z "$stopping" ] || return 1
  done
}

while :; do
  if ! wait_for_consul; then
    printf '%s: stopped while waiting for Consul; Mogi was not started\n' "$me" >&2
    exit 143
  fi
  : >"$verdict_file"
  printf '%s: waiting for the lock %s as session %s\n' "$me" "$CONSUL_LOCK_KEY" "$POD_NAME" >&2
  # -shell=false: the guard is run directly, not under `sh -c`, whose dash would not forward
  # signals (hashicorp/consul#2022). -child-exit-code: a failing child makes consul lock exit 2.
  # The prefix is the mandatory positional argument; "$@" passes the command without re-splitting.
  consul lock -shell=false -child-exit-code -name="$POD_NAME" "$CONSUL_LOCK_PREFIX" "$guard" "$@" </dev/null &
  lock_job=$!
  end_if_stopping TERM "$lock_job"
  # A trapped signal interrupts `wait`: wait again until consul lock has really ended.
  while :; do
    wait "$lock_job" && status=0 || status=$?
    kill -0 "$lock_job" 2>/dev/null || break
  done
  lock_job=
  verdict=
  IFS= read -r verdict <"$verdict_file" || :
  if [ -n "$stopping" ]; then
    printf '%s: stopped by SIGTERM; the lock is released\n' "$me" >&2
    exit "$status"
  fi
  case "$verdict" in
    "mogi "*)
      printf '%s: Mogi exited with status %s; the container ends with it\n' "$me" "${verdict#mogi }" >&2
      exit "${verdict#mogi }"
      ;;
    "lock "*)
      printf '%s: lock given up (%s); waiting for it again\n' "$me" "${verdict#lock }" >&2
      ;;
    *)
      # consul lock ended on its own: the lock was lost (its monitor saw it; the guard was
      # stopped by consul lock before it could write a verdict) or Consul failed while waiting.
      printf '%s: consul lock ended with status %s and Mogi did not end by itself; waiting for the lock again in %s s\n' "$me" "$status" "$retry_seconds" >&2
      pause
      ;;
  esac
done
