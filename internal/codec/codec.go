package codec

import (
	"crypto/rand"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload. The format is the one Temporal's encryption samples use
// in every SDK: data is the 12-byte nonce followed by the AES-256-GCM sealing of the whole
// original payload (its metadata included, so even the encoding is hidden).
const (
	MetadataEncoding  = converter.MetadataEncoding // "encoding"
	EncodingEncrypted = "binary/encrypted"
	MetadataKeyID     = "encryption-key-id"
)

// Codec is the payload codec over a key ring (converter.PayloadCodec).
type Codec struct {
	keys KeyRing
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New is the codec over keys.
func New(keys KeyRing) *Codec { return &Codec{keys: keys} }

// Keys is the codec's key ring.
func (c *Codec) Keys() KeyRing { return c.keys }

// DataConverter is Temporal's default converter with every payload encrypted: what every
// PayPortal client, worker and replayer uses.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter moves each failure's message and stack trace into an encrypted payload,
// so the history shows "Encoded failure" where a decline reason or an email would be.
func (c *Codec) FailureConverter() converter.FailureConverter {
	return decodingCopies{temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          c.DataConverter(),
		EncodeCommonAttributes: true,
	})}
}

// decodingCopies decodes a copy of each failure. The SDK's converter (1.51) writes the
// decrypted message and stack trace into the failure it is given, and a local activity's
// failure is the very one its marker then sends to the server: without the copy, the
// history would show the message in the clear beside its encrypted version.
type decodingCopies struct{ inner converter.FailureConverter }

func (d decodingCopies) ErrorToFailure(err error) *failurepb.Failure {
	return d.inner.ErrorToFailure(err)
}

func (d decodingCopies) FailureToError(f *failurepb.Failure) error {
	if f == nil {
		return nil
	}
	return d.inner.FailureToError(proto.Clone(f).(*failurepb.Failure))
}

// WithSerializationContext keeps the SDK's per-workflow and per-activity contexts.
func (d decodingCopies) WithSerializationContext(ctx converter.SerializationContext) converter.FailureConverter {
	return decodingCopies{converter.WithFailureConverterSerializationContext(d.inner, ctx)}
}

// Encode encrypts every payload with the ring's first key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	k, ok := c.keys.encrypting()
	if !ok {
		return nil, fmt.Errorf("encrypt payloads: no payload key (PAYPORTAL_PAYLOAD_KEYS)")
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plain)+k.aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:    []byte(k.id),
			},
			Data: k.aead.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

// Decode decrypts the encrypted payloads with the key each names and passes any other payload
// through unchanged: histories written before encryption (the replay corpus, runs started
// by an older release) still read.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		k, ok := c.keys.byID(id)
		if !ok {
			return nil, fmt.Errorf("decrypt payload: it was encrypted with key %q, which the key ring (%s) does not hold; "+
				"keep retired keys in PAYPORTAL_PAYLOAD_KEYS after the new one", id, c.keys)
		}
		data := p.GetData()
		if len(data) < k.aead.NonceSize() {
			return nil, fmt.Errorf("decrypt payload (key %q): %d bytes, shorter than a nonce", id, len(data))
		}
		plain, err := k.aead.Open(nil, data[:k.aead.NonceSize()], data[k.aead.NonceSize():], nil)
		if err != nil {
			return nil, fmt.Errorf("decrypt payload (key %q): %w", id, err)
		}
		var inner commonpb.Payload
		if err := proto.Unmarshal(plain, &inner); err != nil {
			return nil, fmt.Errorf("decrypt payload (key %q): not a payload: %w", id, err)
		}
		out[i] = &inner
	}
	return out, nil
}
