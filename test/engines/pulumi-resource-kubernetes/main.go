// Our own entry point for pulumi-resource-kubernetes: the upstream cmd embeds
// schema-embed.json, which is generated at release and absent from the module
// zip. The builder copies schema.json (version set) and terraform-mapping.json
// from the module cache into ./embed/; this calls the same Serve as upstream.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed embed/schema.json
var schema []byte

//go:embed embed/terraform-mapping.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}
