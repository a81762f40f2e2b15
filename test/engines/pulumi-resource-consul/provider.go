// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/blang/semver"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// The tokens the @pulumi/consul SDK sends for what Mogi uses.
const (
	tokAclPolicy   = "consul:index/aclPolicy:AclPolicy"
	tokAclToken    = "consul:index/aclToken:AclToken"
	tokAclRole     = "consul:index/aclRole:AclRole"
	tokAclBinding  = "consul:index/aclBindingRule:AclBindingRule"
	tokKeys        = "consul:index/keys:Keys"
	tokGetSecretID = "consul:index/getAclTokenSecretId:getAclTokenSecretId"
)

// kind is one resource type: the same lifecycle the bridged provider gives a Terraform resource.
type kind interface {
	check(req plugin.CheckRequest) (resource.PropertyMap, []plugin.CheckFailure, error)
	diff(olds, news resource.PropertyMap) plugin.DiffResult
	create(ctx context.Context, c *connection, news resource.PropertyMap) (string, resource.PropertyMap, error)
	// preview returns the outputs a create (olds == nil) or update would have, with unknowns for
	// what only Consul can tell; it never calls Consul.
	preview(olds, news resource.PropertyMap) resource.PropertyMap
	// read returns "" as the ID when the object is gone.
	read(ctx context.Context, c *connection, id string, state, inputs resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error)
	update(ctx context.Context, c *connection, id string, olds, news resource.PropertyMap) (resource.PropertyMap, error)
	delete(ctx context.Context, c *connection, id string, olds resource.PropertyMap) error
}

var kinds = map[tokens.Type]kind{
	tokAclPolicy:  aclPolicy{},
	tokAclToken:   aclToken{},
	tokAclRole:    aclRole{},
	tokAclBinding: aclBindingRule{},
	tokKeys:       keys{},
}

func kindOf(t tokens.Type) (kind, error) {
	if k, ok := kinds[t]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("resource type %s is not implemented by the pulumi-resource-consul stand-in "+
		"(it implements only %s, %s, %s, %s and %s)", t, tokAclPolicy, tokAclToken, tokAclRole, tokAclBinding, tokKeys)
}

type consulProvider struct {
	plugin.UnimplementedProvider

	mu   sync.Mutex
	conn *connection // nil until configured with known values
}

// connection is a configured Consul client and the provider-level defaults.
type connection struct {
	client     *consulapi.Client
	datacenter string // the provider's datacenter setting ("" = the agent's)

	dcOnce  sync.Once
	agentDC string
}

func (p *consulProvider) connection() (*connection, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil, fmt.Errorf("the consul provider is not configured (its configuration has unknown values)")
	}
	return p.conn, nil
}

func (p *consulProvider) Close() error { return nil }

func (p *consulProvider) SignalCancellation(context.Context) error { return nil }

func (p *consulProvider) Handshake(context.Context, plugin.ProviderHandshakeRequest) (*plugin.ProviderHandshakeResponse, error) {
	return &plugin.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: false, AcceptOutputs: true}, nil
}

func (p *consulProvider) GetPluginInfo(context.Context) (plugin.PluginInfo, error) {
	v, err := semver.ParseTolerant(version)
	if err != nil {
		return plugin.PluginInfo{}, err
	}
	return plugin.PluginInfo{Version: &v}, nil
}

func (p *consulProvider) GetSchema(context.Context, plugin.GetSchemaRequest) (plugin.GetSchemaResponse, error) {
	return plugin.GetSchemaResponse{Schema: schemaJSON()}, nil
}

func (p *consulProvider) GetMapping(context.Context, plugin.GetMappingRequest) (plugin.GetMappingResponse, error) {
	return plugin.GetMappingResponse{}, nil
}

func (p *consulProvider) GetMappings(context.Context, plugin.GetMappingsRequest) (plugin.GetMappingsResponse, error) {
	return plugin.GetMappingsResponse{}, nil
}

