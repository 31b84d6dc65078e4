// Package migrations holds PayPortal's versioned schema, applied by goose.
package migrations

import "embed"

//go:embed *.sql
var FS embed.FS
