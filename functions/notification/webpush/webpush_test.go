package webpush

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 8291 §5 and Appendix A: fixed keys and salt give a known message.
func TestEncryptMatchesRFC8291Example(t *testing.T) {
	sub := Subscription{
		P256dh: b64(t, "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
		Auth:   b64(t, "BTBZMqHH6r4Tts7J_aSIgg"),
	}
	as, err := ecdh.P256().NewPrivateKey(b64(t, "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := encrypt(sub, []byte("When I grow up, I want to be a watermelon"), as, b64(t, "DGv6ra1nlYgDCS1FRnbzlw"))
	if err != nil {
		t.Fatal(err)
	}
	want := "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
	if s := base64.RawURLEncoding.EncodeToString(got); s != want {
		t.Errorf("encrypt = %s\nwant       %s", s, want)
	}
	// And the browser's side of the same example.
	ua, err := ecdh.P256().NewPrivateKey(b64(t, "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Decrypt(ua, sub.Auth, b64(t, want))
	if err != nil || string(plain) != "When I grow up, I want to be a watermelon" {
		t.Errorf("Decrypt = %q, %v", plain, err)
	}
	tampered := b64(t, want)
	tampered[len(tampered)-1] ^= 1
	if _, err := Decrypt(ua, sub.Auth, tampered); err == nil {
		t.Error("decrypted a tampered message")
	}
}

// browser is the receiving side: a subscription and the key to read what
// is sent to it, decrypted the way a user agent does (RFC 8291 §3.4).
type browser struct {
	key  *ecdh.PrivateKey
	auth []byte
}

func newBrowser(t *testing.T) browser {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return browser{key: key, auth: auth}
}

func (b browser) subscription(endpoint string) Subscription {
	return Subscription{Endpoint: endpoint, P256dh: b.key.PublicKey().Bytes(), Auth: b.auth}
}

func (b browser) decrypt(t *testing.T, body []byte) []byte {
	t.Helper()
	if rs, idlen := binary.BigEndian.Uint32(body[16:20]), body[20]; rs != 4096 || idlen != 65 {
		t.Fatalf("record size %d, key id length %d", rs, idlen)
	}
	plain, err := Decrypt(b.key, b.auth, body)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func newSender(t *testing.T, srv *httptest.Server) *Sender {
	key, err := NewVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVAPID(key, "mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return &Sender{VAPID: v, Client: srv.Client(), AllowedHosts: []string{strings.TrimPrefix(srv.URL, "http://")}}
}

func TestSendDeliversAnEncryptedMessageSignedWithVAPID(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, must(io.ReadAll(r.Body))
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	s := newSender(t, srv)
	b := newBrowser(t)
	payload := []byte(`{"title":"@ada mentioned you","body":"hi @bob"}`)
	if err := s.Send(context.Background(), b.subscription(srv.URL+"/push/abc"), payload); err != nil {
		t.Fatal(err)
	}
	if plain := b.decrypt(t, body); !bytes.Equal(plain, payload) {
		t.Errorf("decrypted %q", plain)
	}
	for h, want := range map[string]string{"Content-Encoding": "aes128gcm", "TTL": "86400"} {
		if got.Header.Get(h) != want {
			t.Errorf("%s = %q, want %q", h, got.Header.Get(h), want)
		}
	}
	// The VAPID token verifies with the public key the header carries and
	// names the push service's origin.
	auth := got.Header.Get("Authorization")
	tok, k, ok := strings.Cut(strings.TrimPrefix(auth, "vapid t="), ", k=")
	if !ok || k != s.VAPID.PublicKey() {
		t.Fatalf("Authorization = %q", auth)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b64(t, k))
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(srv.URL), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("VAPID token: %v", err)
	}
	if exp, _ := claims.GetExpirationTime(); time.Until(exp.Time) > 24*time.Hour {
		t.Errorf("token valid until %v: push services refuse more than 24 h", exp)
	}
}

func TestGoneSubscriptionsAndRefusedEndpoints(t *testing.T) {
	status := http.StatusGone
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	s := newSender(t, srv)
	sub := newBrowser(t).subscription(srv.URL + "/push/abc")
	if err := s.Send(context.Background(), sub, []byte("x")); !errors.Is(err, ErrGone) {
		t.Errorf("410: %v, want ErrGone", err)
	}
	status = http.StatusTooManyRequests
	if err := s.Send(context.Background(), sub, []byte("x")); err == nil || errors.Is(err, ErrGone) {
		t.Errorf("429: %v, want a plain error", err)
	}
	s.AllowedHosts = append(s.AllowedHosts, "fcm.googleapis.com", ".push.apple.com")
	for endpoint, ok := range map[string]bool{
		"https://fcm.googleapis.com/fcm/send/x":  true,
		"https://web.push.apple.com/x":           true,
		"http://fcm.googleapis.com/fcm/send/x":   false, // not https
		"https://evil.example/x":                 false, // not a push service
		"https://fcm.googleapis.com.evil.com/x":  false,
		"http://169.254.169.254/latest/metadata": false,
		"not a url":                              false,
	} {
		if err := s.CheckEndpoint(endpoint); (err == nil) != ok {
			t.Errorf("CheckEndpoint(%s) = %v", endpoint, err)
		}
	}
	if err := s.Send(context.Background(), Subscription{Endpoint: "https://evil.example/x"}, []byte("x")); err == nil {
		t.Error("sent to a host that is not a push service")
	}
	if _, err := Encrypt(sub, make([]byte, MaxPayload+1)); err == nil {
		t.Error("encrypted a payload over one record")
	}
	if _, err := Encrypt(Subscription{P256dh: []byte{4, 1}, Auth: make([]byte, 16)}, []byte("x")); err == nil {
		t.Error("accepted a malformed p256dh key")
	}
}

func TestParseVAPIDRejectsBadKeysAndSubjects(t *testing.T) {
	key, _ := NewVAPIDKey()
	for _, c := range []struct{ key, subject string }{{"", "mailto:a@b"}, {"AAAA", "mailto:a@b"}, {key, "ops@example.com"}} {
		if _, err := ParseVAPID(c.key, c.subject); err == nil {
			t.Errorf("ParseVAPID(%q, %q) accepted", c.key, c.subject)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
