// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.
//
// pulumi-resource-random STAND-IN: our own small provider that the Pulumi CLI loads as
// `pulumi-resource-random` for the real-engine tests, because the Go module proxy refuses the
// real github.com/pulumi/pulumi-random/provider/v4 (see README.md). It implements only what
// Mogi declares: RandomUuid.
package main

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

// version is the release of the real provider this stands in for, with "+standin" build metadata
// so that nobody mistakes it for the real one. Build metadata, not a pre-release tag: semver
// ignores it in comparisons, so the engine does not warn that the plugin is older than the SDK's
// (a "-standin" pre-release sorts before the release and drew that warning on every run).
// The builder sets it from engine.json.
var version = "4.21.2+standin"

func main() {
	if err := serve(&randomProvider{}); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-random (stand-in): %v\n", err)
		os.Exit(1)
	}
}

// serve does what every provider plugin does: listen on 127.0.0.1, print the port on stdout,
// stop when the engine goes away (health check) or sends SIGINT.
func serve(p plugin.Provider) error {
	var engine string
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--version" || a == "-version" || a == "version":
			fmt.Printf("pulumi-resource-random %s (STAND-IN for pulumi-random, not the real provider)\n", version)
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