// CheckConfig passes the configuration through; Configure reads it.
func (p *consulProvider) CheckConfig(_ context.Context, req plugin.CheckConfigRequest) (plugin.CheckConfigResponse, error) {
	var failures []plugin.CheckFailure
	for _, pair := range [][2]string{{"caFile", "caPem"}, {"certFile", "certPem"}, {"keyFile", "keyPem"}} {
		if has(req.News, pair[0]) && has(req.News, pair[1]) {
			failures = append(failures, plugin.CheckFailure{Property: resource.PropertyKey(pair[1]),
				Reason: fmt.Sprintf("%q conflicts with %q", pair[1], pair[0])})
		}
	}
	failures = append(failures, failIfSet(req.News, "authJwt", "authLoginAws", "namespace")...)
	return plugin.CheckConfigResponse{Properties: req.News, Failures: failures}, nil
}

// configKeys are the settings that change how the provider talks to Consul.
var configKeys = []string{"address", "scheme", "datacenter", "token", "caFile", "caPath", "caPem", "certFile",
	"certPem", "keyFile", "keyPem", "httpAuth", "insecureHttps", "headers", "namespace"}

// DiffConfig: a configuration change is an update of the provider, never a replacement of it
// (nor of the resources it manages).
func (p *consulProvider) DiffConfig(_ context.Context, req plugin.DiffConfigRequest) (plugin.DiffConfigResponse, error) {
	fields := make([]field, len(configKeys))
	for i, k := range configKeys {
		fields[i] = field{key: k}
	}
	return diffResult(diffFields(req.OldInputs, req.NewInputs, fields), false), nil
}

func (p *consulProvider) Configure(_ context.Context, req plugin.ConfigureRequest) (plugin.ConfigureResponse, error) {
	for _, k := range configKeys {
		if unknownAt(req.Inputs, k) {
			// Preview with a configuration that depends on unknown values: nothing can be read.
			return plugin.ConfigureResponse{}, nil
		}
	}
	conn, err := newConnection(req.Inputs)
	if err != nil {
		return plugin.ConfigureResponse{}, err
	}
	p.mu.Lock()
	p.conn = conn
	p.mu.Unlock()
	return plugin.ConfigureResponse{}, nil
}

// setting is the provider setting key, else the first non-empty environment variable, as
// terraform-provider-consul's schema defaults do.
func setting(m resource.PropertyMap, key string, env ...string) string {
	if v := str(m, key); v != "" {
		return v
	}
	for _, e := range env {
		if v := os.Getenv(e); v != "" {
			return v
		}
	}
	return ""
}

// newConnection builds the client the way terraform-provider-consul's Config.Client does: the
// Consul API's defaults (which read CONSUL_HTTP_* variables), then each setting or its variable.
func newConnection(m resource.PropertyMap) (*connection, error) {
	cfg := consulapi.DefaultConfig()
	cfg.Address = setting(m, "address", "CONSUL_ADDRESS", "CONSUL_HTTP_ADDR")
	if cfg.Address == "" {
		cfg.Address = "localhost:8500"
	}
	if s := setting(m, "scheme", "CONSUL_SCHEME", "CONSUL_HTTP_SCHEME"); s != "" {
		cfg.Scheme = s
	}
	dc := str(m, "datacenter")
	if dc != "" {
		cfg.Datacenter = dc
	}
	if v := setting(m, "caFile", "CONSUL_CA_FILE"); v != "" {
		cfg.TLSConfig.CAFile = v
	}
	if v := str(m, "caPem"); v != "" {
		cfg.TLSConfig.CAPem = []byte(v)
	}
	if v := setting(m, "certFile", "CONSUL_CERT_FILE"); v != "" {
		cfg.TLSConfig.CertFile = v
	}
	if v := str(m, "certPem"); v != "" {
		cfg.TLSConfig.CertPEM = []byte(v)
	}
	if v := setting(m, "keyFile", "CONSUL_KEY_FILE"); v != "" {
		cfg.TLSConfig.KeyFile = v
	}
	if v := str(m, "keyPem"); v != "" {
		cfg.TLSConfig.KeyPEM = []byte(v)
	}
	if v := setting(m, "caPath", "CONSUL_CAPATH"); v != "" {
		cfg.TLSConfig.CAPath = v
	}
	if boolean(m, "insecureHttps") {
		if cfg.Scheme != "https" {
			return nil, fmt.Errorf("insecureHttps is meant to be used when scheme is https")
		}
		cfg.TLSConfig.InsecureSkipVerify = true
	}
	if v := setting(m, "httpAuth", "CONSUL_HTTP_AUTH"); v != "" {
		user, pass, _ := strings.Cut(v, ":")
		cfg.HttpAuth = &consulapi.HttpBasicAuth{Username: user, Password: pass}
	}
	if v := setting(m, "token", "CONSUL_TOKEN", "CONSUL_HTTP_TOKEN"); v != "" {
		cfg.Token = v
	}
	// NewClient builds the HTTP client with cfg.TLSConfig (CA, client certificate, verification).
	client, err := consulapi.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to create the Consul client: %w", err)
	}
	if h := headers(m); len(h) > 0 {
		all := client.Headers().Clone()
		if all == nil {
			all = http.Header{}
		}
		for _, kv := range h {
			all.Add(kv[0], kv[1])
		}
		client.SetHeaders(all)
	}
	return &connection{client: client, datacenter: dc}, nil
}

