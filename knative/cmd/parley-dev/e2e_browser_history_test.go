package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// historySize is how many messages the long room holds: 30 pages of history.
const historySize = 3000

// testBrowserHistory reads a room of thousands of messages back to its
// first one by scrolling, at desktop and phone width, jumps back to the
// latest, checks Markdown and an XSS attempt, the reason a hidden message's
// author is shown, and Retry now after the connector's connection drops.
func (s *runningStack) testBrowserHistory(t *testing.T) {
	root, shots := screenshotDir(t)

	ada, _, _ := s.register(t, "histada")
	room := s.json(t, "POST", "/api/v1/rooms", ada, map[string]string{"name": "long-history"})
	if room.status != http.StatusCreated {
		t.Fatalf("create room: %d %s", room.status, room.raw)
	}
	roomID := room.body["id"].(string)
	seeders := []string{"histbob"}
	for i := 1; i < 12; i++ {
		seeders = append(seeders, fmt.Sprint("histseed", i))
	}
	tokens := make([]string, len(seeders))
	for i, name := range seeders {
		tokens[i], _, _ = s.register(t, name)
		if r := s.json(t, "POST", "/api/v1/rooms/"+roomID+"/join", tokens[i], nil); r.status >= 300 {
			t.Fatalf("%s joins: %d %s", name, r.status, r.raw)
		}
	}

	// Seed: the first message, then thousands from many senders at once
	// (each sender's rate is limited), then Markdown and markup last.
	start := time.Now()
	adaWS := dialParley(t, s.url, ada)
	if err := adaWS.sendAll(roomID, []string{"the very first message"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(seeders))
	per := historySize / len(seeders)
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			texts := make([]string, per)
			for j := range texts {
				texts[j] = fmt.Sprintf("history %d from %s", i*per+j, seeders[i])
			}
			c, err := dialParleyErr(s.url, tok)
			if err == nil {
				defer c.conn.Close()
				err = c.sendAll(roomID, texts)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("seeding: %v", err)
		}
	}
	markdown := "**bold words** and _leaning words_ with `inline code`, a [link](https://example.org/docs) for @histbob"
	// The code line is wider than a phone, so its block scrolls sideways and must be reachable by keyboard.
	code := `func main() { fmt.Println("a line of code that is wider than a phone screen") }`
	block := "```\n" + code + "\n```\n> a quoted line"
	xss := `<img src=x onerror=alert(1)> [click me](javascript:alert(1)) <script>alert(2)</script>`
	if err := adaWS.sendAll(roomID, []string{markdown, block, xss}); err != nil {
		t.Fatal(err)
	}
	adaWS.conn.Close()
	t.Logf("seeded %d messages in %s", historySize+4, time.Since(start).Round(time.Millisecond))

	bctx := browser(t)
	desk := newPerson(t, bctx, shots)
	desk.logErrors()
	desk.run("desktop width", chromedp.EmulateViewport(1280, 800))
	desk.logIn(s.url, "histada")
	desk.run("open the long room", chromedp.Click(`//nav//button[contains(., "long-history")]`),
		chromedp.WaitVisible(`//li[@data-testid="message"]//p[contains(., "a quoted line")]`))

	// Markdown renders as elements; markup and a javascript: link stay text.
	got := evalJS[[]string](desk, `(() => {
		const ol = document.querySelector('ol[aria-label="Messages"]');
		const a = ol.querySelector('a[href="https://example.org/docs"]');
		return [ol.querySelector("strong")?.textContent, ol.querySelector("li em")?.textContent, ol.querySelector("p code")?.textContent,
			a ? a.textContent + " " + a.target + " " + a.rel : "no link", ol.querySelector("pre code")?.textContent,
			ol.querySelector("blockquote")?.textContent, ol.querySelector("[data-mention]")?.textContent.trim() + " " + ol.querySelector("[data-mention]")?.dataset.mention,
			String(ol.querySelectorAll("img, script, a[href^='javascript'], a[href^='JavaScript']").length)];
	})()`)
	want := []string{"bold words", "leaning words", "inline code", "link _blank noopener noreferrer", code, "a quoted line", "@histbob other", "0"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("rendered Markdown %q, want %q", got, want)
	}
	desk.waitText("markup shows as text", `//li[@data-testid="message"]//p[contains(., "[click me](javascript:alert(1))") and contains(., "<img src=x onerror=alert(1)>")]`)
	desk.shot("30-history-desktop-markdown")
	desk.axe(root, "desktop long room with Markdown")

	// The author of a hidden message is told why, also after a reload;
	// other members are not.
	desk.run("send a toxic message", chromedp.SendKeys(`#composer`, "you are an idiot"), chromedp.Click(`//button[.="Send"]`))
	reason := `//li[@data-testid="message"]//em[@data-testid="hidden-reason"][contains(., "Hidden by moderation: flagged as toxic")]`
	desk.waitText("the author sees why", reason)
	desk.shot("31-history-desktop-hidden-reason")
	desk.run("reload", chromedp.Reload(), chromedp.WaitVisible(reason))

	// Scrolling back keeps the row in view in place while a page lands above it.
	desk.readBack(t, "desktop")
	desk.shot("32-history-desktop-first-message")
	desk.axe(root, "desktop long room at its first message")
	desk.jumpToLatest(t, "desktop")

	phone := newPerson(t, bctx, shots)
	phone.logErrors()
	phone.run("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	phone.logIn(s.url, "histbob")
	phone.run("open the long room", chromedp.Click(`//nav//button[contains(., "long-history")]`),
		chromedp.WaitVisible(`//li[@data-testid="message"]//em[.="hidden by moderation"]`))
	if n := phone.count(`document.querySelectorAll('[data-testid="hidden-reason"]').length`); n != 0 {
		t.Errorf("another member is shown why ada's message was hidden (%d)", n)
	}
	if n := phone.count(`document.querySelectorAll('li[data-mentions-me] [data-mention="me"]').length`); n != 1 {
		t.Errorf("bob's own mention is highlighted in %d rows, want 1", n)
	}
	phone.noSideScroll("phone long room")
	phone.shot("33-history-phone-latest")
	phone.axe(root, "phone long room")
	phone.readBack(t, "phone")
	phone.shot("34-history-phone-first-message")
	phone.axe(root, "phone long room at its first message")
	phone.jumpToLatest(t, "phone")

	desk.retryNow(t, s, root)
	// The list is not a live region (scrolling would read rows out): a new
	// message from someone else is read out from a region of its own.
	phone.until("a screen reader hears the new message", `[...document.querySelectorAll('p[aria-live="polite"]')].some((p) => p.textContent === "histada: back again")`)
}

// logErrors logs the page's uncaught exceptions and console errors, so a
// failure says what broke in the page.
func (b *tab) logErrors() {
	var mu sync.Mutex
	var seen []string
	chromedp.Listen(b.ctx, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			line = "page exception: " + ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil {
				line += " " + ex.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type != "error" {
				return
			}
			line = "console error:"
			for _, a := range ev.Args {
				line += " " + string(a.Value) + a.Description
			}
		default:
			return
		}
		mu.Lock()
		seen = append(seen, line)
		mu.Unlock()
	})
	// Logged before the tab closes; whatever comes later is not.
	b.t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range seen {
			b.t.Log(l)
		}
	})
}

