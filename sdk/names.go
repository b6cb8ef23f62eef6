package sdk

// nameOf is the name of enum value v in names (indexed by value), or
// "unknown" for a value with none.
func nameOf[E ~uint32](names []string, v E) string {
	if uint64(v) < uint64(len(names)) && names[v] != "" {
		return names[v]
	}
	return "unknown"
}
