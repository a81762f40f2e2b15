// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

package main

import "encoding/json"

// schemaJSON is a minimal Pulumi package schema of what this stand-in implements (the real
// provider's schema is generated from Terraform's and embedded at its release).
func schemaJSON() []byte {
	s := func(desc string) map[string]any { return map[string]any{"type": "string", "description": desc} }
	secret := func(desc string) map[string]any {
		return map[string]any{"type": "string", "description": desc, "secret": true}
	}
	strs := func(desc string) map[string]any {
		return map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": desc}
	}
	b := func(desc string) map[string]any { return map[string]any{"type": "boolean", "description": desc} }
	ref := func(r, desc string) map[string]any {
		return map[string]any{"type": "array", "items": map[string]any{"$ref": r}, "description": desc}
	}

	policy := map[string]any{
		"name":        s("The name of the policy (autonamed when left out)."),
		"description": s("The description of the policy."),
		"rules":       s("The rules of the policy."),
		"datacenters": strs("The datacenters of the policy."),
	}
	token := map[string]any{
		"accessorId":     s("The uuid of the token. If omitted, Consul will generate a random uuid."),
		"description":    s("The description of the token."),
		"policies":       strs("The names of the policies attached to the token."),
		"roles":          strs("The names of the roles attached to the token."),
		"local":          b("The flag to set the token local to the current datacenter."),
		"expirationTime": s("RFC 3339 time after which the token is revoked."),
	}
	role := map[string]any{
		"name":        s("The name of the role (autonamed when left out)."),
		"description": s("The description of the role."),
		"policies":    strs("The policies of the role, by ID or by name (read back the way they were given)."),
	}
	bindingRule := map[string]any{
		"authMethod":  s("The name of the ACL auth method the rule applies to."),
		"bindType":    s("How the rule binds a token created at login: service, node or role (Consul 1.14)."),
		"bindName":    s("The name to bind to a token at login."),
		"selector":    s("The expression matching the identities the rule applies to."),
		"description": s("The description of the binding rule."),
	}
	keysIn := map[string]any{
		"datacenter": s("The datacenter to use (default: the provider's, else the agent's)."),
		"token":      secret("Deprecated upstream: the ACL token to use for these keys."),
		"keys":       ref("#/types/consul:index/KeysKey:KeysKey", "The keys to write."),
	}
	keysOut := map[string]any{"var": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}}
	for k, v := range keysIn {
		keysOut[k] = v
	}
	config := map[string]any{
		"address":       s("The HTTP(S) API address of the agent to use (default localhost:8500; CONSUL_ADDRESS, CONSUL_HTTP_ADDR)."),
		"scheme":        s("The URL scheme of the agent to use (http or https; CONSUL_SCHEME, CONSUL_HTTP_SCHEME)."),
		"datacenter":    s("The datacenter to use. Defaults to that of the agent."),
		"token":         secret("The ACL token (CONSUL_TOKEN, CONSUL_HTTP_TOKEN)."),
		"caFile":        s("A path to a PEM CA file (CONSUL_CA_FILE)."),
		"caPath":        s("A directory of PEM CA files (CONSUL_CAPATH)."),
		"caPem":         s("PEM-encoded CA certificate."),
		"certFile":      s("A path to a PEM client certificate (CONSUL_CERT_FILE)."),
		"certPem":       s("PEM-encoded client certificate."),
		"keyFile":       s("A path to a PEM client key (CONSUL_KEY_FILE)."),
		"keyPem":        s("PEM-encoded client key."),
		"httpAuth":      s("HTTP basic authentication, user or user:pass (CONSUL_HTTP_AUTH)."),
		"insecureHttps": b("Disable TLS verification (scheme https only)."),
		"headers":       ref("#/types/consul:index/ProviderHeader:ProviderHeader", "Additional HTTP headers."),
	}
	doc := map[string]any{
		"name":        "consul",
		"displayName": "Consul (stand-in)",
		"version":     version,
		"description": "STAND-IN for the Pulumi Consul provider, for tests: implements AclPolicy, AclToken, AclRole, AclBindingRule, Keys and getAclTokenSecretId only.",
		"license":     "Apache-2.0",
		"meta":        map[string]any{"moduleFormat": "(.*)(?:/[^/]*)"}, // as the real schema: "index/aclPolicy" is module "index"
		"config":      map[string]any{"variables": config},
		"provider":    map[string]any{"inputProperties": config},
		"types": map[string]any{
			"consul:index/KeysKey:KeysKey": map[string]any{"type": "object", "required": []string{"path"}, "properties": map[string]any{
				"path": s("The path in Consul to write to."), "value": s("The value to write."),
				"flags":   map[string]any{"type": "integer", "description": "Flags attached to the key (default 0)."},
				"delete":  b("Delete the key from Consul when it leaves the resource or the resource is destroyed (default false)."),
				"default": s("Value reported when the key is empty or missing."), "name": s("Deprecated upstream; not implemented."),
			}},
			"consul:index/ProviderHeader:ProviderHeader": map[string]any{"type": "object", "required": []string{"name", "value"},
				"properties": map[string]any{"name": s("Header name."), "value": s("Header value.")}},
		},
		"resources": map[string]any{
			tokAclPolicy: map[string]any{"description": "An ACL policy.", "inputProperties": policy, "properties": policy,
				"requiredInputs": []string{"rules"}, "required": []string{"name", "rules"}},
			tokAclToken: map[string]any{"description": "An ACL token (its secret ID is not an output).", "inputProperties": token,
				"properties": token, "required": []string{"accessorId"}},
			tokAclRole: map[string]any{"description": "An ACL role.", "inputProperties": role, "properties": role,
				"required": []string{"name"}},
			tokAclBinding: map[string]any{"description": "An ACL binding rule.", "inputProperties": bindingRule,
				"properties": bindingRule, "requiredInputs": []string{"authMethod", "bindType", "bindName"},
				"required": []string{"authMethod", "bindType", "bindName"}},
			tokKeys: map[string]any{"description": "Individual Consul KV keys.", "inputProperties": keysIn, "properties": keysOut,
				"required": []string{"datacenter", "var"}},
		},
		"functions": map[string]any{
			tokGetSecretID: map[string]any{
				"description": "The secret ID of an ACL token, by accessor ID.",
				"inputs": map[string]any{"type": "object", "required": []string{"accessorId"}, "properties": map[string]any{
					"accessorId": s("The accessor ID of the token."), "pgpKey": s("Not implemented by the stand-in."),
				}},
				"outputs": map[string]any{"type": "object", "required": []string{"accessorId", "encryptedSecretId", "id", "secretId"},
					"properties": map[string]any{
						"accessorId": s(""), "id": s(""), "pgpKey": s(""),
						"secretId": secret("The secret ID of the token."), "encryptedSecretId": secret("Always empty here."),
					}},
			},
		},
	}
	out, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return out
}
