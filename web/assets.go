// Package web holds shoal's live web view: TypeScript sources under src/,
// built by `npm ci && npm run build` into dist/, which is committed and
// embedded here. scripts/check-generated.sh rebuilds dist/ and fails when it
// differs from the committed copy. `shoal dashboard` serves Assets.
package web

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Assets is the built view, index.html at its root.
func Assets() (fs.FS, error) {
	return fs.Sub(dist, "dist")
}
