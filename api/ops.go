package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"

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

func (s *Server) opsRoutes(r *gin.Engine, reg *prometheus.Registry) {
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
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

// readyz checks every dependency with a short deadline and names the ones that failed.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := gin.H{}
	ready := true
	for _, h := range s.Ready {
		if err := h.Check(ctx); err != nil {
			s.log.WarnContext(ctx, "readiness check failed", "dependency", h.Name, "err", err)
			checks[h.Name] = "unavailable"
			ready = false
			continue
		}
		checks[h.Name] = "ok"
	}
	if !ready {
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{
			"error":  errorDetail{Type: "internal", Code: billing.CodeUnavailable, Message: "a dependency is unavailable"},
			"checks": checks,
		})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "checks": checks})
}
