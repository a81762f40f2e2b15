// The test Mogi of the real-node tier: what test/e2e/fixtures/test-mogi.js does for the pods the
// harness runs itself, as a static binary for an image that has only busybox. It records when it
// runs (one "mogi-event {json}" line per event on stdout, which the container runtime stamps and
// the harness reads from the pod's log), checks the fencing token it was given, starts a child
// of its own (which must end with it), serves the health path on its port, and stops on SIGTERM.
// On SIGUSR2 it starts children until a fork fails (the pod's pids limit reached).
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var pod = envOr("POD_NAME", "unknown")

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func record(event string, extra map[string]any) {
	line := map[string]any{"event": event, "pod": pod, "pid": os.Getpid(), "t": time.Now().UnixMilli()}
	for k, v := range extra {
		line[k] = v
	}
	b, _ := json.Marshal(line)
	fmt.Printf("mogi-event %s\n", b)
}

// fencingToken checks MOGI_FENCING_TOKEN against MOGI_FENCING_TOKEN_FILE, as Mogi would read them.
func fencingToken() {
	token := os.Getenv("MOGI_FENCING_TOKEN")
	n, err := strconv.ParseUint(token, 10, 64)
	if err != nil {
		record("token-error", map[string]any{"error": "MOGI_FENCING_TOKEN=" + token})
		return
	}
	if file := os.Getenv("MOGI_FENCING_TOKEN_FILE"); file != "" {
		if b, err := os.ReadFile(file); err != nil || strings.TrimSpace(string(b)) != token {
			record("token-error", map[string]any{"error": file + " does not hold " + token})
			return
		}
	}
	record("token", map[string]any{"consul": os.Getenv("CONSUL_HTTP_ADDR"), "fencingToken": n})
}

func main() {
	record("start", map[string]any{"ppid": os.Getppid(), "lockHeld": os.Getenv("CONSUL_LOCK_HELD") == "true", "uid": os.Getuid()})
	fencingToken()
	child := exec.Command("sleep", "100000")
	if err := child.Start(); err != nil {
		record("child-error", map[string]any{"error": err.Error()})
	} else {
		record("child", map[string]any{"childPid": child.Process.Pid})
	}
	listen := envOr("MOGI_TEST_LISTEN", ":8080")
	health := envOr("MOGI_HEALTH_PATH", "/health")
	go func() {
		err := http.ListenAndServe(listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != health {
				w.WriteHeader(http.StatusNotFound)
			}
			fmt.Fprintln(w, pod)
		}))
		record("listen-error", map[string]any{"error": err.Error()})
	}()
	// SIGUSR2: use up the pod's pids limit (a runaway service), children until a fork fails.
	exhaust := make(chan os.Signal, 1)
	signal.Notify(exhaust, syscall.SIGUSR2)
	go func() {
		<-exhaust
		for started := 0; ; started++ {
			if err := exec.Command("sleep", "100000").Start(); err != nil {
				record("forks-failed", map[string]any{"started": started, "error": err.Error()})
				return
			}
		}
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	sig := <-signals
	record("stop", map[string]any{"signal": sig.String()})
	os.Exit(0)
}
