package plugins

import "github.com/shoal-project/shoal/plugins/builtin"

// Builtin returns the Wasm module of a built-in plugin ("spread",
// "binpack", "ipam"), or nil for an unknown name. The bytes are shared: do
// not modify them.
func Builtin(name string) []byte { return builtin.Module(name) }

// BuiltinKind returns the kind of a built-in plugin; ok is false for an
// unknown name.
func BuiltinKind(name string) (Kind, bool) {
	k := builtin.Kind(name)
	return Kind(k), k != ""
}

// BuiltinNames lists the built-in plugins.
func BuiltinNames() []string { return append([]string(nil), builtin.Names...) }
