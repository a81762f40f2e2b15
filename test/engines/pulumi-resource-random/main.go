// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.
//
// pulumi-resource-random STAND-IN: our own small provider that the Pulumi CLI loads as
// `pulumi-resource-random` for the real-engine tests, because the Go module proxy refuses the
// real github.com/pulumi/pulumi-random/provider/v4 (see README.md). It implements only what
// Mogi declares: RandomUuid.
package main

import (
	"fmt"
	"os"

	"mogi.local/engines/standin"
)

// version is the release of the real provider this stands in for, with "+standin" build metadata
// so that nobody mistakes it for the real one. Build metadata, not a pre-release tag: semver
// ignores it in comparisons, so the engine does not warn that the plugin is older than the SDK's
// (a "-standin" pre-release sorts before the release and drew that warning on every run).
// The builder sets it from engine.json.
var version = "4.21.2+standin"

func main() {
	if err := standin.Serve("pulumi-resource-random", "pulumi-random", version, &randomProvider{}); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-random (stand-in): %v\n", err)
		os.Exit(1)
	}
}
