// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"mogi.local/engines/standin"
	"regexp"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// The token the @pulumi/random SDK sends for what Mogi uses.
const tokRandomUuid tokens.Type = "random:index/randomUuid:RandomUuid"

// randomProvider implements random:index/randomUuid:RandomUuid only: {keepers?} -> {keepers, result},
// id = result; a change of keepers replaces it (a new UUID); nothing outside Pulumi's state.
type randomProvider struct {
	plugin.UnimplementedProvider
}

func only(t tokens.Type) error {
	if t == tokRandomUuid {
		return nil
	}
	return fmt.Errorf("resource type %s is not implemented by the pulumi-resource-random stand-in (it implements only %s)", t, tokRandomUuid)
}

func (p *randomProvider) Close() error                             { return nil }
func (p *randomProvider) SignalCancellation(context.Context) error { return nil }

func (p *randomProvider) Handshake(context.Context, plugin.ProviderHandshakeRequest) (*plugin.ProviderHandshakeResponse, error) {
	return &plugin.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: false, AcceptOutputs: true}, nil
}

func (p *randomProvider) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	v, err := semver.ParseTolerant(version)
	if err != nil {
		return plugin.PluginInfo{}, err
	}
	return plugin.PluginInfo{Version: &v}, nil
}

func (p *randomProvider) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	uuid := `{"description":"A random UUID (v4).","inputProperties":{"keepers":{"type":"object","additionalProperties":{"$ref":"pulumi.json#/Any"},` +
		`"description":"Arbitrary values that, when changed, trigger a new UUID."}},"properties":{"keepers":{"type":"object",` +
		`"additionalProperties":{"$ref":"pulumi.json#/Any"}},"result":{"type":"string","description":"The generated UUID."}},"required":["result"]}`
	return plugin.GetSchemaResponse{Schema: []byte(`{"name":"random","displayName":"Random (stand-in)","version":"` + version +
		`","license":"Apache-2.0","meta":{"moduleFormat":"(.*)(?:/[^/]*)"},"description":"STAND-IN for the Pulumi Random provider, for tests: implements RandomUuid only.",` +
		`"resources":{"` + string(tokRandomUuid) + `":` + uuid + `}}`)}, nil
}

func (p *randomProvider) GetMapping(context.Context, plugin.GetMappingRequest) (plugin.GetMappingResponse, error) {
	return plugin.GetMappingResponse{}, nil
}

func (p *randomProvider) GetMappings(context.Context, plugin.GetMappingsRequest) (plugin.GetMappingsResponse, error) {
	return plugin.GetMappingsResponse{}, nil
}

// The provider has no configuration.
func (p *randomProvider) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	return plugin.CheckConfigResponse{Properties: req.News}, nil
}

func (p *randomProvider) DiffConfig(context.Context, plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	return plugin.DiffResult{Changes: plugin.DiffNone}, nil
}

func (p *randomProvider) Configure(context.Context, plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	return plugin.ConfigureResponse{}, nil
}

func (p *randomProvider) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	if err := only(req.Type); err != nil {
		return plugin.CheckResponse{}, err
	}
	news := resource.PropertyMap{}
	if v, ok := req.News["keepers"]; ok && !v.IsNull() {
		news["keepers"] = v
	}
	return plugin.CheckResponse{Properties: news}, nil
}

func keepers(m resource.PropertyMap) resource.PropertyValue {
	v, ok := m["keepers"]
	if !ok {
		return resource.NewObjectProperty(resource.PropertyMap{})
	}
	if v = standin.Plain(v); v.IsNull() {
		return resource.NewObjectProperty(resource.PropertyMap{})
	}
	return v
}

// Diff: any change of keepers (or an unknown one) replaces the UUID; nothing else can change.
func (p *randomProvider) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	if err := only(req.Type); err != nil {
		return plugin.DiffResult{}, err
	}
	o, n := keepers(req.OldOutputs), keepers(req.NewInputs)
	if !n.ContainsUnknowns() && o.DeepEquals(n) {
		return plugin.DiffResult{Changes: plugin.DiffNone}, nil
	}
	kind := plugin.DiffUpdateReplace
	if len(o.ObjectValue()) == 0 {
		kind = plugin.DiffAddReplace
	} else if !n.ContainsUnknowns() && len(n.ObjectValue()) == 0 {
		kind = plugin.DiffDeleteReplace
	}
	return plugin.DiffResult{
		Changes:      plugin.DiffSome,
		ReplaceKeys:  []resource.PropertyKey{"keepers"},
		ChangedKeys:  []resource.PropertyKey{"keepers"},
		DetailedDiff: map[string]plugin.PropertyDiff{"keepers": {Kind: kind}},
	}, nil
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

func (p *randomProvider) Create(_ context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	if err := only(req.Type); err != nil {
		return plugin.CreateResponse{}, err
	}
	outs := req.Properties.Copy()
	if req.Preview {
		outs["result"] = resource.MakeComputed(resource.NewStringProperty(""))
		return plugin.CreateResponse{Properties: outs}, nil
	}
	id, err := newUUID()
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	outs["result"] = resource.NewStringProperty(id)
	return plugin.CreateResponse{ID: resource.ID(id), Properties: outs, Status: resource.StatusOK}, nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Read returns the state as it is (nothing lives outside Pulumi); on import the ID is the UUID.
func (p *randomProvider) Read(_ context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	if err := only(req.Type); err != nil {
		return plugin.ReadResponse{}, err
	}
	outs := req.State.Copy()
	if _, ok := outs["result"]; !ok {
		if !uuidPattern.MatchString(string(req.ID)) {
			return plugin.ReadResponse{}, fmt.Errorf("cannot import %q: not a UUID", req.ID)
		}
		outs["result"] = resource.NewStringProperty(string(req.ID))
	}
	ins := resource.PropertyMap{}
	if v, ok := outs["keepers"]; ok && !v.IsNull() {
		ins["keepers"] = v
	}
	return plugin.ReadResponse{ReadResult: plugin.ReadResult{ID: req.ID, Outputs: outs, Inputs: ins}, Status: resource.StatusOK}, nil
}

// Update is only reached for changes that are not replacements, i.e. none that matter: keep the UUID.
func (p *randomProvider) Update(_ context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	if err := only(req.Type); err != nil {
		return plugin.UpdateResponse{}, err
	}
	outs := req.NewInputs.Copy()
	outs["result"] = req.OldOutputs["result"]
	return plugin.UpdateResponse{Properties: outs, Status: resource.StatusOK}, nil
}

func (p *randomProvider) Delete(_ context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	return plugin.DeleteResponse{Status: resource.StatusOK}, only(req.Type)
}
