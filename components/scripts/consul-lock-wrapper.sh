#!/bin/sh
# Runs the container's command (this script's arguments) under `consul lock`, so that only the
# holder of the Consul lock runs it. Shipped verbatim in a ConfigMap; see components/lockWrapper.ts.
#
# Settings (environment, set by the Deployment):
#   CONSUL_HTTP_ADDR        required  Consul HTTP API, e.g. http://consul-server.consul.svc:8500
#   CONSUL_HTTP_TOKEN_FILE  required  file holding the ACL token (read by consul itself)
#   CONSUL_LOCK_PREFIX      required  KV prefix; consul lock holds <prefix>/.lock
#   POD_NAME                required  names the Consul session, to tell holders apart
#   CONSUL_CACERT           optional  CA file for https addresses (read by consul itself)
#   CONSUL_BIN_DIR          optional  directory put first on PATH (where the init container copied consul)
#   CONSUL_RETRY_SECONDS    optional  pause between checks while Consul is unreachable (default 3)
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

# Wait here, with consul itself (the image may have no curl), until Consul answers the call
# `consul lock` makes first (/v1/agent/self, with this token). `consul lock` exits at once when
# Consul is unreachable, and every container exit is a restart with the kubelet's back-off
# (10 s doubling to 300 s): waiting in the running container instead lets Mogi start within
# one retry of Consul coming back (FACTS.md, "Real clusters").
# The probe and the pause run in the background so that SIGTERM interrupts `wait` at once;
# Mogi has not been started, so there is nothing to hand over: stop now.
probe=
pause=
probe_log=$(mktemp 2>/dev/null) || probe_log=/dev/null
stop_waiting() {
  for pid in $probe $pause; do kill "$pid" 2>/dev/null || :; done
  [ "$probe_log" = /dev/null ] || rm -f "$probe_log"
  printf '%s: stopped while waiting for Consul; Mogi was not started\n' "$me" >&2
  exit 143
}
trap stop_waiting TERM INT
attempt=0
while :; do
  attempt=$((attempt + 1))
  consul info >/dev/null 2>"$probe_log" &
  probe=$!
  if wait "$probe"; then break; fi
  probe=
  reason="no answer"
  while IFS= read -r line; do [ -z "$line" ] || reason=$line; done <"$probe_log"
  printf '%s: Consul at %s is not usable yet (attempt %s): %s; retrying in %s s\n' "$me" "$CONSUL_HTTP_ADDR" "$attempt" "$reason" "$retry_seconds" >&2
  sleep "$retry_seconds" &
  pause=$!
  wait "$pause" || :
  pause=
done
[ "$probe_log" = /dev/null ] || rm -f "$probe_log"

printf '%s: waiting for the lock %s/.lock as session %s\n' "$me" "$CONSUL_LOCK_PREFIX" "$POD_NAME" >&2

# exec: consul lock becomes PID 1 (and the trap above ends: exec resets caught signals) and gets the kubelet's SIGTERM itself; it forwards it to the
# child, waits 5 s, kills it, then releases the lock (FACTS.md).
# -shell=false: the child is run directly, not under `sh -c`, whose dash would not forward
# signals and could outlive the lock (hashicorp/consul#2022).
# -child-exit-code: a failing child makes consul lock exit 2, so the pod restarts and says so.
# The prefix is the mandatory positional argument; "$@" passes the command without re-splitting.
exec consul lock -shell=false -child-exit-code -name="$POD_NAME" "$CONSUL_LOCK_PREFIX" "$@"