// headers reads the provider's `headers` ([{name, value}], sent by the SDK as JSON text).
func headers(m resource.PropertyMap) [][2]string {
	v := get(m, "headers")
	var list []map[string]string
	if v.IsString() {
		_ = json.Unmarshal([]byte(v.StringValue()), &list)
	} else if v.IsArray() {
		for _, e := range v.ArrayValue() {
			if e.IsObject() {
				list = append(list, map[string]string{"name": str(e.ObjectValue(), "name"), "value": str(e.ObjectValue(), "value")})
			}
		}
	}
	out := make([][2]string, 0, len(list))
	for _, h := range list {
		out = append(out, [2]string{h["name"], h["value"]})
	}
	return out
}

// dc is the datacenter a request goes to: the resource's, else the provider's, else the agent's
// (as terraform-provider-consul's getOptions; an error reading the agent leaves it empty).
func (c *connection) dc(resourceDC string) string {
	if resourceDC != "" {
		return resourceDC
	}
	if c.datacenter != "" {
		return c.datacenter
	}
	c.dcOnce.Do(func() {
		if self, err := c.client.Agent().Self(); err == nil {
			if dc, ok := self["Config"]["Datacenter"].(string); ok {
				c.agentDC = dc
			}
		}
	})
	return c.agentDC
}

func (c *connection) writeOpts(ctx context.Context, dc, token string) *consulapi.WriteOptions {
	return (&consulapi.WriteOptions{Datacenter: c.dc(dc), Token: token}).WithContext(ctx)
}

func (c *connection) queryOpts(ctx context.Context, dc, token string) *consulapi.QueryOptions {
	return (&consulapi.QueryOptions{Datacenter: c.dc(dc), Token: token}).WithContext(ctx)
}

// notFound: Consul answers "ACL not found" (403) for an ACL object that does not exist, 404 elsewhere.
func notFound(err error) bool {
	if err == nil {
		return false
	}
	if se, ok := err.(consulapi.StatusError); ok && se.Code == http.StatusNotFound {
		return true
	}
	return strings.Contains(err.Error(), "ACL not found")
}

func (p *consulProvider) Check(_ context.Context, req plugin.CheckRequest) (plugin.CheckResponse, error) {
	k, err := kindOf(req.Type)
	if err != nil {
		return plugin.CheckResponse{}, err
	}
	props, failures, err := k.check(req)
	return plugin.CheckResponse{Properties: props, Failures: failures}, err
}

func (p *consulProvider) Diff(_ context.Context, req plugin.DiffRequest) (plugin.DiffResponse, error) {
	k, err := kindOf(req.Type)
	if err != nil {
		return plugin.DiffResponse{}, err
	}
	return k.diff(req.OldOutputs, req.NewInputs), nil
}

func (p *consulProvider) Create(ctx context.Context, req plugin.CreateRequest) (plugin.CreateResponse, error) {
	k, err := kindOf(req.Type)
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	if req.Preview {
		return plugin.CreateResponse{Properties: k.preview(nil, req.Properties)}, nil
	}
	c, err := p.connection()
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	id, outs, err := k.create(ctx, c, req.Properties)
	if err != nil {
		return plugin.CreateResponse{}, err
	}
	return plugin.CreateResponse{ID: resource.ID(id), Properties: outs, Status: resource.StatusOK}, nil
}

