// Package webpush sends Web Push messages to browsers' push services:
// payloads encrypted as RFC 8291 says (aes128gcm, RFC 8188), the sender
// identified by VAPID (RFC 8292). Only the standard library and golang-jwt.
package webpush

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Subscription is what a browser's PushManager.subscribe returns.
type Subscription struct {
	Endpoint string
	P256dh   []byte // the browser's ECDH public key, uncompressed P-256 point
	Auth     []byte // the browser's 16-byte authentication secret
}

// CheckKeys says whether the subscription's keys can be encrypted for.
func (s Subscription) CheckKeys() error {
	_, err := s.browserKey()
	return err
}

func (s Subscription) browserKey() (*ecdh.PublicKey, error) {
	if len(s.Auth) != 16 {
		return nil, errors.New("webpush: the subscription's auth secret must be 16 bytes")
	}
	key, err := ecdh.P256().NewPublicKey(s.P256dh)
	if err != nil {
		return nil, fmt.Errorf("webpush: the subscription's p256dh key: %w", err)
	}
	return key, nil
}

// MaxPayload is the largest plaintext that fits the single 4096-byte record
// push services must accept (RFC 8291 §4).
const MaxPayload = 4096 - 16 - 1 - 86

// recordSize is the aes128gcm record size advertised in the header.
const recordSize = 4096

// Encrypt encrypts payload for sub with a fresh ephemeral key and salt.
func Encrypt(sub Subscription, payload []byte) ([]byte, error) {
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	return encrypt(sub, payload, as, salt)
}

func encrypt(sub Subscription, payload []byte, as *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("webpush: payload of %d bytes is over %d", len(payload), MaxPayload)
	}
	ua, err := sub.browserKey()
	if err != nil {
		return nil, err
	}
	secret, err := as.ECDH(ua)
	if err != nil {
		return nil, err
	}
	asPublic := as.PublicKey().Bytes()
	gcm, nonce, err := contentCipher(secret, sub.Auth, sub.P256dh, asPublic, salt)
	if err != nil {
		return nil, err
	}
	// One record: the payload, then the last-record delimiter (2).
	header := binary.BigEndian.AppendUint32(slices.Clone(salt), recordSize)
	header = append(append(header, byte(len(asPublic))), asPublic...)
	return gcm.Seal(header, nonce, append(slices.Clone(payload), 2), nil), nil
}

// Decrypt reads a message the way the subscribed browser does, given the
// subscription's private key and auth secret: for tests and tools that
// stand in for a browser.
func Decrypt(key *ecdh.PrivateKey, auth, body []byte) ([]byte, error) {
	if len(body) < 21 || len(body) < 21+int(body[20]) {
		return nil, errors.New("webpush: message too short")
	}
	salt, idlen := body[:16], int(body[20])
	as, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, fmt.Errorf("webpush: sender key: %w", err)
	}
	secret, err := key.ECDH(as)
	if err != nil {
		return nil, err
	}
	gcm, nonce, err := contentCipher(secret, auth, key.PublicKey().Bytes(), as.Bytes(), salt)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, body[21+idlen:], nil)
	if err != nil {
		return nil, fmt.Errorf("webpush: %w", err)
	}
	if len(plain) == 0 || plain[len(plain)-1] != 2 {
		return nil, errors.New("webpush: not a single final record")
	}
	return plain[:len(plain)-1], nil
}

// contentCipher derives the AES-GCM key and nonce of a message (RFC 8291 §3.4).
func contentCipher(ecdhSecret, auth, uaPublic, asPublic, salt []byte) (cipher.AEAD, []byte, error) {
	keyInfo := slices.Concat([]byte("WebPush: info\x00"), uaPublic, asPublic)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, auth, string(keyInfo), 32)
	if err != nil {
		return nil, nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, nil, err
	}
	gcm, err := cipher.NewGCM(block)
	return gcm, nonce, err
}

