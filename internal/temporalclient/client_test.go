package temporalclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/payportal/payportal/internal/temporalclient"
	"github.com/payportal/payportal/internal/testenv"
)

// The connection settings of the SDK's environment configuration, against a real Temporal
// dev server behind a TLS-terminating proxy: mTLS with a certificate the proxy checks, an API
// key the proxy checks, and the clear errors of a wrong certificate or key.

func TestDialWithMutualTLS(t *testing.T) {
	backend := testenv.TemporalAddress(t)
	ca := testenv.NewCA(t, "cluster CA")
	proxy := testenv.StartTLSProxy(t, ca, backend, testenv.TLSProxyOptions{ClientCAs: ca.Pool()})

	cert, key := ca.Issue(t, "payportal-worker", false)
	c, err := dial(t, proxy, &envconfig.ClientConfigProfile{TLS: &envconfig.ClientConfigTLS{
		ClientCertData: cert, ClientKeyData: key, ServerCACertData: ca.PEM, ServerName: "localhost"}})
	if err != nil {
		t.Fatalf("dial through the mTLS proxy: %v", err)
	}
	defer c.Close()
	if _, err := c.WorkflowService().DescribeNamespace(context.Background(), describeDefault()); err != nil {
		t.Fatalf("a call through the mTLS proxy: %v", err)
	}
	// The server's errors come through as themselves.
	_, err = c.WorkflowService().DescribeNamespace(context.Background(), &workflowservice.DescribeNamespaceRequest{Namespace: "no-such-namespace"})
	var notFound *serviceerror.NamespaceNotFound
	if !errors.As(err, &notFound) {
		t.Fatalf("describe an unknown namespace through the proxy: %v; want NamespaceNotFound", err)
	}

	// A certificate from another CA, or none: the proxy refuses the handshake. Under TLS 1.3 the
	// client may learn it as a closed connection rather than the alert, so only the refusal and
	// the address are certain.
	other := testenv.NewCA(t, "someone else's CA")
	badCert, badKey := other.Issue(t, "intruder", false)
	_, err = dial(t, proxy, &envconfig.ClientConfigProfile{TLS: &envconfig.ClientConfigTLS{
		ClientCertData: badCert, ClientKeyData: badKey, ServerCACertData: ca.PEM, ServerName: "localhost"}})
	if err == nil || !strings.Contains(err.Error(), proxy) {
		t.Fatalf("dial with a certificate of another CA: %v; want a refusal naming the address", err)
	}
	t.Logf("a certificate of another CA: %v", err)

	// No client certificate at all.
	_, err = dial(t, proxy, &envconfig.ClientConfigProfile{TLS: &envconfig.ClientConfigTLS{ServerCACertData: ca.PEM, ServerName: "localhost"}})
	if err == nil || !strings.Contains(err.Error(), proxy) {
		t.Fatalf("dial without a client certificate: %v; want a refusal naming the address", err)
	}

	// A server this client does not trust.
	_, err = dial(t, proxy, &envconfig.ClientConfigProfile{TLS: &envconfig.ClientConfigTLS{
		ClientCertData: cert, ClientKeyData: key, ServerCACertData: other.PEM, ServerName: "localhost"}})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial a server signed by an unknown CA: %v; want a certificate error", err)
	}
}

func TestDialWithAPIKey(t *testing.T) {
	backend := testenv.TemporalAddress(t)
	ca := testenv.NewCA(t, "cloud CA")
	proxy := testenv.StartTLSProxy(t, ca, backend, testenv.TLSProxyOptions{APIKey: "the-right-key"})

	// An API key turns TLS on by itself; the CA is only this test's.
	c, err := dial(t, proxy, &envconfig.ClientConfigProfile{APIKey: "the-right-key",
		TLS: &envconfig.ClientConfigTLS{ServerCACertData: ca.PEM, ServerName: "localhost"}})
	if err != nil {
		t.Fatalf("dial with the API key: %v", err)
	}
	defer c.Close()
	if _, err := c.WorkflowService().DescribeNamespace(context.Background(), describeDefault()); err != nil {
		t.Fatalf("a call with the API key: %v", err)
	}

	_, err = dial(t, proxy, &envconfig.ClientConfigProfile{APIKey: "a-wrong-key",
		TLS: &envconfig.ClientConfigTLS{ServerCACertData: ca.PEM, ServerName: "localhost"}})
	if err == nil || !strings.Contains(err.Error(), "API key") {
		t.Fatalf("dial with a wrong API key: %v; want the server's refusal", err)
	}
	t.Logf("a wrong API key: %v", err)
}

func dial(t *testing.T, addr string, conn *envconfig.ClientConfigProfile) (client.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return temporalclient.Dial(ctx, temporalclient.Options{Address: addr, Namespace: "default", Connection: conn,
		Codec: testenv.PayloadCodec()})
}

func describeDefault() *workflowservice.DescribeNamespaceRequest {
	return &workflowservice.DescribeNamespaceRequest{Namespace: "default"}
}

// TestCallsAreNotCompressed: payloads are ciphertext, so gzip would be CPU spent for nothing,
// with or without connection settings from the environment.
func TestCallsAreNotCompressed(t *testing.T) {
	for name, conn := range map[string]*envconfig.ClientConfigProfile{"plain": nil, "with an API key": {APIKey: "k"}} {
		opts, err := temporalclient.ClientOptions(temporalclient.Options{Address: "127.0.0.1:7233", Namespace: "default",
			Connection: conn, Codec: testenv.PayloadCodec()})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := opts.ConnectionOptions.GrpcCompression.(*client.GrpcCompressionNone); !ok {
			t.Errorf("%s: gRPC compression %T, want none", name, opts.ConnectionOptions.GrpcCompression)
		}
	}
}
