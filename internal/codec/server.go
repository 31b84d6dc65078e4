package codec

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// AllowedHeaders are the request headers the Temporal UI sends to a codec server.
const AllowedHeaders = "Authorization, Content-Type, X-Namespace"

// maxBodyBytes bounds one encode or decode request: a page of a history's payloads.
const maxBodyBytes = 16 << 20

// HandlerOptions configure the codec server.
type HandlerOptions struct {
	// AllowedOrigins are the browser origins that may call it, e.g. the Temporal UI's
	// http://127.0.0.1:8233 (PAYPORTAL_CODEC_CORS_ORIGINS). A request from any other origin
	// is refused.
	AllowedOrigins []string
	// Token, when set, must come as "Authorization: Bearer <Token>" (PAYPORTAL_CODEC_TOKEN).
	Token string
}

// Handler is the codec server of Temporal's remote codec protocol: POST .../encode and
// .../decode take and answer {"payloads": [...]} (protobuf JSON, data in base64), the
// body the Temporal UI (--ui-codec-endpoint, TEMPORAL_CODEC_ENDPOINT) and the CLI
// (--codec-endpoint) send. Mount it under a prefix such as /codec/.
func Handler(c converter.PayloadCodec, o HandlerOptions) http.Handler {
	next := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store") // decoded payloads hold personal data
		h.Set("X-Content-Type-Options", "nosniff")
		origin := r.Header.Get("Origin")
		if origin != "" {
			h.Add("Vary", "Origin")
			if !slices.Contains(o.AllowedOrigins, origin) {
				http.Error(w, "origin "+origin+" may not call the codec server (PAYPORTAL_CODEC_CORS_ORIGINS)", http.StatusForbidden)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		switch r.Method {
		case http.MethodOptions: // the browser's preflight: it carries no credentials
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", AllowedHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		case http.MethodPost:
		default:
			h.Set("Allow", "POST, OPTIONS")
			http.Error(w, r.Method+" is not allowed here", http.StatusMethodNotAllowed)
			return
		}
		if o.Token != "" && !bearerMatches(r.Header.Get("Authorization"), o.Token) {
			h.Set("WWW-Authenticate", `Bearer realm="payportal-codec"`)
			http.Error(w, "the codec server wants Authorization: Bearer <PAYPORTAL_CODEC_TOKEN>", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func bearerMatches(header, token string) bool {
	scheme, got, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}