// VAPID identifies this application server to push services.
type VAPID struct {
	key     *ecdsa.PrivateKey
	subject string // mailto: or https: contact for the push service's operator
}

// ParseVAPID reads a private key given as the base64url P-256 scalar (the
// form web-push tools print).
func ParseVAPID(privateKey, subject string) (*VAPID, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(privateKey, "="))
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID private key: %w", err)
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID private key: %w", err)
	}
	if !strings.HasPrefix(subject, "mailto:") && !strings.HasPrefix(subject, "https://") {
		return nil, fmt.Errorf("webpush: VAPID subject %q must be a mailto: or https: URL", subject)
	}
	return &VAPID{key: key, subject: subject}, nil
}

// NewVAPIDKey returns a new private key in the form ParseVAPID reads.
func NewVAPIDKey() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	raw, err := key.Bytes()
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// PublicKey is the applicationServerKey browsers subscribe with.
func (v *VAPID) PublicKey() string {
	raw, _ := v.key.PublicKey.Bytes()
	return base64.RawURLEncoding.EncodeToString(raw)
}

// authorization is the Authorization header for a request to endpoint: a
// JWT for the push service's origin, valid for 12 hours.
func (v *VAPID) authorization(endpoint string, now time.Time) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	token := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"aud": u.Scheme + "://" + u.Host, "exp": now.Add(12 * time.Hour).Unix(), "sub": v.subject})
	signed, err := token.SignedString(v.key)
	if err != nil {
		return "", err
	}
	return "vapid t=" + signed + ", k=" + v.PublicKey(), nil
}

// ErrGone means the subscription no longer exists (the browser
// unsubscribed or the push service expired it): forget it.
var ErrGone = errors.New("webpush: subscription gone")

// Sender posts messages to push services.
type Sender struct {
	VAPID  *VAPID
	Client *http.Client
	// AllowedHosts are the push services endpoints may point at (a host,
	// or ".suffix" for its subdomains). Subscriptions come from users, so
	// without this list the function would POST wherever they say.
	AllowedHosts []string
	TTL          time.Duration // how long the push service keeps an undelivered message
}

// DefaultPushServices are the push services of Chrome, Edge, Firefox and Safari.
var DefaultPushServices = []string{"fcm.googleapis.com", ".push.services.mozilla.com", ".notify.windows.com",
	".push.apple.com"}

// CheckEndpoint says whether an endpoint may be stored and pushed to: https
// to an allowed host, or plain http to an allowed loopback host (tests and
// local push services).
func (s *Sender) CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || len(endpoint) > 2048 {
		return fmt.Errorf("webpush: endpoint is not a URL")
	}
	host := u.Hostname()
	allowed := false
	for _, a := range s.AllowedHosts {
		if a == u.Host || a == host || (strings.HasPrefix(a, ".") && strings.HasSuffix(host, a)) {
			allowed = true
		}
	}
	if !allowed {
		return fmt.Errorf("webpush: push service %s is not allowed", host)
	}
	if ip := net.ParseIP(host); u.Scheme != "https" && !(u.Scheme == "http" && ip != nil && ip.IsLoopback()) {
		return fmt.Errorf("webpush: endpoint must be https")
	}
	return nil
}

// Send encrypts payload for sub and posts it. A 404 or 410 answer returns
// ErrGone; anything but 2xx is an error.
func (s *Sender) Send(ctx context.Context, sub Subscription, payload []byte) error {
	if err := s.CheckEndpoint(sub.Endpoint); err != nil {
		return err
	}
	body, err := Encrypt(sub, payload)
	if err != nil {
		return err
	}
	auth, err := s.VAPID.authorization(sub.Endpoint, time.Now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("TTL", strconv.Itoa(int(ttl.Seconds())))
	req.Header.Set("Urgency", "normal")
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webpush: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return ErrGone
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("webpush: push service answered %s", resp.Status)
	}
	return nil
}
