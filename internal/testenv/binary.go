package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	binMu  sync.Mutex
	binDir string
)

// Payportal builds cmd/payportal once per test binary and returns its path, for the tests
// that run the real processes; Main (the package's TestMain) deletes it.
func Payportal(t testing.TB) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if binDir != "" {
		return filepath.Join(binDir, "payportal")
	}
	dir, err := os.MkdirTemp("", "payportal-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "payportal")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/payportal/payportal/cmd/payportal").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("go build ./cmd/payportal: %v\n%s", err, out)
	}
	binDir = dir
	return bin
}

// removeBinary deletes what Payportal built.
func removeBinary() {
	binMu.Lock()
	defer binMu.Unlock()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
		binDir = ""
	}
}

// FreeAddr is a loopback host:port nothing listens on now, for a process the test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
