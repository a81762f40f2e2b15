// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.
//
// pulumi-resource-consul STAND-IN: our own small provider that the Pulumi CLI loads as
// `pulumi-resource-consul` for the real-engine tests, because the Go module proxy refuses the
// real github.com/pulumi/pulumi-consul/provider/v3 (see README.md). It implements only what
// Mogi declares: AclPolicy, AclToken, AclRole, AclBindingRule, Keys and getAclTokenSecretId,
// against a real Consul.
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
var version = "3.15.1+standin"

func main() {
	if err := standin.Serve("pulumi-resource-consul", "pulumi-consul", version, &consulProvider{}); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-consul (stand-in): %v\n", err)
		os.Exit(1)
	}
}
