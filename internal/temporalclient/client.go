// Package temporalclient is the one place PayPortal dials Temporal, so the API, the worker,
// the dev command and the tests share the same settings: above all the payload codec, so
// nothing PayPortal writes into Temporal is in plain text.
package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"

	"github.com/payportal/payportal/internal/codec"
)

// Options say where Temporal is and how to talk to it.
type Options struct {
	Address   string
	Namespace string
	// Connection adds TLS (mTLS, a CA, a server name), an API key, gRPC headers and the
	// authority, as the SDK's environment configuration reads them (config.Config.Temporal);
	// its address and namespace are ignored for the two above. Nil: plain gRPC, no key.
	Connection *envconfig.ClientConfigProfile
	Logger     *slog.Logger
	// Codec encrypts every payload, failure message and stack trace the client and the
	// workers built on it write, and decrypts what they read. Required.
	Codec *codec.Codec
	// MetricsHandler receives the SDK's metrics; nil: none.
	MetricsHandler client.MetricsHandler
	// Interceptors wrap every client call (tracing); workers built on the client take the
	// ones that are also worker interceptors.
	Interceptors []interceptor.ClientInterceptor
}

// ClientOptions are the SDK options of o: for Dial, and for tests that need a client that
// does not check the server at once (client.NewLazyClient).
func ClientOptions(o Options) (client.Options, error) {
	if o.Codec == nil {
		return client.Options{}, errors.New("temporal client without a payload codec: payloads would be written in plain text")
	}
	opts := client.Options{
		HostPort:         o.Address,
		Namespace:        o.Namespace,
		DataConverter:    o.Codec.DataConverter(),
		FailureConverter: o.Codec.FailureConverter(),
		MetricsHandler:   o.MetricsHandler,
		Interceptors:     o.Interceptors,
	}
	if o.Connection != nil {
		conn, err := o.Connection.ToClientOptions(envconfig.ToClientOptionsRequest{})
		if err != nil {
			return client.Options{}, fmt.Errorf("temporal connection settings: %w", err)
		}
		opts.Credentials, opts.ConnectionOptions, opts.HeadersProvider = conn.Credentials, conn.ConnectionOptions, conn.HeadersProvider
	}
	// Every payload is encrypted, and ciphertext does not compress: the SDK's default gzip
	// only costs CPU on both ends of every call (issue 10's profiles).
	opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	if o.Logger != nil {
		opts.Logger = tlog.NewStructuredLogger(o.Logger.With("component", "temporal"))
	}
	return opts, nil
}

// Dial connects and checks the server answers.
func Dial(ctx context.Context, o Options) (client.Client, error) {
	opts, err := ClientOptions(o)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dial temporal at %s (namespace %s): %w", o.Address, o.Namespace, err)
	}
	return c, nil
}
