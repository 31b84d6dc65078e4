// Package readme walks the README's API examples, read from README.md itself, against a
// fresh `payportal dev` with its demo data: an example that no longer works as written fails.
package readme

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/payportal/payportal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// readmeAPI and readmeOps are the addresses the README's examples name; the walk swaps in
// the test system's.
const (
	readmeAPI = "http://127.0.0.1:8080"
	readmeOps = "http://127.0.0.1:9090"
)

func TestReadmeExamples(t *testing.T) {
	raw, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := apiBlocks(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 3 {
		t.Fatalf("found %d API example blocks in README.md; the walk expects the Try it, tokens, PDF and webhook examples", len(blocks))
	}
	if _, err := exec.LookPath("jq"); err != nil {
		testenv.Unavailable(t, "jq (the README's examples read ids with it): %v", err)
	}

	sys := startDev(t)
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString(prelude)
	for _, b := range blocks {
		fmt.Fprintf(&script, "\n__block %d\n", b.line)
		script.WriteString(b.script(sys.api, sys.ops))
		script.WriteString("__check_pending\n")
	}
	script.WriteString("\n__block end\n")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WALK_DIR="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	artifact(t, "readme-walk.log", out.Bytes())
	if err != nil {
		t.Fatalf("the README's examples stopped working (%v); the walk, block by block (README.md line numbers):\n%s\n--- payportal dev log:\n%s",
			err, out.String(), tail(sys.log(), 4000))
	}
	if !strings.Contains(out.String(), "== README line end") {
		t.Fatalf("the walk ended early:\n%s", out.String())
	}
}

// prelude is the shell the blocks run in. curl is wrapped to note each answer's status: a 5xx
// fails at once; a 4xx fails unless the example's line says so with "# → 4xx".
const prelude = `set -euo pipefail
trap 'printf "\nWALK FAILED at: %s (exit %s)\n" "$BASH_COMMAND" "$?" >&2' ERR
__block() { printf '\n== README line %s\n' "$1"; }
__fail() { printf '\nWALK FAILED: %s\n' "$*" >&2; kill -TERM $$ 2>/dev/null; exit 1; }
__check_pending() {
	if [ -s "$WALK_DIR/.pending" ]; then
		__fail "$(cat "$WALK_DIR/.pending") (the example does not say it should; mark it with # → <status>)"
	fi
}
curl() {
	__check_pending
	local rc=0
	command curl "$@" -w '%{stderr}%{http_code}\n' 2>"$WALK_DIR/.curl-stderr" || rc=$?
	local code
	code=$(tail -n1 "$WALK_DIR/.curl-stderr")
	echo "$code" > "$WALK_DIR/.last"
	if [ "$rc" -ne 0 ]; then
		__fail "curl $* exited $rc: $(head -n -1 "$WALK_DIR/.curl-stderr")"
	fi
	printf '  [%s] curl %s\n' "$code" "$*" >&2
	case "$code" in
	5*) __fail "curl $* answered $code" ;;
	4*) echo "curl $* answered $code" > "$WALK_DIR/.pending" ;;
	esac
}
__expect() {
	local got
	got=$(cat "$WALK_DIR/.last")
	[ "$got" = "$1" ] || __fail "the example says $1, the answer was $got"
	: > "$WALK_DIR/.pending"
}
`

type block struct {
	line int // of the opening fence
	text string
}

// expectation is a command line's "# → 404 …" comment.
var expectation = regexp.MustCompile(`^(.*\S)\s+(# → ([1-5][0-9][0-9])\b.*)$`)

// script is the block as bash runs it: the README's addresses swapped for the test's, and
// each stated status checked after its command.
func (b block) script(api, ops string) string {
	var s strings.Builder
	for _, line := range strings.Split(b.text, "\n") {
		line = strings.ReplaceAll(line, readmeAPI, api)
		line = strings.ReplaceAll(line, readmeOps, ops)
		if m := expectation.FindStringSubmatch(line); m != nil && !strings.HasSuffix(m[1], `\`) {
			line = m[1] + "; __expect " + m[3] + "   " + m[2]
		}
		s.WriteString(line + "\n")
	}
	return s.String()
}

// apiBlocks are the README's ```sh blocks that call the API ($API or $OPS). A curl example
// anywhere else would go unwalked, so it is an error.
func apiBlocks(readme string) ([]block, error) {
	var blocks []block
	sc := bufio.NewScanner(strings.NewReader(readme))
	var cur *block
	var info string
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			if cur == nil {
				info = strings.TrimPrefix(line, "```")
				cur = &block{line: n}
				continue
			}
			walked := info == "sh" && (strings.Contains(cur.text, "$API") || strings.Contains(cur.text, "$OPS"))
			if walked {
				blocks = append(blocks, *cur)
			} else if info == "sh" && regexp.MustCompile(`(^|\s|\$\()curl\s`).MatchString(cur.text) {
				return nil, fmt.Errorf("README.md line %d: a curl example that names neither $API nor $OPS would not be walked", cur.line)
			}
			cur = nil
			continue
		}
		if cur != nil {
			cur.text += line + "\n"
		}
	}
	return blocks, sc.Err()
}

type devProcess struct {
	api, ops string
	logPath  string
}

func (d devProcess) log() string {
	raw, _ := os.ReadFile(d.logPath)
	return string(raw)
}

// startDev runs `payportal dev` as the README's user does, on free ports, over a fresh
// database, in a Temporal namespace of its own (its schedules and workflow IDs are the
// demo's, which other tests on a shared server use too).
func startDev(t *testing.T) devProcess {
	t.Helper()
	_, dbURL := testenv.Database(t)
	temporalAddr := testenv.TemporalAddress(t)
	namespace := newNamespace(t, temporalAddr)
	apiAddr, opsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	d := devProcess{api: "http://" + apiAddr, ops: "http://" + opsAddr, logPath: filepath.Join(t.TempDir(), "dev.log")}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Payportal(t), "dev")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"TEMPORAL_ADDRESS="+temporalAddr,
		"TEMPORAL_NAMESPACE="+namespace,
		"PAYPORTAL_HTTP_ADDR="+apiAddr,
		"PAYPORTAL_OPS_ADDR="+opsAddr,
		"PAYPORTAL_ENV=development",
		"PAYPORTAL_PAYLOAD_KEYS=",
		"PAYPORTAL_CARD_PROCESSOR=sandbox",
		"PAYPORTAL_PAYPAL=sandbox",
		"PAYPORTAL_SMTP_ADDR=",
		// The walk is quicker than a person: the demo limit would answer 429.
		"PAYPORTAL_RATE_LIMIT_RPS=1000",
		"PAYPORTAL_RATE_LIMIT_BURST=1000",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start payportal dev: %v", err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); logFile.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		if resp, err := http.Get(d.ops + "/readyz"); err == nil {
			resp.Body.Close()
			if conn, err := net.Dial("tcp", apiAddr); resp.StatusCode == http.StatusOK && err == nil {
				conn.Close()
				return d
			}
		}
		select {
		case <-exited:
			t.Fatalf("payportal dev exited at start (%v):\n%s", exitErr, d.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("payportal dev did not become ready:\n%s", d.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// newNamespace registers a namespace and waits until the frontend serves it (its namespace
// cache refreshes every few seconds).
func newNamespace(t *testing.T, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := fmt.Sprintf("readme-%d", time.Now().UnixNano())
	nc, err := client.NewNamespaceClient(client.Options{HostPort: addr, Logger: testenv.NopTemporalLogger()})
	if err != nil {
		testenv.Unavailable(t, "temporal at %s: %v", addr, err)
	}
	defer nc.Close()
	if err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: name, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatalf("register namespace %s: %v", name, err)
	}
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: name, Logger: testenv.NopTemporalLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		_, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: name})
		if err == nil {
			return name
		}
		select {
		case <-ctx.Done():
			t.Fatalf("namespace %s never served: %v", name, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// artifact keeps the walk's transcript in $PAYPORTAL_ARTIFACTS when set.
func artifact(t *testing.T, name string, data []byte) {
	dir := os.Getenv("PAYPORTAL_ARTIFACTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o750); err == nil { //nolint:gosec // G703: the directory the tester named
		_ = os.WriteFile(filepath.Join(dir, name), data, 0o600) //nolint:gosec // G703: as above

	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