// logIn signs in with the password register gave the account.
func (b *tab) logIn(url, name string) {
	b.run("log in "+name, chromedp.Navigate(url), chromedp.WaitVisible(`#login`),
		chromedp.SendKeys(`#login`, name), chromedp.SendKeys(`#password`, "correct horse "+name),
		chromedp.Click(`//button[@type="submit"]`), chromedp.WaitVisible(`//nav[@aria-label="Rooms"]`))
}

// listState is what the message list shows: the first row in view (its
// seq and top), how many rows are in the DOM, whether the room's start is
// shown, and whether a page is being loaded.
type listState struct {
	Seq     int     `json:"seq"`
	Top     float64 `json:"top"`
	Rows    int     `json:"rows"`
	AtStart bool    `json:"atStart"`
	Loading bool    `json:"loading"`
	First   bool    `json:"first"`
	Height  int     `json:"height"`
	BoxTop  float64 `json:"boxTop"`
}

const listStateJS = `(() => {
	const ol = document.querySelector('ol[aria-label="Messages"]'), box = ol.getBoundingClientRect();
	const li = [...ol.querySelectorAll('li[data-testid="message"]')].find((li) => li.getBoundingClientRect().top >= box.top);
	return {seq: li ? Number(li.dataset.seq) : 0, top: li ? li.getBoundingClientRect().top : 0, rows: ol.children.length,
		height: ol.scrollHeight, boxTop: box.top, atStart: !!ol.querySelector('[data-testid="room-start"]'), loading: ol.textContent.includes("Loading older messages"),
		first: [...ol.querySelectorAll('li[data-testid="message"]')].some((li) => li.dataset.seq === "1" && li.textContent.includes("the very first message"))};
})()`

