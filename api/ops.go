package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.yaml.in/yaml/v3"

	"github.com/payportal/payportal/internal/billing"
)

//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIJSON is the OpenAPI document as JSON, converted once from the YAML source.
func OpenAPIJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	return json.Marshal(doc)
}

// openAPIRoutes serve the contract on the public listener.
func (s *Server) openAPIRoutes(r *gin.Engine) {
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", openAPIYAML) })
	openAPI, err := OpenAPIJSON()
	r.GET("/openapi.json", func(c *gin.Context) {
		if err != nil {
			s.writeError(c, err)
			return
		}
		c.Data(http.StatusOK, "application/json", openAPI)
	})
}

// OpsHandler is the ops listener's router (PAYPORTAL_OPS_ADDR), for the probes, Prometheus
// and ops, never for customers: /healthz, /readyz, /metrics (Registry) and, when Codec is
// set, the codec server under /codec/. The public router serves none of these. It needs only
// Ready, Registry, Codec and Logger, so a worker builds a Server with those alone.
func (s *Server) OpsHandler() http.Handler {
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeOpsJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { s.readyz(w, r, log) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}))
	if s.Codec != nil {
		mux.Handle("/codec/", s.Codec)
	}
	return mux
}

// readyzTimeout bounds each dependency's check.
const readyzTimeout = 3 * time.Second

// readyz checks every dependency at once, each with a short deadline, and names each one's
// state. Only a failing required check makes the process unready (503): an optional one
// (Temporal: reads need only Postgres, and payments started meanwhile are resumed by the
// reconciler) is reported in the body of a 200.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	results := make([]error, len(s.Ready))
	var wg sync.WaitGroup
	for i, h := range s.Ready {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
			defer cancel()
			results[i] = h.Check(ctx)
		})
	}
	wg.Wait()
	checks := map[string]string{}
	ready := true
	for i, h := range s.Ready {
		if err := results[i]; err != nil {
			log.WarnContext(r.Context(), "readiness check failed", "dependency", h.Name, "optional", h.Optional, "err", err)
			checks[h.Name] = "unavailable: " + err.Error()
			ready = ready && h.Optional
			continue
		}
		checks[h.Name] = "ok"
	}
	if !ready {
		writeOpsJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "unavailable",
			"error":  errorDetail{Type: "internal", Code: billing.CodeUnavailable, Message: "a required dependency is unavailable"},
			"checks": checks,
		})
		return
	}
	writeOpsJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}

func writeOpsJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // as abortJSON: a check's error reads as written
	_ = enc.Encode(body)
}
