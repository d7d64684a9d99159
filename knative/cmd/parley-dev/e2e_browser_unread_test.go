package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// testBrowserUnread drives, at desktop and phone width, what keeps people
// oriented across tabs: per-room unread badges of messages and mentions
// that clear on read in every tab, a session that survives a reload and a
// new tab and ends in all tabs at one logout, and the welcome notification
// behind the bell.
func (s *runningStack) testBrowserUnread(t *testing.T) {
	root, shots := screenshotDir(t)
	bctx := browser(t)
	for _, w := range []struct {
		name          string
		width, height int64
		phone         bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		t.Run(w.name, func(t *testing.T) {
			viewport := chromedp.EmulateViewport(w.width, w.height)
			if w.phone {
				viewport = chromedp.EmulateViewport(w.width, w.height, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
			}
			s.unreadAndSessions(t, bctx, root, shots, w.name, viewport)
		})
	}
}

func (s *runningStack) unreadAndSessions(t *testing.T, bctx context.Context, root, shots, width string, viewport chromedp.Action[chromedp.Void]) {
	suffix := strings.ReplaceAll(uuid.NewString()[:6], "-", "")
	name := "dee" + suffix
	shot := func(b *tab, n string) { b.shot("30-" + width + "-" + n) }
	badge := func(room string) string {
		return fmt.Sprintf(`//nav//button[contains(., %q)]//span[@data-testid="unread"]`, room)
	}
	list := `//nav[@aria-label="Rooms"]`

	// A new account finds its welcome behind the bell.
	one := newPerson(t, bctx, shots)
	one.run("viewport", viewport)
	one.signUp(s.url, name)
	one.waitText("the bell counts the welcome", `//button[@data-testid="bell"][contains(@aria-label, "1 unread")]`)
	shot(one, "01-bell")
	one.run("open the bell", chromedp.Click(`//button[@data-testid="bell"]`),
		chromedp.WaitVisible(`//section[@aria-label="Notifications"]//li[contains(., "Welcome to Parley")]`))
	shot(one, "02-welcome")
	one.axe(root, width+" notifications")
	// Present, not visible: on a phone the list hides the room list and its bell.
	one.run("seen: the bell clears", chromedp.WaitReady(`//button[@data-testid="bell"][@aria-label="Notifications"]`))

	// Someone else makes two rooms with dee in them and writes in one.
	eve := s.wsUser(t, "eve"+suffix)
	eve.room(t, "quiet-"+suffix, name)
	busy := eve.room(t, "busy-"+suffix, name)
	if width == "phone" {
		one.run("back to the rooms", chromedp.Click(`//button[contains(., "Back")]`), chromedp.WaitVisible(list))
	} else {
		one.run("open the quiet room", chromedp.Click(`//nav//button[contains(., "quiet-`+suffix+`")]`), chromedp.WaitVisible(`#composer`))
	}
	one.waitText("both rooms listed", `//nav//button[contains(., "busy-`+suffix+`")]`)
	eve.say(t, busy, "hello there")
	eve.say(t, busy, "@"+name+" have a look")
	one.waitText("the busy room's badge: 2 messages, 1 mention", badge("busy-"+suffix)+`[contains(., "2 unread messages, 1 mention")]`)
	if n := one.count(`document.querySelectorAll('nav span[data-testid="unread"]').length`); n != 1 {
		t.Errorf("%d rooms have a badge, want 1 (the quiet room has nothing unread)", n)
	}
	shot(one, "03-unread-badge")
	one.axe(root, width+" room list with unread badges")

	// A new tab is signed in at once, and gets the same counts from the server.
	two := newTab(t, one.ctx, shots) // the same person's browser: its cookies and storage
	two.run("second tab", viewport, chromedp.Navigate(s.url), chromedp.WaitVisible(list))
	two.waitText("the second tab shows the badge", badge("busy-"+suffix)+`[contains(., "2 unread messages, 1 mention")]`)
	two.run("the mention is behind its bell", chromedp.WaitReady(`//button[@data-testid="bell"][contains(@aria-label, "1 unread")]`))
	shot(two, "04-second-tab")

	// Reading the room in the first tab clears the badge in the second.
	one.run("read the busy room", chromedp.Click(`//nav//button[contains(., "busy-`+suffix+`")]`),
		chromedp.WaitVisible(`//li[@data-testid="message"]//p[contains(., "have a look")]`))
	two.run("the badge clears in the other tab", chromedp.WaitNotPresent(badge("busy-"+suffix)))
	// The mention was behind the bell too: read in the room, read there.
	two.run("the bell clears with it", chromedp.WaitReady(`//button[@data-testid="bell"][@aria-label="Notifications"]`))
	shot(two, "05-read-elsewhere")
	// Once the room is left, what arrives counts again, in both tabs.
	if width == "phone" {
		one.run("leave the room", chromedp.Click(`//button[contains(., "Back")]`), chromedp.WaitVisible(list))
	} else {
		one.run("leave the room", chromedp.Click(`//nav//button[contains(., "quiet-`+suffix+`")]`), chromedp.WaitVisible(`//h2[contains(., "quiet-`+suffix+`")]`))
	}
	eve.say(t, busy, "one more")
	newOne := badge("busy-"+suffix) + `[contains(., "1 unread message")]`
	two.waitText("a new message counts in the second tab", newOne)
	one.waitText("and in the first", newOne)

	// A reload keeps the session and the counts; no token is where a script could read it.
	one.run("reload", chromedp.Reload(), chromedp.WaitVisible(newOne))
	if leak := evalJS[string](one, `JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie`); strings.Contains(leak, "eyJ") || strings.Contains(leak, "parley_refresh") {
		t.Errorf("a token is readable by scripts: %s", leak)
	}
	shot(one, "06-after-reload")

	// Logging out in one tab signs the other out at once, and for good.
	one.run("log out", chromedp.Click(`//button[.="Log out"]`), chromedp.WaitVisible(`#login`))
	two.run("the other tab is signed out", chromedp.WaitVisible(`#login`), chromedp.WaitNotPresent(list))
	shot(two, "07-signed-out-elsewhere")
	two.run("and stays so after a reload", chromedp.Reload(), chromedp.WaitVisible(`#login`))
	if n := two.count(`document.querySelectorAll('nav[aria-label="Rooms"]').length`); n != 0 {
		t.Error("a reload after logout shows the rooms")
	}
}

// wsUser is a second person, driven over the API and a WebSocket.
type wsUser struct {
	s     *runningStack
	token string
	conn  *websocket.Conn
}

func (s *runningStack) wsUser(t *testing.T, name string) *wsUser {
	t.Helper()
	token, _, _ := s.register(t, name)
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(s.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	u := &wsUser{s: s, token: token, conn: conn}
	u.write(t, map[string]any{"type": "auth", "id": "auth", "token": token})
	u.await(t, func(f map[string]any) bool { return f["type"] == "ready" })
	return u
}

func (u *wsUser) write(t *testing.T, f map[string]any) {
	t.Helper()
	if err := u.conn.WriteJSON(f); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// await reads frames until one matches, for at most 30 s.
func (u *wsUser) await(t *testing.T, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	u.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var f map[string]any
		if err := u.conn.ReadJSON(&f); err != nil {
			t.Fatalf("read: %v", err)
		}
		if f["type"] == "error" {
			t.Fatalf("error frame: %v", f)
		}
		if ok(f) {
			return f
		}
	}
}

// room creates a public room and invites a user by name.
func (u *wsUser) room(t *testing.T, name, invitee string) string {
	t.Helper()
	r := u.s.json(t, "POST", "/api/v1/rooms", u.token, map[string]string{"name": name})
	if r.status != http.StatusCreated {
		t.Fatalf("create room: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	found := u.s.call(t, "GET", "/api/v1/users?prefix="+invitee, u.token, "", nil)
	users, _ := found.body["users"].([]any)
	if len(users) != 1 {
		t.Fatalf("find %s: %s", invitee, found.raw)
	}
	invited := users[0].(map[string]any)["id"].(string)
	if r := u.s.json(t, "POST", "/api/v1/rooms/"+id+"/invites", u.token, map[string]string{"user_id": invited}); r.status != http.StatusCreated {
		t.Fatalf("invite: %d %s", r.status, r.raw)
	}
	return id
}

// say sends a message and waits for its ack.
func (u *wsUser) say(t *testing.T, room, text string) {
	t.Helper()
	id := uuid.NewString()
	u.write(t, map[string]any{"type": "send", "id": id, "room_id": room, "client_msg_id": id, "text": text})
	u.await(t, func(f map[string]any) bool { return f["type"] == "ack" && f["id"] == id })
}