// readBack scrolls the message list up with the mouse wheel until the
// room's first message shows, checking on the way that the DOM stays
// small and that a page landing above the reader does not move what they
// look at.
func (b *tab) readBack(t *testing.T, where string) {
	t.Helper()
	// Anchor: with the rows near the top rendered and measured, scroll to
	// where a page is asked for, note the row in view at once (the page
	// cannot land within this task of the page's event loop), wait for the
	// page, and look again.
	b.until("no page in flight", `!document.querySelector('ol[aria-label="Messages"]').textContent.includes("Loading older messages")`)
	// Leave the bottom as a person does (the list stops following new rows)
	// and let the rows around where the page will be asked for render.
	b.run("leave the bottom", wheelUp(`ol[aria-label="Messages"]`, 600), chromedp.WaitVisible(`//button[contains(., "Jump to latest")]`))
	evalJS[bool](b, `(() => { const ol = document.querySelector('ol[aria-label="Messages"]'); ol.scrollTop = ol.clientHeight * 1.5 + 300; return true; })()`)
	inView := `(() => { const s = ` + listStateJS + `; return s.seq > 0 && s.top < s.boxTop + 100; })()`
	b.until("rows in view rendered", inView)
	before := evalJS[listState](b, `(() => { const ol = document.querySelector('ol[aria-label="Messages"]'); ol.scrollTop = ol.clientHeight * 1.5 - 100;
		return `+listStateJS+`; })()`)
	if before.Seq == 0 || before.Top > before.BoxTop+100 {
		t.Fatalf("%s: no row in view to watch: %+v", where, before)
	}
	b.until("a page lands above", fmt.Sprintf(`document.querySelector('ol[aria-label="Messages"]').scrollHeight > %d + 1000`, before.Height))
	after := evalJS[listState](b, listStateJS)
	moved := evalJS[float64](b, fmt.Sprintf(`document.querySelector('li[data-seq="%d"]')?.getBoundingClientRect().top ?? 1e9`, before.Seq))
	if before.Seq == 0 || moved-before.Top > 3 || before.Top-moved > 3 {
		b.shot("failed-anchor-" + where)
		t.Errorf("%s: the row in view (seq %d at %.0f px) is at %.0f px after older messages landed above it (now seq %d in view)",
			where, before.Seq, before.Top, moved, after.Seq)
	}

	start, wheels, maxRows := time.Now(), 0, 0
	deadline := start.Add(4 * time.Minute)
	for {
		st := evalJS[listState](b, listStateJS)
		maxRows = max(maxRows, st.Rows)
		if st.AtStart && st.First {
			break
		}
		if time.Now().After(deadline) {
			b.shot("failed-read-back-" + where)
			t.Fatalf("%s: after %d wheel turns in %s the first message is not shown (in view: seq %d, loading %v)",
				where, wheels, time.Since(start).Round(time.Second), st.Seq, st.Loading)
		}
		b.run("wheel up", wheelUp(`ol[aria-label="Messages"]`, 1500))
		wheels++
	}
	t.Logf("%s: read back %d messages to the first in %s (%d wheel turns of 1500 px); at most %d rows in the DOM",
		where, historySize, time.Since(start).Round(time.Millisecond), wheels, maxRows)
	if maxRows > 200 {
		t.Errorf("%s: %d rows in the DOM while reading back, want a window of the list", where, maxRows)
	}
}

// jumpToLatest uses the button that appears when scrolled up.
func (b *tab) jumpToLatest(t *testing.T, where string) {
	t.Helper()
	b.run("jump to latest "+where, chromedp.Click(`//button[contains(., "Jump to latest")]`),
		chromedp.WaitVisible(`//li[@data-testid="message"]//p[contains(., "a quoted line")]`),
		chromedp.WaitNotPresent(`//button[contains(., "Jump to latest")]`))
	b.until("at the latest "+where, `(() => { const ol = document.querySelector('ol[aria-label="Messages"]');
		return ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40 && document.activeElement === ol })()`)
}

