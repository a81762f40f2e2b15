// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

package main

import (
	"context"
	"fmt"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

// aclBindingRule is consul:index/aclBindingRule:AclBindingRule (Terraform
// consul_acl_binding_rule): id = the binding rule ID. `bindType` is not checked here (nor by
// the Terraform resource): Consul refuses an unknown one when the rule is written.
type aclBindingRule struct{}

var aclBindingRuleFields = []field{
	{key: "authMethod", forceNew: true},
	{key: "bindType", forceNew: true},
	{key: "bindName"},
	{key: "selector"},
	{key: "description"},
	{key: "bindVars"},
	{key: "namespace", forceNew: true},
	{key: "partition", forceNew: true},
}

func (aclBindingRule) check(req plugin.CheckRequest) (resource.PropertyMap, []plugin.CheckFailure, error) {
	news := req.News.Copy()
	coerce(news, map[string]string{"authMethod": "string", "bindType": "string", "bindName": "string",
		"selector": "string", "description": "string"})
	failures := failIfSet(news, "bindVars", "namespace", "partition")
	for _, k := range []string{"authMethod", "bindType", "bindName"} {
		if !has(news, k) {
			failures = append(failures, plugin.CheckFailure{Property: resource.PropertyKey(k),
				Reason: fmt.Sprintf("Missing required property '%s'", k)})
		}
	}
	return news, failures, nil
}

func (aclBindingRule) diff(olds, news resource.PropertyMap) plugin.DiffResult {
	return diffResult(diffFields(olds, news, aclBindingRuleFields), false)
}

func (aclBindingRule) preview(_, news resource.PropertyMap) resource.PropertyMap {
	return news.Copy()
}

func bindingRuleOf(m resource.PropertyMap) *consulapi.ACLBindingRule {
	return &consulapi.ACLBindingRule{
		AuthMethod:  str(m, "authMethod"),
		BindType:    consulapi.BindingRuleBindType(str(m, "bindType")),
		BindName:    str(m, "bindName"),
		Selector:    str(m, "selector"),
		Description: str(m, "description"),
	}
}

func (b aclBindingRule) create(ctx context.Context, c *connection, news resource.PropertyMap) (string, resource.PropertyMap, error) {
	created, _, err := c.client.ACL().BindingRuleCreate(bindingRuleOf(news), c.writeOpts(ctx, "", ""))
	if err != nil {
		return "", nil, fmt.Errorf("failed to create binding rule: %w", err)
	}
	_, outs, _, err := b.read(ctx, c, created.ID, news, news)
	return created.ID, outs, err
}

// read reports what Consul has, the auth method included (the Terraform resource keeps its
// state's auth_method instead, which only differs on import: see README.md).
func (aclBindingRule) read(ctx context.Context, c *connection, id string, _, _ resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error) {
	rule, _, err := c.client.ACL().BindingRuleRead(id, c.queryOpts(ctx, "", ""))
	if notFound(err) || (err == nil && rule == nil) {
		return "", nil, nil, nil
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("failed to read binding rule '%s': %w", id, err)
	}
	outs := resource.PropertyMap{
		"authMethod":  resource.NewStringProperty(rule.AuthMethod),
		"bindType":    resource.NewStringProperty(string(rule.BindType)),
		"bindName":    resource.NewStringProperty(rule.BindName),
		"selector":    resource.NewStringProperty(rule.Selector),
		"description": resource.NewStringProperty(rule.Description),
	}
	return id, outs, outs.Copy(), nil
}

func (b aclBindingRule) update(ctx context.Context, c *connection, id string, _, news resource.PropertyMap) (resource.PropertyMap, error) {
	rule := bindingRuleOf(news)
	rule.ID = id
	if _, _, err := c.client.ACL().BindingRuleUpdate(rule, c.writeOpts(ctx, "", "")); err != nil {
		return nil, fmt.Errorf("failed to update binding rule '%s': %w", id, err)
	}
	_, outs, _, err := b.read(ctx, c, id, news, news)
	return outs, err
}

func (aclBindingRule) delete(ctx context.Context, c *connection, id string, _ resource.PropertyMap) error {
	if _, err := c.client.ACL().BindingRuleDelete(id, c.writeOpts(ctx, "", "")); err != nil && !notFound(err) {
		return fmt.Errorf("failed to delete binding rule '%s': %w", id, err)
	}
	return nil
}
