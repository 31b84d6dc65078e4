package devserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/devserver"
	"github.com/payportal/payportal/internal/testenv"
)

// TestUIGetsTheCodecEndpoint: the command line `payportal dev` runs gives the Web UI the ops
// listener's codec server.
func TestUIGetsTheCodecEndpoint(t *testing.T) {
	o := devserver.Options{CLI: "temporal", Address: "127.0.0.1:7233", UIPort: 8233, Namespace: "default", StateDir: "/tmp/x",
		SearchAttributes: []string{"AccountId=Keyword"}, CodecEndpoint: "http://127.0.0.1:9090/codec"}
	args, err := o.Args()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(args, "--ui-codec-endpoint")
	if i < 0 || i+1 >= len(args) || args[i+1] != "http://127.0.0.1:9090/codec" {
		t.Errorf("dev server command line %v lacks --ui-codec-endpoint http://127.0.0.1:9090/codec", args)
	}
	o.CodecEndpoint = ""
	if args, _ := o.Args(); slices.Contains(args, "--ui-codec-endpoint") {
		t.Errorf("without an endpoint: %v", args)
	}
}

// TestUISettingsNameTheCodecEndpoint starts the dev server as `payportal dev` does and asks its
// Web UI for its settings, which is where the browser learns the codec endpoint.
func TestUISettingsNameTheCodecEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server with its UI")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := devserver.FindCLI(ctx, "")
	if err != nil {
		testenv.Unavailable(t, "temporal CLI: %v", err)
	}
	const endpoint = "http://127.0.0.1:19090/codec"
	uiPort := freePort(t)
	srv, err := devserver.Start(ctx, devserver.Options{CLI: cli, Address: fmt.Sprintf("127.0.0.1:%d", freePort(t)), UIPort: uiPort,
		Namespace: "default", StateDir: t.TempDir(), CodecEndpoint: endpoint})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	defer srv.Stop()

	var settings struct {
		Codec struct{ Endpoint string }
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/api/v1/settings", uiPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(raw, &settings); err != nil {
					t.Fatalf("UI settings %s: %v", raw, err)
				}
				t.Logf("UI settings: %s", raw)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the UI at %s did not answer: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if settings.Codec.Endpoint != endpoint {
		t.Errorf("the UI's codec endpoint is %q, want %q", settings.Codec.Endpoint, endpoint)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDevServerTuning: the dev server runs every task queue on one partition, so a new
// queue's first tasks do not wait for forwarding between partitions of one process, and keeps
// its search attribute cache, as PayPortal's attributes are registered when it starts.
func TestDevServerTuning(t *testing.T) {
	o := devserver.Options{CLI: "temporal", Address: "127.0.0.1:7233", UIPort: 8233, Namespace: "default", StateDir: "/tmp/x"}
	args, err := o.Args()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"matching.numTaskqueueReadPartitions=1", "matching.numTaskqueueWritePartitions=1",
		"system.forceSearchAttributesCacheRefreshOnRead=false"} {
		i := slices.Index(args, want)
		if i < 1 || args[i-1] != "--dynamic-config-value" {
			t.Errorf("dev server command line %v lacks --dynamic-config-value %s", args, want)
		}
	}
}
