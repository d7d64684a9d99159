package platform

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/functions/notification/webpush"
)

// pushService stands in for a browser vendor's push service: it records
// what is posted to each subscription and answers with a chosen status.
type pushService struct {
	srv    *httptest.Server
	mu     sync.Mutex
	posts  map[string][]*pushPost // by path
	status map[string]int
}

type pushPost struct {
	header http.Header
	body   []byte
}

func startPushService() *pushService {
	p := &pushService{posts: map[string][]*pushPost{}, status: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.posts[r.URL.Path] = append(p.posts[r.URL.Path], &pushPost{header: r.Header.Clone(), body: body})
		code := p.status[r.URL.Path]
		p.mu.Unlock()
		if code == 0 {
			code = http.StatusCreated
		}
		w.WriteHeader(code)
	}))
	return p
}

func (p *pushService) host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

func (p *pushService) count(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.posts[path])
}

// wait returns the n-th post to path (1-based), failing after a while.
func (p *pushService) wait(t *testing.T, path string, n int) *pushPost {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for p.count(path) < n {
		if time.Now().After(deadline) {
			t.Fatalf("push service got %d posts to %s, want %d", p.count(path), path, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.posts[path][n-1]
}

// pushBrowser is a browser's push subscription: its keys and endpoint.
type pushBrowser struct {
	key  *ecdh.PrivateKey
	auth []byte
	path string
}

func subscribeBrowser(t *testing.T, u user) pushBrowser {
	return subscribeBrowserAt(t, u, "/push/"+u.id)
}

// subscribeBrowserAt subscribes one more browser of u, pushed to at path.
func subscribeBrowserAt(t *testing.T, u user, path string) pushBrowser {
	key, _ := ecdh.P256().GenerateKey(rand.Reader)
	b := pushBrowser{key: key, auth: make([]byte, 16), path: path}
	rand.Read(b.auth)
	enc := base64.RawURLEncoding.EncodeToString
	rest(t, "POST", "/api/v1/push/subscriptions", u.token, map[string]any{"endpoint": pushes.srv.URL + b.path,
		"keys": map[string]string{"p256dh": enc(key.PublicKey().Bytes()), "auth": enc(b.auth)}}, 201, nil)
	return b
}

// waitForSubscriptions waits until u has n Web Push subscriptions stored
// (the notification function's own collection: no API lists them).
func waitForSubscriptions(t *testing.T, u user, n int64) {
	t.Helper()
	mc, err := mongo.Connect(options.Client().ApplyURI(stack.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Disconnect(context.Background())
	subs := mc.Database("parley").Collection("push_subscriptions")
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := subs.CountDocuments(context.Background(), bson.M{"user_id": u.id})
		if err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d push subscriptions (%v), want %d", u.name, got, err, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitForWelcome waits until u's welcome notification is stored: its
// user.created event has been handled.
func waitForWelcome(t *testing.T, u user) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var list struct{ Notifications []struct{ Kind string } }
		rest(t, "GET", "/api/v1/notifications", u.token, nil, 200, &list)
		for _, n := range list.Notifications {
			if n.Kind == "welcome" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no welcome notification for %s within 15s", u.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOfflineUsersGetWebPushOnTheirSubscribedBrowsers(t *testing.T) {
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	var key struct {
		VapidPublicKey string `json:"vapid_public_key"`
	}
	rest(t, "GET", "/api/v1/push/key", bob.token, nil, 200, &key)
	waitForWelcome(t, bob) // handled before the browser subscribes, so it is never pushed there
	browser := subscribeBrowser(t, bob)

	// Bob is offline: the mention goes to his browser, encrypted for it and
	// signed with the key browsers subscribe with.
	a := dial(t, plat.url, ada)
	a.write(frame{"type": "watch", "user_ids": []string{bob.id}})
	a.sendText(room, "lunch, @"+bob.name+"?")
	post := pushes.wait(t, browser.path, 1)
	plain, err := webpush.Decrypt(browser.key, browser.auth, post.body)
	if err != nil {
		t.Fatal(err)
	}
	var shown struct{ Title, Body, URL, Tag string }
	if err := json.Unmarshal(plain, &shown); err != nil {
		t.Fatalf("payload %q: %v", plain, err)
	}
	if shown.Title != "@"+ada.name+" mentioned you" || !strings.Contains(shown.Body, "lunch") || !strings.Contains(shown.URL, room) {
		t.Errorf("push payload %+v", shown)
	}
	tok, k, _ := strings.Cut(strings.TrimPrefix(post.header.Get("Authorization"), "vapid t="), ", k=")
	if k != key.VapidPublicKey {
		t.Fatalf("signed with %q, browsers subscribed with %q", k, key.VapidPublicKey)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(k)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithAudience(pushes.srv.URL)); err != nil {
		t.Errorf("VAPID token: %v", err)
	}

	// Online, Bob gets the notification on his socket and no push.
	b := dial(t, plat.url, bob)
	a.sendText(room, "still hungry, @"+bob.name+"?")
	// The function publishes to the socket or pushes, never both: a push it
	// made here would be counted in the checks below.
	b.expect("notification", nil)
	b.conn.Close()
	a.expect("presence", func(f frame) bool { return f.str("user_id") == bob.id && f.str("status") == "offline" })

	// The push service says the subscription is gone: it is forgotten, so
	// the next mention goes only to bob's other browser. The two mentions
	// are sent one after the other: handled at once, both would find the
	// subscription before the 410 removed it.
	other := subscribeBrowserAt(t, bob, browser.path+"/other")
	pushes.mu.Lock()
	pushes.status[browser.path] = http.StatusGone
	pushes.mu.Unlock()
	a.sendText(room, "@"+bob.name+" gone?")
	pushes.wait(t, browser.path, 2)
	waitForSubscriptions(t, bob, 1)
	a.sendText(room, "@"+bob.name+" really gone?")
	pushes.wait(t, other.path, 2) // the subscriptions this mention was pushed to were read after the removal
	if n := pushes.count(browser.path); n != 2 {
		t.Errorf("pushed %d times; the gone subscription should have been dropped after the 410", n)
	}
	rest(t, "DELETE", "/api/v1/push/subscriptions", bob.token, map[string]string{"endpoint": pushes.srv.URL + browser.path}, 404, nil)
}

func TestPushSubscriptionsAreValidated(t *testing.T) {
	bob := newUser(t)
	enc := base64.RawURLEncoding.EncodeToString
	key, _ := ecdh.P256().GenerateKey(rand.Reader)
	good := map[string]string{"p256dh": enc(key.PublicKey().Bytes()), "auth": enc(make([]byte, 16))}
	for name, body := range map[string]map[string]any{
		"not a push service": {"endpoint": "https://evil.example/x", "keys": good},
		"internal address":   {"endpoint": "http://169.254.169.254/latest", "keys": good},
		"bad key":            {"endpoint": pushes.srv.URL + "/push/x", "keys": map[string]string{"p256dh": "AAAA", "auth": good["auth"]}},
		"no keys":            {"endpoint": pushes.srv.URL + "/push/x"},
	} {
		t.Run(name, func(t *testing.T) {
			rest(t, "POST", "/api/v1/push/subscriptions", bob.token, body, 400, nil)
		})
	}
	b := subscribeBrowser(t, bob)
	rest(t, "DELETE", "/api/v1/push/subscriptions", bob.token, map[string]string{"endpoint": pushes.srv.URL + b.path}, 204, nil)
	rest(t, "POST", "/api/v1/push/subscriptions", "", map[string]any{"endpoint": pushes.srv.URL + "/push/x", "keys": good}, 401, nil)
}
