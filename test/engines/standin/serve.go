// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

// Package standin is what the stand-in providers (../pulumi-resource-consul, ../pulumi-resource-random)
// share: serving as a Pulumi provider plugin, and property helpers. Our own code; see their READMEs.
package standin

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// Serve does what every provider plugin does: listen on 127.0.0.1, print the port on stdout,
// stop when the engine goes away (health check) or sends SIGINT. `binary` and `real` name the
// plugin and the real provider it stands in for, in `--version`.
func Serve(binary, real, version string, p plugin.Provider) error {
	var engine string
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--version" || a == "-version" || a == "version":
			fmt.Printf("%s %s (STAND-IN for %s, not the real provider)\n", binary, version, real)
			return nil
		case a == "--tracing" || a == "-tracing":
			i++ // the endpoint; tracing is not supported
		case strings.HasPrefix(a, "-"):
			// --logtostderr, -v=N, --logflow, --tracing=...: accepted and ignored
		default:
			engine = a
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if engine != "" {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		if err := rpcutil.Healthcheck(ctx, engine, 5*time.Minute, cancel); err != nil {
			return fmt.Errorf("could not start the health check of the engine at %s: %w", engine, err)
		}
	}
	cancelled := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancelled)
	}()

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelled,
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(s, plugin.NewProviderServer(p))
			return nil
		},
	})
	if err != nil {
		return err
	}
	fmt.Printf("%d\n", handle.Port)
	return <-handle.Done
}
