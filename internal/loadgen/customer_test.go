package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// A buyer's click whose answer is lost (the balancer answers 502 while an API restarts) is
// clicked again, as a buyer would; a write without an Idempotency-Key is not sent twice.
func TestLostClicksAreClickedAgain(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if posts.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusSeeOther)
	}))
	defer srv.Close()
	c := &customer{http: newHTTPClient(1), base: srv.URL}
	status, _, _, err := c.sendRetrying(context.Background(), true, http.MethodPost, "/approve", "", nil, []byte{})
	if err != nil || status != http.StatusSeeOther || posts.Load() != 2 {
		t.Fatalf("click answered %d, %v after %d posts; want 303 after a second click", status, err, posts.Load())
	}
	posts.Store(0)
	status, _, _, _ = c.send(context.Background(), http.MethodPost, "/payments", "", nil, []byte{})
	if status != http.StatusBadGateway || posts.Load() != 1 {
		t.Errorf("a write without a key answered %d after %d posts; want the 502, sent once", status, posts.Load())
	}
}
