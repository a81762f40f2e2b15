// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

package main

import (
	"context"
	"fmt"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

// keys is consul:index/keys:Keys (Terraform consul_keys): writes the given keys, deletes the ones
// with delete: true when they leave the resource or the resource is destroyed, never touches
// other keys. Its ID is "consul", as Terraform's (the ID does not address anything).
type keys struct{}

const keysID = "consul"

var keysFields = []field{
	{key: "datacenter", forceNew: true, computed: true},
	{key: "token"},
	{key: "namespace", forceNew: true},
	{key: "partition", forceNew: true},
}

// kv is one element of `keys`: {path, value, flags, delete, default, name}.
type kv struct {
	path, value, def string
	flags            uint64
	del              bool
}

func kvOf(m resource.PropertyMap) kv {
	return kv{path: str(m, "path"), value: str(m, "value"), def: str(m, "default"),
		flags: uint64(number(get(m, "flags"))), del: boolean(m, "delete")}
}

func (k kv) property() resource.PropertyValue {
	return resource.NewObjectProperty(resource.PropertyMap{
		"path":    resource.NewStringProperty(k.path),
		"value":   resource.NewStringProperty(k.value),
		"flags":   resource.NewNumberProperty(float64(k.flags)),
		"delete":  resource.NewBoolProperty(k.del),
		"default": resource.NewStringProperty(k.def),
		"name":    resource.NewStringProperty(""),
	})
}

// kvList reads `keys` from inputs or state.
func kvList(m resource.PropertyMap) []kv {
	v := get(m, "keys")
	if !v.IsArray() {
		return nil
	}
	out := make([]kv, 0, len(v.ArrayValue()))
	for _, e := range v.ArrayValue() {
		if e.IsObject() {
			out = append(out, kvOf(e.ObjectValue()))
		}
	}
	return out
}

func kvArray(list []kv) resource.PropertyValue {
	out := make([]resource.PropertyValue, len(list))
	for i, k := range list {
		out[i] = k.property()
	}
	return resource.NewArrayProperty(out)
}

func (keys) check(req plugin.CheckRequest) (resource.PropertyMap, []plugin.CheckFailure, error) {
	news := req.News.Copy()
	coerce(news, map[string]string{"datacenter": "string", "token": "string"})
	failures := failIfSet(news, "namespace", "partition")
	list := news["keys"]
	if list.IsArray() {
		seen := map[string]bool{}
		elems := make([]resource.PropertyValue, len(list.ArrayValue()))
		for i, e := range list.ArrayValue() {
			elems[i] = e
			if !e.IsObject() {
				continue
			}
			// The schema's defaults: flags 0, delete false, default "", name "".
			obj := e.ObjectValue().Copy()
			coerce(obj, map[string]string{"path": "string", "value": "string", "default": "string", "name": "string",
				"flags": "number", "delete": "bool"})
			for key, def := range map[resource.PropertyKey]resource.PropertyValue{
				"flags": resource.NewNumberProperty(0), "delete": resource.NewBoolProperty(false),
				"default": resource.NewStringProperty(""), "name": resource.NewStringProperty(""),
			} {
				if v, ok := obj[key]; !ok || v.IsNull() {
					obj[key] = def
				}
			}
			elems[i] = resource.NewObjectProperty(obj)
			prop := resource.PropertyKey(fmt.Sprintf("keys[%d].path", i))
			switch path := get(obj, "path"); {
			case path.ContainsUnknowns():
			case str(obj, "path") == "":
				failures = append(failures, plugin.CheckFailure{Property: prop, Reason: "Missing required property 'path'"})
			case seen[str(obj, "path")]:
				failures = append(failures, plugin.CheckFailure{Property: prop,
					Reason: fmt.Sprintf("the path %q is given twice", str(obj, "path"))})
			default:
				seen[str(obj, "path")] = true
			}
			if v := get(obj, "name"); !v.ContainsUnknowns() && str(obj, "name") != "" {
				failures = append(failures, plugin.CheckFailure{Property: resource.PropertyKey(fmt.Sprintf("keys[%d].name", i)),
					Reason: "reading keys with consul.Keys (name) is deprecated upstream and not implemented by this stand-in; use the getKeys function"})
			}
		}
		news["keys"] = resource.NewArrayProperty(elems)
	}
	return news, failures, nil
}

// keysChanged compares `keys` as Terraform's set does, by element (path, value, flags, delete, default).
func keysChanged(olds, news resource.PropertyMap) bool {
	if unknownAt(news, "keys") {
		return true
	}
	o, n := kvList(olds), kvList(news)
	if len(o) != len(n) {
		return true
	}
	byPath := map[string]kv{}
	for _, k := range o {
		byPath[k.path] = k
	}
	for _, k := range n {
		if old, ok := byPath[k.path]; !ok || old != k {
			return true
		}
	}
	return false
}

func (keys) diff(olds, news resource.PropertyMap) plugin.DiffResult {
	d := diffFields(olds, news, keysFields)
	if keysChanged(olds, news) {
		dk := plugin.DiffUpdate
		if len(kvList(olds)) == 0 {
			dk = plugin.DiffAdd
		} else if !unknownAt(news, "keys") && len(kvList(news)) == 0 {
			dk = plugin.DiffDelete
		}
		d["keys"] = plugin.PropertyDiff{Kind: dk}
	}
	return diffResult(d, false)
}

func (keys) preview(olds, news resource.PropertyMap) resource.PropertyMap {
	outs := news.Copy()
	if !has(news, "datacenter") {
		if has(olds, "datacenter") {
			outs["datacenter"] = olds["datacenter"]
		} else {
			outs["datacenter"] = unknown()
		}
	}
	if olds != nil && !keysChanged(olds, news) && has(olds, "var") {
		outs["var"] = olds["var"]
	} else {
		outs["var"] = unknown()
	}
	return outs
}

func (k keys) create(ctx context.Context, c *connection, news resource.PropertyMap) (string, resource.PropertyMap, error) {
	dc, token := c.dc(str(news, "datacenter")), str(news, "token")
	for _, e := range kvList(news) {
		if err := put(ctx, c, dc, token, e); err != nil {
			return "", nil, err
		}
	}
	state := news.Copy()
	state["datacenter"] = resource.NewStringProperty(dc)
	_, outs, _, err := k.read(ctx, c, keysID, state, news)
	return keysID, outs, err
}

func put(ctx context.Context, c *connection, dc, token string, e kv) error {
	pair := &consulapi.KVPair{Key: e.path, Value: []byte(e.value), Flags: e.flags}
	if _, err := c.client.KV().Put(pair, c.writeOpts(ctx, dc, token)); err != nil {
		return fmt.Errorf("failed to write Consul key '%s': %w", e.path, err)
	}
	return nil
}

func remove(ctx context.Context, c *connection, dc, token, path string) error {
	if _, err := c.client.KV().Delete(path, c.writeOpts(ctx, dc, token)); err != nil {
		return fmt.Errorf("failed to delete Consul key '%s': %w", path, err)
	}
	return nil
}

// read reads back every key of the state: a value changed or deleted in Consul shows as drift
// (a deleted key reads as its default, else "").
func (keys) read(ctx context.Context, c *connection, id string, state, inputs resource.PropertyMap) (string, resource.PropertyMap, resource.PropertyMap, error) {
	if !has(state, "keys") && !has(inputs, "keys") {
		return "", nil, nil, fmt.Errorf("consul:index/keys:Keys cannot be imported (Terraform's consul_keys has no importer)")
	}
	src := state
	if !has(state, "keys") {
		src = inputs
	}
	dc := c.dc(str(state, "datacenter"))
	token := str(state, "token")
	if token == "" {
		token = str(inputs, "token")
	}
	list := kvList(src)
	for i, e := range list {
		pair, _, err := c.client.KV().Get(e.path, c.queryOpts(ctx, dc, token))
		if err != nil {
			return "", nil, nil, fmt.Errorf("failed to read Consul key '%s': %w", e.path, err)
		}
		list[i].value, list[i].flags = "", 0
		if pair != nil {
			list[i].value, list[i].flags = string(pair.Value), pair.Flags
		}
		if list[i].value == "" {
			list[i].value = e.def
		}
	}
	outs := resource.PropertyMap{
		"datacenter": resource.NewStringProperty(dc),
		"keys":       kvArray(list),
		"var":        resource.NewObjectProperty(resource.PropertyMap{}),
	}
	ins := resource.PropertyMap{"keys": kvArray(list)}
	if has(inputs, "datacenter") {
		ins["datacenter"] = resource.NewStringProperty(dc)
	}
	if token != "" {
		outs["token"] = resource.MakeSecret(resource.NewStringProperty(token))
		ins["token"] = resource.MakeSecret(resource.NewStringProperty(token))
	}
	return id, outs, ins, nil
}

// update writes the keys that are new or changed, then deletes the keys that left the resource
// and had delete: true (and were not just written under the same path).
func (k keys) update(ctx context.Context, c *connection, id string, olds, news resource.PropertyMap) (resource.PropertyMap, error) {
	dc := str(news, "datacenter")
	if dc == "" {
		dc = str(olds, "datacenter")
	}
	dc, token := c.dc(dc), str(news, "token")
	old := map[string]kv{}
	for _, e := range kvList(olds) {
		old[e.path] = e
	}
	written := map[string]bool{}
	for _, e := range kvList(news) {
		if prev, ok := old[e.path]; !ok || prev != e {
			if err := put(ctx, c, dc, token, e); err != nil {
				return nil, err
			}
		}
		written[e.path] = true
	}
	for path, e := range old {
		if !written[path] && e.del {
			if err := remove(ctx, c, dc, token, path); err != nil {
				return nil, err
			}
		}
	}
	state := news.Copy()
	state["datacenter"] = resource.NewStringProperty(dc)
	_, outs, _, err := k.read(ctx, c, id, state, news)
	return outs, err
}

func (keys) delete(ctx context.Context, c *connection, _ string, olds resource.PropertyMap) error {
	dc, token := c.dc(str(olds, "datacenter")), str(olds, "token")
	for _, e := range kvList(olds) {
		if e.del {
			if err := remove(ctx, c, dc, token, e.path); err != nil {
				return err
			}
		}
	}
	return nil
}
