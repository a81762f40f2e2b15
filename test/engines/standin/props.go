// Copyright 2026 the Mogi authors. Licensed under the Apache License, Version 2.0.

package standin

import "github.com/pulumi/pulumi/sdk/v3/go/common/resource"

// Plain returns v without secret or output wrappers and without null object entries, recursively.
// Unknown values stay unknown.
func Plain(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return Plain(v.SecretValue().Element)
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		return Plain(o.Element)
	case v.IsArray():
		in := v.ArrayValue()
		out := make([]resource.PropertyValue, len(in))
		for i, e := range in {
			out[i] = Plain(e)
		}
		return resource.NewArrayProperty(out)
	case v.IsObject():
		out := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			if e = Plain(e); !e.IsNull() {
				out[k] = e
			}
		}
		return resource.NewObjectProperty(out)
	}
	return v
}
