// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

package main

import (
	"context"
	"fmt"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

// aclRole is consul:index/aclRole:AclRole (Terraform consul_acl_role): id = the role ID.
// `policies` may name a policy by ID or by name; Read reports each the way it was given (a
// name when the state had the policy's name, else the ID), as the Terraform resource does.
type aclRole struct{}

var aclRoleFields = []field{
	{key: "name"},
	{key: "description"},
	{key: "policies", set: true},
	{key: "namespace", forceNew: true},
	{key: "partition", forceNew: true},
	{key: "serviceIdentities"},
	{key: "nodeIdentities"},
	{key: "templatedPolicies"},
}

func (aclRole) check(req plugin.CheckRequest) (resource.PropertyMap, []plugin.CheckFailure, error) {
	news := req.News.Copy()
	coerce(news, map[string]string{"name": "string", "description": "string", "policies": "[]string"})
	failures := failIfSet(news, "namespace", "partition", "serviceIdentities", "nodeIdentities", "templatedPolicies")
	if err := autoname(req, news); err != nil {
		return nil, nil, err
	}
	return news, failures, nil
}

func (aclRole) diff(olds, news resource.PropertyMap) plugin.DiffResult {
	d := diffFields(olds, news, aclRoleFields)
	// Role names are unique: a replacement keeping the name must delete the old role first.
	_, renamed := d["name"]
	return diffResult(d, !renamed)
}

func (aclRole) preview(_, news resource.PropertyMap) resource.PropertyMap {
	return news.Copy()
}

// looksLikeUUID: what Consul accepts as an ACL object ID (it refuses anything else with a 500).
func looksLikeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

// policyLink resolves a policy given by ID or by name, in that order (a policy ID is tried
// first, then a name), and links it the way it was given.
func policyLink(ctx context.Context, c *connection, identifier string) (*consulapi.ACLLink, error) {
	var errs []string
	if looksLikeUUID(identifier) {
		policy, _, err := c.client.ACL().PolicyRead(identifier, c.queryOpts(ctx, "", ""))
		if err == nil && policy != nil {
			return &consulapi.ACLLink{ID: identifier}, nil
		}
		if err != nil && !notFound(err) {
			errs = append(errs, err.Error())
		}
	}
	policy, _, err := c.client.ACL().PolicyReadByName(identifier, c.queryOpts(ctx, "", ""))
	if err == nil && policy != nil {
		return &consulapi.ACLLink{Name: identifier}, nil
	}
	if err != nil && !notFound(err) {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("failed to read policy %q: %s", identifier, strings.Join(errs, "; "))
	}
	return nil, fmt.Errorf("failed to find policy %q", identifier)
}

func roleOf(ctx context.Context, c *connection, m resource.PropertyMap) (*consulapi.ACLRole, error) {
	role := &consulapi.ACLRole{Name: str(m, "name"), Description: str(m, "description")}
	for _, identifier := range stringList(m, "policies") {
		link, err := policyLink(ctx, c, identifier)
		if err != nil {
			return nil, err
		}
		role.Policies = append(role.Policies, link)
	}
	return role, nil
}

func (r aclRole) create(ctx context.Context, c *connection, news resource.PropertyMap) (string, resource.PropertyMap, error) {
	role, err := roleOf(ctx, c, news)
	if err != nil {
		return "", nil, err
	}
	created, _, err := c.client.ACL().RoleCreate(role, c.writeOpts(ctx, "", ""))
	if err != nil {
		return "", nil, fmt.Errorf("failed to create role '%s': %w", role.Name, err)
	}
	_, outs, _, err := r.read(ctx, c, created.ID, news, news)
	return created.ID, outs, err
}

func (aclRole) read(ctx context.Context, c *connection, id string, state, _ resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error) {
	role, _, err := c.client.ACL().RoleRead(id, c.queryOpts(ctx, "", ""))
	if notFound(err) || (err == nil && role == nil) {
		return "", nil, nil, nil
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("failed to read role '%s': %w", id, err)
	}
	// A policy is reported by name when the state named it so (and not by its ID), else by
	// ID: an imported role (no state) lists policy IDs.
	given := map[string]bool{}
	for _, p := range stringList(state, "policies") {
		given[p] = true
	}
	policies := make([]string, 0, len(role.Policies))
	for _, l := range role.Policies {
		if given[l.Name] && !given[l.ID] {
			policies = append(policies, l.Name)
		} else {
			policies = append(policies, l.ID)
		}
	}
	outs := resource.PropertyMap{
		"name":        resource.NewStringProperty(role.Name),
		"description": resource.NewStringProperty(role.Description),
		"policies":    stringArray(orderLike(policies, stringList(state, "policies"))),
	}
	return id, outs, outs.Copy(), nil
}

func (r aclRole) update(ctx context.Context, c *connection, id string, _, news resource.PropertyMap) (resource.PropertyMap, error) {
	role, err := roleOf(ctx, c, news)
	if err != nil {
		return nil, err
	}
	role.ID = id
	if _, _, err := c.client.ACL().RoleUpdate(role, c.writeOpts(ctx, "", "")); err != nil {
		return nil, fmt.Errorf("failed to update role '%s': %w", id, err)
	}
	_, outs, _, err := r.read(ctx, c, id, news, news)
	return outs, err
}

func (aclRole) delete(ctx context.Context, c *connection, id string, _ resource.PropertyMap) error {
	if _, err := c.client.ACL().RoleDelete(id, c.writeOpts(ctx, "", "")); err != nil && !notFound(err) {
		return fmt.Errorf("failed to delete role '%s': %w", id, err)
	}
	return nil
}
