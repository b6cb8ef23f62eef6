//go:build !race

package store

// mutationCheckDefault: the mutation check is off outside -race builds.
const mutationCheckDefault = false
