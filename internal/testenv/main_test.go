package testenv

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryUserReleasesWhatTestenvMade: a test package that starts a dev server or builds the
// binary through testenv has TestMain call Main; without it `go test` leaves the dev server
// running after it exits (as three packages did).
func TestEveryUserReleasesWhatTestenvMade(t *testing.T) {
	module := os.DirFS(filepath.Join("..", "..")) // names below are the module's
	// package directory → its tests use what Main releases; its TestMain calls Main
	uses, mains := map[string]bool{}, map[string]bool{}
	err := fs.WalkDir(module, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && name != "." {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, "_test.go") || path.Dir(name) == "internal/testenv" {
			return nil
		}
		src, err := fs.ReadFile(module, name)
		if err != nil {
			return err
		}
		dir, text := path.Dir(name), string(src)
		for _, call := range []string{"testenv.TemporalAddress(", "testenv.TemporalClient(", "testenv.Payportal("} {
			uses[dir] = uses[dir] || strings.Contains(text, call)
		}
		mains[dir] = mains[dir] || strings.Contains(text, "testenv.Main(m)")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	users := 0
	for dir, used := range uses {
		if !used {
			continue
		}
		users++
		if !mains[dir] {
			t.Errorf("%s uses testenv's dev server or binary but its TestMain does not call testenv.Main", dir)
		}
	}
	if users == 0 {
		t.Fatal("found no package using testenv's dev server or binary: is the walk at the module's root?")
	}
}
