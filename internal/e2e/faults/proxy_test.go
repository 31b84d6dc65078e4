package faults_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

// pgProxy stands between the activities and Postgres so a test can take the database away:
// Down closes every open connection and refuses the next n new ones, which is what the
// activities see when Postgres restarts or its network goes away for a while.
type pgProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	refuse  int
	refused int
}

// Refused counts the connections refused, so a test can tell the outage really happened.
func (p *pgProxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

func startProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &pgProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
	})
	return p
}

func (p *pgProxy) Addr() string { return p.ln.Addr().String() }

// Down drops every connection and refuses the next n.
func (p *pgProxy) Down(n int) {
	p.mu.Lock()
	p.refuse = n
	p.mu.Unlock()
	p.closeAll()
}

func (p *pgProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *pgProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.refuse > 0 {
			p.refuse--
			p.refused++
			p.mu.Unlock()
			client.Close()
			continue
		}
		p.mu.Unlock()
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go pipe(client, server)
		go pipe(server, client)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// seededBehindProxy is a seeded test database, opened directly and through a proxy the test
// can take down.
func seededBehindProxy(t *testing.T, now time.Time) (direct, through *postgres.DB, proxy *pgProxy) {
	t.Helper()
	ctx := context.Background()
	db, dbURL := testenv.Database(t)
	if _, err := devdata.Seed(ctx, db, now); err != nil {
		t.Fatalf("seed: %v", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy = startProxy(t, u.Host)
	u.Host = proxy.Addr()
	through, err = postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatalf("open the database through the proxy: %v", err)
	}
	t.Cleanup(through.Close)
	return db, through, proxy
}