// retryNow drops the socket (the connector is killed; the emulator brings
// it back) while the page cannot reach the connector, so the backoff grows
// to seconds; once it can again, Retry now reconnects at once. Chromium
// has no switch that refuses only WebSockets (Network.setBlockedURLs lets
// them through), and it holds back a new socket to an address that just
// hung up on one, so while the connector is "unreachable" the page's
// WebSocket fails each try at once, as a lost network does.
func (b *tab) retryNow(t *testing.T, s *runningStack, root string) {
	t.Helper()
	reachable := func(ok bool) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
			if (!window.realWebSocket) {
				window.realWebSocket = WebSocket;
				window.WebSocket = function (url, protocols) {
					if (!window.wsDown) return new realWebSocket(url, protocols);
					const down = { readyState: 0, onopen: null, onmessage: null, onerror: null, onclose: null, send() {}, close() {} };
					setTimeout(() => { down.readyState = 3; down.onerror?.({}); down.onclose?.({ code: 1006, reason: "" }); });
					return down;
				};
			}
			window.wsDown = %v;
		})()`, !ok))
	}
	b.run("the connector becomes unreachable", reachable(false))
	syscall.Kill(s.connectorPID(t), syscall.SIGKILL)
	b.waitText("reconnecting shows", `//div[@data-testid="connection"]//p[@role="status"][contains(., "Reconnecting")]`)
	// Several failed tries: the next is seconds away, far enough that a slow
	// machine's reconnect (auth, subscribe, catch-up) still comes clearly sooner.
	b.until("the backoff grows", `Number(/next try in (\d+) s/.exec(document.querySelector('[data-testid="connection"]')?.textContent ?? "")?.[1] ?? 0) >= 5`)
	b.shot("35-reconnecting-retry-now")
	b.axe(root, "reconnecting banner")
	b.run("the connector is reachable again", reachable(true))
	// The connector is back (it was killed seconds ago) before Retry now is pressed.
	b.until("the connector is back", `(() => { const x = new XMLHttpRequest(); x.open("GET", "/healthz", false);
		try { x.send(); return x.status === 200; } catch { return false; } })()`)
	text := evalJS[string](b, `document.querySelector('[data-testid="connection"]')?.textContent ?? ""`)
	m := regexp.MustCompile(`next try in (\d+) s`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the banner says %q, want a countdown", text)
	}
	left, _ := strconv.Atoi(m[1])
	clicked := time.Now()
	b.run("retry now", chromedp.Click(`//button[.="Retry now"]`),
		chromedp.WaitNotPresent(`//div[@data-testid="connection"]`))
	took := time.Since(clicked)
	t.Logf("Retry now reconnected in %s; the next automatic try was %d s away", took.Round(time.Millisecond), left)
	if took >= time.Duration(left-1)*time.Second {
		t.Errorf("reconnected %s after Retry now, not sooner than the backoff's %d s", took, left)
	}
	b.run("send after reconnecting", chromedp.SendKeys(`#composer`, "back again"), chromedp.Click(`//button[.="Send"]`),
		chromedp.WaitVisible(`//li[@data-testid="message"][not(contains(., "sending"))]//p[contains(., "back again")]`))
}

// wheelUp turns the mouse wheel over the element by px.
func wheelUp(sel string, px float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		c, err := chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
			return [r.left + r.width / 2, r.top + r.height / 2]; })()`, sel))(ctx, tg)
		if err != nil {
			return err
		}
		// A map, not DispatchMouseEventParams: Chromium wants deltaX, which
		// the struct leaves out when it is zero.
		wheel := cdp.Command[map[string]any, cdp.Empty]{Method: input.CommandDispatchMouseEvent}
		_, err = cdp.Call(ctx, tg, wheel, map[string]any{"type": input.DispatchMouseEventTypeMouseWheel, "x": c[0], "y": c[1], "deltaX": 0, "deltaY": -px})
		return err
	})
}

// parleyConn is a protocol v1 client that sends text, as the seeding needs.
type parleyConn struct{ conn *websocket.Conn }

func dialParley(t *testing.T, url, token string) *parleyConn {
	t.Helper()
	c, err := dialParleyErr(url, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func dialParleyErr(url, token string) (*parleyConn, error) {
	d := websocket.Dialer{Subprotocols: []string{"parley.v1"}, HandshakeTimeout: 20 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(url, "http")+"/ws", nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &parleyConn{conn: conn}
	conn.WriteJSON(map[string]any{"type": "auth", "id": "auth", "token": token})
	if _, err := c.await("auth"); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// await reads frames until the answer to the frame with id: the frame, or
// the error it carried.
func (c *parleyConn) await(id string) (map[string]any, error) {
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", id, err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			var f map[string]any
			if json.Unmarshal([]byte(line), &f) != nil || f["id"] != id {
				continue
			}
			if f["type"] == "error" {
				return f, fmt.Errorf("%v: %v", f["code"], f["message"])
			}
			return f, nil
		}
	}
}

// sendAll sends texts one after another, each once it is acked, waiting
// out the rate limit as the server asks.
func (c *parleyConn) sendAll(room string, texts []string) error {
	for _, text := range texts {
		id := uuid.NewString()
		for {
			if err := c.conn.WriteJSON(map[string]any{"type": "send", "id": id, "room_id": room, "client_msg_id": id, "text": text}); err != nil {
				return err
			}
			f, err := c.await(id)
			if err == nil {
				break
			}
			if code, _ := f["code"].(string); code != "rate_limited" && code != "in_progress" && code != "unavailable" {
				return errors.Join(fmt.Errorf("send %q", text), err)
			}
			wait, _ := f["retry_after_ms"].(float64)
			time.Sleep(time.Duration(wait) * time.Millisecond) // the server's own back-off, not a synchronisation
		}
	}
	return nil
}
