// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

package main

import (
	"encoding/json"
	"mogi.local/engines/standin"
	"sort"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
)

// get returns the plain value of key in m, or null.
func get(m resource.PropertyMap, key string) resource.PropertyValue {
	if m == nil {
		return resource.NewNullProperty()
	}
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return resource.NewNullProperty()
	}
	return standin.Plain(v)
}

// has reports whether m has a non-null value for key (known or not).
func has(m resource.PropertyMap, key string) bool {
	return !get(m, key).IsNull()
}

func unknownAt(m resource.PropertyMap, key string) bool {
	return get(m, key).ContainsUnknowns()
}

func secretAt(m resource.PropertyMap, key string) bool {
	v, ok := m[resource.PropertyKey(key)]
	return ok && v.ContainsSecrets()
}

// asString reads strings, and numbers or booleans as their text (config values may arrive either way).
func asString(v resource.PropertyValue) string {
	v = standin.Plain(v)
	switch {
	case v.IsString():
		return v.StringValue()
	case v.IsNumber():
		return strconv.FormatFloat(v.NumberValue(), 'f', -1, 64)
	case v.IsBool():
		return strconv.FormatBool(v.BoolValue())
	}
	return ""
}

func str(m resource.PropertyMap, key string) string { return asString(get(m, key)) }

// boolean reads a bool, or the JSON text of one ("true"), as provider config values arrive.
func boolean(m resource.PropertyMap, key string) bool {
	v := get(m, key)
	if v.IsBool() {
		return v.BoolValue()
	}
	b, _ := strconv.ParseBool(asString(v))
	return b
}

func number(v resource.PropertyValue) float64 {
	v = standin.Plain(v)
	if v.IsNumber() {
		return v.NumberValue()
	}
	f, _ := strconv.ParseFloat(asString(v), 64)
	return f
}

// stringList reads a list of strings (or the JSON text of one).
func stringList(m resource.PropertyMap, key string) []string {
	v := get(m, key)
	if v.IsString() {
		var out []string
		if json.Unmarshal([]byte(v.StringValue()), &out) == nil {
			return out
		}
	}
	if !v.IsArray() {
		return nil
	}
	out := make([]string, 0, len(v.ArrayValue()))
	for _, e := range v.ArrayValue() {
		out = append(out, asString(e))
	}
	return out
}

func stringArray(ss []string) resource.PropertyValue {
	out := make([]resource.PropertyValue, len(ss))
	for i, s := range ss {
		out[i] = resource.NewStringProperty(s)
	}
	return resource.NewArrayProperty(out)
}

func unknown() resource.PropertyValue { return resource.MakeComputed(resource.NewStringProperty("")) }

// isZero: what Terraform treats as "not set": null, "", false, 0, empty list or map.
func isZero(v resource.PropertyValue) bool {
	v = standin.Plain(v)
	switch {
	case v.IsNull():
		return true
	case v.IsString():
		return v.StringValue() == ""
	case v.IsBool():
		return !v.BoolValue()
	case v.IsNumber():
		return v.NumberValue() == 0
	case v.IsArray():
		return len(v.ArrayValue()) == 0
	case v.IsObject():
		return len(v.ObjectValue()) == 0
	}
	return false
}

func equalValues(a, b resource.PropertyValue) bool {
	if isZero(a) && isZero(b) {
		return true
	}
	return standin.Plain(a).DeepEquals(standin.Plain(b))
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// orderLike keeps the order of prev when got is the same set, so that reading a set back from
// Consul (which orders it its own way) does not show as a change.
func orderLike(got, prev []string) []string {
	if sameSet(got, prev) {
		return prev
	}
	return got
}

// field describes how one top-level property is diffed.
type field struct {
	key      string
	forceNew bool // a change replaces the resource
	computed bool // optional and computed: leaving it out keeps the old value
	set      bool // a set of strings: order does not matter
}

// diffFields compares new inputs with the old state (outputs), as the Terraform bridge does.
func diffFields(olds, news resource.PropertyMap, fields []field) map[string]plugin.PropertyDiff {
	d := map[string]plugin.PropertyDiff{}
	for _, f := range fields {
		o, n := get(olds, f.key), get(news, f.key)
		var changed bool
		switch {
		case n.ContainsUnknowns():
			changed = true
		case f.computed && isZero(n):
			changed = false
		case f.set:
			changed = !sameSet(stringList(olds, f.key), stringList(news, f.key))
		default:
			changed = !equalValues(o, n)
		}
		if !changed {
			continue
		}
		dk := plugin.DiffUpdate
		if isZero(o) {
			dk = plugin.DiffAdd
		} else if isZero(n) && !n.ContainsUnknowns() {
			dk = plugin.DiffDelete
		}
		if f.forceNew {
			dk = dk.AsReplace()
		}
		d[f.key] = plugin.PropertyDiff{Kind: dk}
	}
	return d
}

func diffResult(d map[string]plugin.PropertyDiff, deleteBeforeReplace bool) plugin.DiffResult {
	if len(d) == 0 {
		return plugin.DiffResult{Changes: plugin.DiffNone}
	}
	r := plugin.DiffResult{Changes: plugin.DiffSome, DetailedDiff: d}
	for k, pd := range d {
		r.ChangedKeys = append(r.ChangedKeys, resource.PropertyKey(k))
		if pd.Kind.IsReplace() {
			r.ReplaceKeys = append(r.ReplaceKeys, resource.PropertyKey(k))
		}
	}
	r.DeleteBeforeReplace = deleteBeforeReplace && len(r.ReplaceKeys) > 0
	return r
}

// failIfSet returns a check failure for each property this stand-in does not implement.
func failIfSet(m resource.PropertyMap, keys ...string) []plugin.CheckFailure {
	var out []plugin.CheckFailure
	for _, k := range keys {
		if v := get(m, k); !v.ContainsUnknowns() && !isZero(v) {
			out = append(out, plugin.CheckFailure{Property: resource.PropertyKey(k),
				Reason: k + " is not implemented by this stand-in provider (see test/engines/pulumi-resource-consul/README.md)"})
		}
	}
	return out
}

// coerce converts known scalar values to the schema's type, as the bridge does in Check (a
// number given for a string property becomes its text, "true" for a bool becomes true). types
// maps a property to "string", "bool", "number" or "[]string"; secrets stay secret.
func coerce(m resource.PropertyMap, types map[string]string) {
	for key, t := range types {
		if v, ok := m[resource.PropertyKey(key)]; ok {
			m[resource.PropertyKey(key)] = coerceValue(v, t)
		}
	}
}

func coerceValue(v resource.PropertyValue, t string) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return resource.MakeSecret(coerceValue(v.SecretValue().Element, t))
	case v.IsNull() || v.ContainsUnknowns():
		return v
	}
	switch t {
	case "string":
		if v.IsNumber() || v.IsBool() {
			return resource.NewStringProperty(asString(v))
		}
	case "bool":
		if v.IsString() {
			if b, err := strconv.ParseBool(v.StringValue()); err == nil {
				return resource.NewBoolProperty(b)
			}
		}
	case "number":
		if v.IsString() {
			if f, err := strconv.ParseFloat(v.StringValue(), 64); err == nil {
				return resource.NewNumberProperty(f)
			}
		}
	case "[]string":
		if v.IsArray() {
			out := make([]resource.PropertyValue, len(v.ArrayValue()))
			for i, e := range v.ArrayValue() {
				out[i] = coerceValue(e, "string")
			}
			return resource.NewArrayProperty(out)
		}
	}
	return v
}
