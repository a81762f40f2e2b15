// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

package main

import (
	"context"
	"fmt"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

// aclPolicy is consul:index/aclPolicy:AclPolicy (Terraform consul_acl_policy): id = the policy ID.
type aclPolicy struct{}

var aclPolicyFields = []field{
	{key: "name"},
	{key: "description"},
	{key: "rules"},
	{key: "datacenters", set: true},
	{key: "namespace", forceNew: true},
	{key: "partition", forceNew: true},
}

func (aclPolicy) check(req plugin.CheckRequest) (resource.PropertyMap, []plugin.CheckFailure, error) {
	news := req.News.Copy()
	coerce(news, map[string]string{"name": "string", "description": "string", "rules": "string", "datacenters": "[]string"})
	failures := failIfSet(news, "namespace", "partition")
	if !has(news, "rules") {
		failures = append(failures, plugin.CheckFailure{Property: "rules", Reason: "Missing required property 'rules'"})
	}
	if err := autoname(req, news); err != nil {
		return nil, nil, err
	}
	return news, failures, nil
}

// autoname fills a missing `name` as the bridge does: keep the old name, else
// "<resource name>-<7 hex>" (AclPolicy and AclRole, whose Terraform `name` is required).
func autoname(req plugin.CheckRequest, news resource.PropertyMap) error {
	if has(news, "name") {
		return nil
	}
	if has(req.Olds, "name") {
		news["name"] = req.Olds["name"]
		return nil
	}
	name, err := resource.NewUniqueName(req.RandomSeed, req.Name+"-", 7, 0, nil)
	if err != nil {
		return err
	}
	news["name"] = resource.NewStringProperty(name)
	return nil
}

func (aclPolicy) diff(olds, news resource.PropertyMap) plugin.DiffResult {
	d := diffFields(olds, news, aclPolicyFields)
	// Policy names are unique: a replacement keeping the name must delete the old policy first.
	_, renamed := d["name"]
	return diffResult(d, !renamed)
}

func (aclPolicy) preview(_, news resource.PropertyMap) resource.PropertyMap {
	return news.Copy()
}

func policyOf(m resource.PropertyMap) *consulapi.ACLPolicy {
	return &consulapi.ACLPolicy{
		Name:        str(m, "name"),
		Description: str(m, "description"),
		Rules:       str(m, "rules"),
		Datacenters: stringList(m, "datacenters"),
	}
}

func (p aclPolicy) create(ctx context.Context, c *connection, news resource.PropertyMap) (string, resource.PropertyMap, error) {
	created, _, err := c.client.ACL().PolicyCreate(policyOf(news), c.writeOpts(ctx, "", ""))
	if err != nil {
		return "", nil, fmt.Errorf("error creating ACL policy: %w", err)
	}
	_, outs, _, err := p.read(ctx, c, created.ID, news, news)
	return created.ID, outs, err
}

func (aclPolicy) read(ctx context.Context, c *connection, id string, state, _ resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error) {
	policy, _, err := c.client.ACL().PolicyRead(id, c.queryOpts(ctx, "", ""))
	if notFound(err) || (err == nil && policy == nil) {
		return "", nil, nil, nil
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("failed to read policy '%s': %w", id, err)
	}
	outs := resource.PropertyMap{
		"name":        resource.NewStringProperty(policy.Name),
		"description": resource.NewStringProperty(policy.Description),
		"rules":       resource.NewStringProperty(policy.Rules),
	}
	if len(policy.Datacenters) > 0 || has(state, "datacenters") {
		outs["datacenters"] = stringArray(orderLike(policy.Datacenters, stringList(state, "datacenters")))
	}
	return id, outs, outs.Copy(), nil
}

func (p aclPolicy) update(ctx context.Context, c *connection, id string, _, news resource.PropertyMap) (resource.PropertyMap, error) {
	policy := policyOf(news)
	policy.ID = id
	if _, _, err := c.client.ACL().PolicyUpdate(policy, c.writeOpts(ctx, "", "")); err != nil {
		return nil, fmt.Errorf("error updating ACL policy %q: %w", id, err)
	}
	_, outs, _, err := p.read(ctx, c, id, news, news)
	return outs, err
}

func (aclPolicy) delete(ctx context.Context, c *connection, id string, _ resource.PropertyMap) error {
	if _, err := c.client.ACL().PolicyDelete(id, c.writeOpts(ctx, "", "")); err != nil && !notFound(err) {
		return fmt.Errorf("error deleting ACL policy %q: %w", id, err)
	}
	return nil
}

// aclToken is consul:index/aclToken:AclToken (Terraform consul_acl_token): id = the accessor ID.
// Its secret ID is never an output (read it with getAclTokenSecretId).
type aclToken struct{}

var aclTokenFields = []field{
	{key: "accessorId", forceNew: true, computed: true},
	{key: "description"},
	{key: "policies", set: true},
	{key: "roles", set: true},
	{key: "local", forceNew: true},
	{key: "expirationTime", forceNew: true},
	{key: "namespace", forceNew: true},
	{key: "partition", forceNew: true},
	{key: "serviceIdentities"},
	{key: "nodeIdentities"},
	{key: "templatedPolicies"},
}

func (aclToken) check(req plugin.CheckRequest) (resource.PropertyMap, []plugin.CheckFailure, error) {
	news := req.News.Copy()
	coerce(news, map[string]string{"accessorId": "string", "description": "string", "policies": "[]string",
		"roles": "[]string", "local": "bool", "expirationTime": "string"})
	failures := failIfSet(news, "namespace", "partition", "serviceIdentities", "nodeIdentities", "templatedPolicies")
	if v := get(news, "expirationTime"); v.IsString() && v.StringValue() != "" {
		if _, err := time.Parse(time.RFC3339, v.StringValue()); err != nil {
			failures = append(failures, plugin.CheckFailure{Property: "expirationTime",
				Reason: fmt.Sprintf("expected expirationTime to be a valid RFC3339 date, got %q", v.StringValue())})
		}
	}
	return news, failures, nil
}

func (aclToken) diff(olds, news resource.PropertyMap) plugin.DiffResult {
	d := diffFields(olds, news, aclTokenFields)
	// Accessor IDs are unique: replacing a token that keeps its accessor ID (only `local` or
	// `expirationTime` changed) must delete the old token first, or the create is refused.
	sameAccessor := has(news, "accessorId") && !unknownAt(news, "accessorId") && str(news, "accessorId") == str(olds, "accessorId")
	return diffResult(d, sameAccessor)
}

func (aclToken) preview(olds, news resource.PropertyMap) resource.PropertyMap {
	outs := news.Copy()
	if !has(news, "accessorId") {
		if has(olds, "accessorId") {
			outs["accessorId"] = olds["accessorId"]
		} else {
			outs["accessorId"] = unknown()
		}
	}
	return outs
}

func tokenOf(m resource.PropertyMap) *consulapi.ACLToken {
	t := &consulapi.ACLToken{
		AccessorID:  str(m, "accessorId"),
		Description: str(m, "description"),
		Local:       boolean(m, "local"),
		Policies:    []*consulapi.ACLTokenPolicyLink{},
		Roles:       []*consulapi.ACLTokenRoleLink{},
	}
	for _, name := range stringList(m, "policies") {
		t.Policies = append(t.Policies, &consulapi.ACLTokenPolicyLink{Name: name})
	}
	for _, name := range stringList(m, "roles") {
		t.Roles = append(t.Roles, &consulapi.ACLTokenRoleLink{Name: name})
	}
	if e := str(m, "expirationTime"); e != "" {
		if at, err := time.Parse(time.RFC3339, e); err == nil {
			t.ExpirationTime = &at
		}
	}
	return t
}

func (t aclToken) create(ctx context.Context, c *connection, news resource.PropertyMap) (string, resource.PropertyMap, error) {
	created, _, err := c.client.ACL().TokenCreate(tokenOf(news), c.writeOpts(ctx, "", ""))
	if err != nil {
		return "", nil, fmt.Errorf("error creating ACL token: %w", err)
	}
	_, outs, _, err := t.read(ctx, c, created.AccessorID, news, news)
	return created.AccessorID, outs, err
}

func (aclToken) read(ctx context.Context, c *connection, id string, state, _ resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error) {
	token, _, err := c.client.ACL().TokenRead(id, c.queryOpts(ctx, "", ""))
	if notFound(err) || (err == nil && token == nil) {
		return "", nil, nil, nil
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("failed to read token '%s': %w", id, err)
	}
	policies := make([]string, 0, len(token.Policies))
	for _, l := range token.Policies {
		policies = append(policies, l.Name)
	}
	roles := make([]string, 0, len(token.Roles))
	for _, l := range token.Roles {
		roles = append(roles, l.Name)
	}
	outs := resource.PropertyMap{
		"accessorId":  resource.NewStringProperty(token.AccessorID),
		"description": resource.NewStringProperty(token.Description),
		"local":       resource.NewBoolProperty(token.Local),
		"policies":    stringArray(orderLike(policies, stringList(state, "policies"))),
	}
	if len(roles) > 0 || has(state, "roles") {
		outs["roles"] = stringArray(orderLike(roles, stringList(state, "roles")))
	}
	if token.ExpirationTime != nil {
		outs["expirationTime"] = resource.NewStringProperty(token.ExpirationTime.Format(time.RFC3339))
	}
	return id, outs, outs.Copy(), nil
}

func (t aclToken) update(ctx context.Context, c *connection, id string, _, news resource.PropertyMap) (resource.PropertyMap, error) {
	token := tokenOf(news)
	token.AccessorID = id
	token.ExpirationTime = nil // immutable (a change replaces the token); Consul refuses to change it
	if _, _, err := c.client.ACL().TokenUpdate(token, c.writeOpts(ctx, "", "")); err != nil {
		return nil, fmt.Errorf("error updating ACL token %q: %w", id, err)
	}
	_, outs, _, err := t.read(ctx, c, id, news, news)
	return outs, err
}

func (aclToken) delete(ctx context.Context, c *connection, id string, _ resource.PropertyMap) error {
	if _, err := c.client.ACL().TokenDelete(id, c.writeOpts(ctx, "", "")); err != nil && !notFound(err) {
		return fmt.Errorf("error deleting ACL token %q: %w", id, err)
	}
	return nil
}
