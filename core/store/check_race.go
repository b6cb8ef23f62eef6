//go:build race

package store

// mutationCheckDefault turns the mutation check on in -race builds.
const mutationCheckDefault = true