func (p *consulProvider) Read(ctx context.Context, req plugin.ReadRequest) (plugin.ReadResponse, error) {
	k, err := kindOf(req.Type)
	if err != nil {
		return plugin.ReadResponse{}, err
	}
	c, err := p.connection()
	if err != nil {
		return plugin.ReadResponse{}, err
	}
	id, outs, ins, err := k.read(ctx, c, string(req.ID), req.State, req.Inputs)
	if err != nil {
		return plugin.ReadResponse{}, err
	}
	if id == "" {
		return plugin.ReadResponse{Status: resource.StatusOK}, nil // gone: the engine drops it
	}
	return plugin.ReadResponse{ReadResult: plugin.ReadResult{ID: resource.ID(id), Outputs: outs, Inputs: ins}, Status: resource.StatusOK}, nil
}

func (p *consulProvider) Update(ctx context.Context, req plugin.UpdateRequest) (plugin.UpdateResponse, error) {
	k, err := kindOf(req.Type)
	if err != nil {
		return plugin.UpdateResponse{}, err
	}
	if req.Preview {
		return plugin.UpdateResponse{Properties: k.preview(req.OldOutputs, req.NewInputs)}, nil
	}
	c, err := p.connection()
	if err != nil {
		return plugin.UpdateResponse{}, err
	}
	outs, err := k.update(ctx, c, string(req.ID), req.OldOutputs, req.NewInputs)
	if err != nil {
		return plugin.UpdateResponse{}, err
	}
	return plugin.UpdateResponse{Properties: outs, Status: resource.StatusOK}, nil
}

func (p *consulProvider) Delete(ctx context.Context, req plugin.DeleteRequest) (plugin.DeleteResponse, error) {
	k, err := kindOf(req.Type)
	if err != nil {
		return plugin.DeleteResponse{}, err
	}
	c, err := p.connection()
	if err != nil {
		return plugin.DeleteResponse{}, err
	}
	olds := req.Outputs
	if len(olds) == 0 {
		olds = req.Inputs
	}
	return plugin.DeleteResponse{Status: resource.StatusOK}, k.delete(ctx, c, string(req.ID), olds)
}

func (p *consulProvider) Invoke(ctx context.Context, req plugin.InvokeRequest) (plugin.InvokeResponse, error) {
	if req.Tok != tokGetSecretID {
		return plugin.InvokeResponse{}, fmt.Errorf("function %s is not implemented by the pulumi-resource-consul stand-in "+
			"(it implements only %s)", req.Tok, tokGetSecretID)
	}
	if !has(req.Args, "accessorId") {
		return plugin.InvokeResponse{Failures: []plugin.CheckFailure{{Property: "accessorId", Reason: "Missing required argument 'accessorId'"}}}, nil
	}
	failures := failIfSet(req.Args, "namespace", "partition")
	if str(req.Args, "pgpKey") != "" {
		failures = append(failures, plugin.CheckFailure{Property: "pgpKey",
			Reason: "pgpKey (encrypting the secret ID) is not implemented by this stand-in provider"})
	}
	if len(failures) > 0 {
		return plugin.InvokeResponse{Failures: failures}, nil
	}
	c, err := p.connection()
	if err != nil {
		return plugin.InvokeResponse{}, err
	}
	accessor := str(req.Args, "accessorId")
	token, _, err := c.client.ACL().TokenRead(accessor, c.queryOpts(ctx, "", ""))
	if err != nil {
		return plugin.InvokeResponse{}, err
	}
	return plugin.InvokeResponse{Properties: resource.PropertyMap{
		"accessorId":        resource.NewStringProperty(accessor),
		"id":                resource.NewStringProperty(accessor),
		"pgpKey":            resource.NewStringProperty(""),
		"secretId":          resource.MakeSecret(resource.NewStringProperty(token.SecretID)),
		"encryptedSecretId": resource.MakeSecret(resource.NewStringProperty("")),
	}}, nil
}
