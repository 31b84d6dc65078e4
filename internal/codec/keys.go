// Package codec encrypts what PayPortal writes into Temporal: every payload (workflow and
// activity inputs and results, signal, update and query arguments, schedule arguments) and,
// through the failure converter, every failure message and stack trace. Anyone who reads the
// namespace, its database or an exported history without the key sees ciphertext; the
// codec server (Handler) decodes for the Temporal UI and CLI of whoever may reach it.
//
// Keys come from PAYPORTAL_PAYLOAD_KEYS as a key ring, "id:base64key,id:base64key": the
// first key encrypts, every key decrypts, and each payload names its key in its metadata.
// Rotation is therefore: put a new key first and keep the old ones after it for as long as
// histories encrypted with them are read (their retention, plus running workflows).
package codec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

// DevelopmentKeyID names the development key: `payportal dev`, the tests and docker compose
// use it when PAYPORTAL_PAYLOAD_KEYS is unset in development. Its bytes are in this file,
// so what it encrypts is as good as plain text; production refuses it.
const DevelopmentKeyID = "payportal-dev-key-not-secret"

// developmentKey is public by design: see DevelopmentKeyID.
var developmentKey = []byte("payportal-development-key-public")

// DevelopmentKeyRing is the ring of the development key alone.
func DevelopmentKeyRing() KeyRing {
	return KeyRing{keys: []key{newKey(DevelopmentKeyID, developmentKey)}}
}

// DevelopmentKeyRingSpec is the development ring as PAYPORTAL_PAYLOAD_KEYS would spell it, to
// decode development histories elsewhere (a trial's exported history, say).
func DevelopmentKeyRingSpec() string {
	return DevelopmentKeyID + ":" + base64.StdEncoding.EncodeToString(developmentKey)
}

// KeyRing is the set of payload keys; the first one encrypts. The zero KeyRing holds no key.
// It never prints its keys: String and GoString show the key ids only.
type KeyRing struct {
	keys []key
}

type key struct {
	id     string
	secret []byte
	aead   cipher.AEAD
}

func newKey(id string, secret []byte) key {
	block, err := aes.NewCipher(secret)
	if err != nil {
		panic("codec: " + err.Error()) // ParseKeyRing checked the length
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("codec: " + err.Error())
	}
	return key{id: id, secret: secret, aead: aead}
}

// ParseKeyRing reads "id:base64key,id:base64key": ids of letters, digits, '.', '_' and '-',
// each key 32 bytes in standard or URL-safe base64 (`openssl rand -base64 32`). Errors
// name the entry by its position and id, never the key.
func ParseKeyRing(spec string) (KeyRing, error) {
	var ring KeyRing
	seen := map[string]bool{}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, encoded, ok := strings.Cut(entry, ":")
		id = strings.TrimSpace(id)
		if !ok || !validKeyID(id) {
			return KeyRing{}, fmt.Errorf("key %d: want id:base64key with an id of letters, digits, '.', '_' or '-'", i+1)
		}
		if seen[id] {
			return KeyRing{}, fmt.Errorf("key %d: id %q appears twice", i+1, id)
		}
		seen[id] = true
		secret, err := decodeKey(strings.TrimSpace(encoded))
		if err != nil {
			return KeyRing{}, fmt.Errorf("key %d (%s): %w", i+1, id, err)
		}
		ring.keys = append(ring.keys, newKey(id, secret))
	}
	if len(ring.keys) == 0 {
		return KeyRing{}, errors.New("no key; want id:base64key[,id:base64key...]")
	}
	return ring, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("the key is %d bytes, want %d (AES-256; e.g. `openssl rand -base64 32`)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("the key is not base64")
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// IsZero reports whether the ring holds no key.
func (r KeyRing) IsZero() bool { return len(r.keys) == 0 }

// IDs are the key ids, the encrypting one first.
func (r KeyRing) IDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

// HoldsDevelopmentKey reports whether the public development key is in the ring, under any id.
func (r KeyRing) HoldsDevelopmentKey() bool {
	for _, k := range r.keys {
		if k.id == DevelopmentKeyID || bytes.Equal(k.secret, developmentKey) {
			return true
		}
	}
	return false
}

// String shows the key ids only.
func (r KeyRing) String() string { return "KeyRing[" + strings.Join(r.IDs(), ",") + "]" }

// GoString keeps %#v from printing the keys.
func (r KeyRing) GoString() string { return r.String() }

func (r KeyRing) encrypting() (key, bool) {
	if len(r.keys) == 0 {
		return key{}, false
	}
	return r.keys[0], true
}

func (r KeyRing) byID(id string) (key, bool) {
	for _, k := range r.keys {
		if k.id == id {
			return k, true
		}
	}
	return key{}, false
}

// Seal encrypts a small secret for storage (a webhook signing secret): the encrypting key's
// id, a NUL, the nonce and the AES-GCM ciphertext. Open takes it back with any key of the
// ring, so rotation works as for payloads.
func (r KeyRing) Seal(plain []byte) ([]byte, error) {
	k, ok := r.encrypting()
	if !ok {
		return nil, errors.New("codec: no key to seal with")
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte(k.id+"\x00"), nonce...)
	return k.aead.Seal(out, nonce, plain, []byte(k.id)), nil
}

// Open decrypts what Seal made.
func (r KeyRing) Open(sealed []byte) ([]byte, error) {
	id, rest, ok := bytes.Cut(sealed, []byte{0})
	if !ok {
		return nil, errors.New("codec: sealed secret without key id")
	}
	k, ok := r.byID(string(id))
	if !ok {
		return nil, fmt.Errorf("codec: sealed with key %q, not in the ring", id)
	}
	if len(rest) < k.aead.NonceSize() {
		return nil, errors.New("codec: sealed secret too short")
	}
	plain, err := k.aead.Open(nil, rest[:k.aead.NonceSize()], rest[k.aead.NonceSize():], id)
	if err != nil {
		return nil, fmt.Errorf("codec: open sealed secret: %w", err)
	}
	return plain, nil
}
