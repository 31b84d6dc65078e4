package devserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Options for a local dev server.
type Options struct {
	CLI              string   // the temporal binary (FindCLI)
	Address          string   // host:port of the frontend, e.g. 127.0.0.1:7233
	UIPort           int      // the Web UI, e.g. 8233
	Namespace        string   // registered at start
	StateDir         string   // its SQLite file and log go here
	SearchAttributes []string // NAME=Type
	// CodecEndpoint is the codec server the Web UI decodes payloads with
	// (--ui-codec-endpoint), e.g. http://127.0.0.1:9090/codec; empty: none.
	CodecEndpoint string
}

// Server is a dev server this process started; nil Stop is safe for a reused one.
type Server struct {
	cmd     *exec.Cmd
	done    chan struct{}
	LogPath string
}

// Reachable reports whether something accepts connections at addr.
func Reachable(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Args is the command line of the CLI that Start runs: `temporal server start-dev` with the
// state file under StateDir, the namespace and search attributes registered and, with
// CodecEndpoint, the UI decoding payloads through it.
func (o Options) Args() ([]string, error) {
	host, port, err := net.SplitHostPort(o.Address)
	if err != nil {
		return nil, fmt.Errorf("temporal address %q: %w", o.Address, err)
	}
	args := []string{"server", "start-dev",
		"--ip", host, "--port", port,
		"--ui-port", strconv.Itoa(o.UIPort),
		"--db-filename", filepath.Join(o.StateDir, "temporal.db"),
		"--namespace", o.Namespace,
		"--log-level", "warn",
	}
	args = append(args, TuningArgs...)
	if o.CodecEndpoint != "" {
		args = append(args, "--ui-codec-endpoint", o.CodecEndpoint)
	}
	for _, sa := range o.SearchAttributes {
		args = append(args, "--search-attribute", sa)
	}
	return args, nil
}

// TuningArgs are dynamic config where the CLI's defaults suit other uses (scripts/loadgen.sh
// passes the same):
//   - One partition per task queue. The dev server is one node whose pollers all live in one
//     process, so partitions only add forwarding between them; with the default four, a new
//     task queue's first workflow tasks sometimes waited 2 s for a poller.
//   - The search attribute cache on, as on any other server. The CLI turns it off so that
//     attributes created while it runs are seen at once; PayPortal's are registered when it
//     starts (--search-attribute), and reading them from SQLite on every use was about 9 % of
//     the server's CPU per card payment (issue 10's profiles). One added later (a newer
//     PayPortal over an older state file) is seen within the cache's minute.
var TuningArgs = []string{
	"--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
	"--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
	"--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=false",
}

// Start runs `temporal server start-dev` with its state in a file under StateDir, so
// workflows survive a restart, and waits until the frontend answers.
func Start(ctx context.Context, o Options) (*Server, error) {
	if _, _, err := net.SplitHostPort(o.Address); err != nil {
		return nil, fmt.Errorf("temporal address %q: %w", o.Address, err)
	}
	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.StateDir, err)
	}
	logPath := filepath.Join(o.StateDir, "temporal.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", logPath, err)
	}
	args, err := o.Args()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd := exec.Command(o.CLI, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C reaches PayPortal, which then stops the server cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", o.CLI, err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{}), LogPath: logPath}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for !Reachable(o.Address) {
		select {
		case <-s.done:
			return nil, fmt.Errorf("temporal dev server exited at start; see %s", logPath)
		case <-deadline.C:
			s.Stop()
			return nil, fmt.Errorf("temporal dev server did not answer on %s within 60s; see %s", o.Address, logPath)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return s, nil
}

// Stop asks the server to shut down and waits for it.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
