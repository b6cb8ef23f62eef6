// Package layering holds the import rules between shoal's top-level parts
// (the table in ARCHITECTURE.md, "Imports") and the check that enforces them.
// Its test lists the module's packages, their tests included, with
// `go list -test -json ./...` and fails on any dependency the rules do not
// allow, direct or transitive.
package layering
