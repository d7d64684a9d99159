package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// browser opens tabs in the system's headless Chromium (never a downloaded one).
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.WindowSize(1100, 720))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(cancelCtx)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// tab is one person's browser tab.
type tab struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newTab(t *testing.T, browserCtx context.Context, shots string) *tab {
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	// Open the tab now, on its own context: a tab first used under a
	// short-lived (timeout) context would close when that context ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx, dir: shots}
}

// newPerson opens a tab in a browser context of its own: a person's own
// browser profile, with cookies and storage no one else's tab shares.
// (Tabs of one context share the session, as a browser's do.)
// screenshotDir is the repository's root (for axe-core's script) and the
// folder the browser tests save their screenshots in.
func screenshotDir(t *testing.T) (root, shots string) {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	shots = filepath.Join(root, ".parley", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	return root, shots
}

func newPerson(t *testing.T, browserCtx context.Context, shots string) *tab {
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	return &tab{t: t, ctx: ctx, dir: shots}
}

func (b *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// shot saves a screenshot for people to look at.
func (b *tab) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644)
	}
}

func (b *tab) signUp(url, name string) {
	b.run("sign up "+name,
		chromedp.Navigate(url),
		chromedp.Click(`//button[contains(., "No account")]`),
		chromedp.SendKeys(`#login`, name), chromedp.SendKeys(`#email`, name+"@example.com"),
		chromedp.SendKeys(`#password`, "password "+name),
		chromedp.Click(`//button[@type="submit"]`),
		chromedp.WaitVisible(`//nav[@aria-label="Rooms"]`))
}

// count evaluates a JavaScript expression that yields a number.
func (b *tab) count(expr string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return n
}

func (b *tab) waitText(what, xpath string) {
	b.run(what, chromedp.WaitVisible(xpath))
}

// testBrowser drives the web client in Chromium against the running stack.
func (s *runningStack) testBrowser(t *testing.T) {
	root, shots := screenshotDir(t)
	bctx := browser(t)
	ada, bob := newPerson(t, bctx, shots), newPerson(t, bctx, shots)

	ada.run("open", chromedp.Navigate(s.url), chromedp.WaitVisible(`#login`))
	ada.shot("01-login")
	ada.signUp(s.url, "adabrowser")
	bob.signUp(s.url, "bobbrowser")
	ada.run("create a room",
		chromedp.SendKeys(`#new-room`, "browser-room"), chromedp.Click(`//button[.="Create room"]`),
		chromedp.Click(`//nav//button[contains(., "browser-room")]`),
		chromedp.WaitVisible(`#composer`))
	ada.run("invite bob", chromedp.SendKeys(`#invite`, "bobbrowser"), chromedp.Click(`//button[.="Invite"]`))
	// The room shows in bob's open page, no reload: the invite reaches his socket.
	bob.run("open the room", chromedp.Click(`//nav//button[contains(., "browser-room")]`), chromedp.WaitVisible(`#composer`))

	send := func(b *tab, text string) {
		b.run("send "+text, chromedp.SendKeys(`#composer`, text), chromedp.Click(`//button[.="Send"]`))
	}
	msg := func(text string) string {
		return fmt.Sprintf(`//li[@data-testid="message"]//p[contains(., %q)]`, text)
	}
	send(ada, "hello bob")
	bob.waitText("bob sees ada", msg("hello bob"))
	bob.run("bob types", chromedp.SendKeys(`#composer`, "hi"))
	ada.waitText("typing shows", `//p[contains(., "bobbrowser is typing")]`)
	bob.run("bob sends", chromedp.SendKeys(`#composer`, " ada"), chromedp.Click(`//button[.="Send"]`))
	ada.waitText("ada sees bob", msg("hi ada"))
	ada.shot("02-chat")

	// Markup is shown as text, never run.
	xss := `<img src=x onerror=alert(1)>`
	send(ada, xss)
	bob.waitText("markup arrives", msg(xss))
	if imgs := bob.count(`document.querySelectorAll('li[data-testid="message"] img').length`); imgs != 0 {
		t.Errorf("a message created %d <img> elements", imgs)
	}

	// Moderation hides a toxic message for everyone.
	send(ada, "you are an idiot")
	bob.waitText("redaction", `//li[@data-testid="message"]//em[.="hidden by moderation"]`)
	bob.shot("03-moderated")

	// The connector restarts (the emulator brings it back): nothing lost or doubled.
	pid := s.connectorPID(t)
	syscall.Kill(pid, syscall.SIGKILL)
	ada.waitText("reconnecting shows", `//p[@role="status"][contains(., "onnect")]`)
	ada.run("reconnected", chromedp.WaitNotPresent(`//p[@role="status"][contains(., "onnect")]`))
	send(ada, "after the restart")
	bob.waitText("message after restart", msg("after the restart"))
	hellos := bob.count(`[...document.querySelectorAll('li[data-testid="message"] p')].filter(p => p.textContent.includes("hello bob")).length`)
	if hellos != 1 {
		t.Errorf("bob sees %d copies of one message after the restart", hellos)
	}
	bob.shot("04-after-restart")
	ada.waitText("seen by", `//p[contains(., "Seen by bobbrowser")]`)

	// A direct message, started from the people search; presence shows.
	bob.run("find ada", chromedp.Click(`//button[contains(., "Find rooms")]`), chromedp.SendKeys(`#directory-q`, "adab"),
		chromedp.Click(`//button[.="Search"]`), chromedp.Click(`//li[contains(., "@adabrowser")]//button[.="Message"]`),
		chromedp.WaitVisible(`//h2[.="@adabrowser"]`))
	send(bob, "a private word")
	ada.waitText("the DM appears for ada", `//nav//button[contains(., "@ bobbrowser")]`)
	ada.waitText("bob is online", `//nav//button[contains(., "@ bobbrowser")]//span[@aria-label="online"]`)
	ada.run("open the DM", chromedp.Click(`//nav//button[contains(., "@ bobbrowser")]`))
	ada.waitText("dm arrives", msg("a private word"))
	ada.shot("05-direct-message")

	bob.run("notifications", chromedp.Click(`//button[.="Notifications"]`), chromedp.WaitVisible(`//section[@aria-label="Notifications"]`))
	bob.shot("06-notifications")
	bob.run("directory", chromedp.Click(`//button[contains(., "Find rooms")]`), chromedp.WaitVisible(`//section[@aria-label="Find rooms and people"]`))
	bob.shot("07-directory")

	// Time from opening the URL to an interactive room list (Chromium's timing).
	bob.run("reload", chromedp.Reload(), chromedp.WaitVisible(`//nav//button[contains(., "browser-room")]`))
	ms := bob.count(`Math.round(performance.now())`)
	t.Logf("open URL → interactive room list: %d ms (navigation start to the room list rendered, local stack)", ms)

	t.Run("phone and desktop layouts", func(t *testing.T) { s.testLayouts(t, root, bctx, ada, shots) })
}

// evalJS evaluates a JavaScript expression in the tab and decodes its value.
func evalJS[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// until waits for a JavaScript condition to hold.
func (b *tab) until(what, expr string) {
	b.t.Helper()
	b.run(what, chromedp.Poll[chromedp.Void](expr))
}

// pressEnter presses Enter as a keyboard does on a page that handles the
// keydown: chromedp's KeyEvent also sends the character as an event of its
// own, which lands on whatever the keydown moved the focus to.
func pressEnter() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, k := range kb.Encode('\r') {
			if k.Type == kb.KeyChar {
				continue
			}
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, *k); err != nil {
				return err
			}
		}
		return nil
	})
}

// axe runs axe-core (from web/node_modules, installed by make run) on the
// page and fails on serious or critical violations.
func (b *tab) axe(root, where string) {
	b.t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "web", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		b.t.Fatalf("axe-core: %v (make run installs web/node_modules)", err)
	}
	b.run("load axe-core", chromedp.Evaluate[chromedp.Void](string(src)))
	found := evalJS[[]string](b, `axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations.map((v) =>
		v.impact + " " + v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", ")))`)
	var bad []string
	for _, v := range found {
		if strings.HasPrefix(v, "serious ") || strings.HasPrefix(v, "critical ") {
			bad = append(bad, v)
		}
	}
	b.t.Logf("axe-core on %s: %d violations, %d serious or critical %v", where, len(found), len(bad), found)
	if len(bad) > 0 {
		b.shot("failed-axe-" + strings.ReplaceAll(where, " ", "-"))
		b.t.Errorf("axe-core on %s: %s", where, strings.Join(bad, "; "))
	}
}

// noSideScroll fails when the page is wider than the viewport.
func (b *tab) noSideScroll(where string) {
	b.t.Helper()
	if w := evalJS[[]int](b, `[document.documentElement.scrollWidth, innerWidth]`); w[0] > w[1] {
		b.shot("failed-side-scroll-" + strings.ReplaceAll(where, " ", "-"))
		b.t.Errorf("%s: the page is %d px wide in a %d px viewport", where, w[0], w[1])
	}
}

// testLayouts uses the client as a phone (390 px, touch) and a desktop
// (1280 px) user would: one pane at a time with a back button on the phone,
// both panes on the desktop, no sideways scrolling, every action reachable,
// focus following what was opened, and axe-core clean of serious issues.
func (s *runningStack) testLayouts(t *testing.T, root string, bctx context.Context, ada *tab, shots string) {
	msg := func(text string) string {
		return fmt.Sprintf(`//li[@data-testid="message"]//p[contains(., %q)]`, text)
	}
	ada.run("desktop width", chromedp.EmulateViewport(1280, 800))
	ada.run("back to browser-room", chromedp.Click(`//nav//button[contains(., "browser-room")]`), chromedp.WaitVisible(msg("hi ada")))
	// ada's own message and bob's take one line each: no blank line under her own.
	heights := evalJS[[]int](ada, `["hello bob", "hi ada"].map((t) =>
		[...document.querySelectorAll('li[data-testid="message"]')].find((li) => li.textContent.includes(t)).offsetHeight)`)
	if heights[0] > heights[1]+2 {
		t.Errorf("own message row is %d px high, another's %d px: a blank line under own messages", heights[0], heights[1])
	}
	// An author's consecutive messages form a group: the first shows an
	// avatar with initials, the rest only their text; one date line per day.
	avatars := evalJS[[]string](ada, `["hello bob", "hi ada", "onerror=alert", "after the restart"].map((t) =>
		[...document.querySelectorAll('li[data-testid="message"]')].find((li) => li.textContent.includes(t))
			?.querySelector("[data-avatar]")?.textContent ?? "-")`)
	if strings.Join(avatars, " ") != "A B A -" {
		t.Errorf("avatars of hello bob, hi ada, the markup message, after the restart: %v, want A B A -", avatars)
	}
	if days := evalJS[[]string](ada, `[...document.querySelectorAll('li[data-testid="day"]')].map((li) => li.textContent)`); strings.Join(days, ",") != "Today" {
		t.Errorf("date lines %v, want one: Today", days)
	}

	cy := newPerson(t, bctx, shots)
	cy.run("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	// A display name can be given at sign-up; the room list's header shows it.
	cy.run("sign up with a display name",
		chromedp.Navigate(s.url),
		chromedp.Click(`//button[contains(., "No account")]`),
		chromedp.SendKeys(`#login`, "cyphone"), chromedp.SendKeys(`#display-name`, "Cy Phone"),
		chromedp.SendKeys(`#email`, "cyphone@example.com"), chromedp.SendKeys(`#password`, "password cyphone"),
		chromedp.Click(`//button[@type="submit"]`),
		chromedp.WaitVisible(`//nav[@aria-label="Rooms"]//header//span[.="Cy Phone"]`))
	// The favicon is served (no 404 in the console; without a link the browser asks for /favicon.ico).
	if st := evalJS[string](cy, `fetch(document.querySelector('link[rel="icon"]')?.href ?? "/favicon.ico").then((r) => r.status + " " + r.headers.get("content-type"))`); st != "200 image/svg+xml" {
		t.Errorf("favicon: %s", st)
	}
	cy.noSideScroll("phone room list")
	cy.shot("10-phone-room-list")
	cy.axe(root, "phone room list")
	cy.run("phone creates a room",
		chromedp.SendKeys(`#new-room`, "phone-room"), chromedp.Click(`//button[.="Create room"]`),
		chromedp.Click(`//nav//button[contains(., "phone-room")]`), chromedp.WaitVisible(`#composer`),
		chromedp.WaitNotVisible(`//nav[@aria-label="Rooms"]`))
	cy.until("focus on the room heading", `document.activeElement.tagName === "H2" && document.activeElement.textContent === "# phone-room"`)
	cy.noSideScroll("phone room")
	if r := evalJS[[]int](cy, `["Invite", "Leave", "Back", "Send"].map((name) => {
		const b = [...document.querySelectorAll("button")].find((b) => b.textContent.includes(name) && b.offsetWidth > 0);
		return b && b.getBoundingClientRect().right <= innerWidth ? 1 : 0;
	}).concat([Math.round(100 * document.querySelector("#composer").closest("form").offsetWidth / innerWidth)])`); r[0]+r[1]+r[2]+r[3] != 4 || r[4] < 99 {
		t.Errorf("phone room: Invite, Leave, Back, Send on screen %v; composer %d%% of the width", r[:4], r[4])
	}

	// Invite tells what happened, also when the name is unknown.
	cy.run("invite ada", chromedp.SendKeys(`#invite`, "adabrowser"), chromedp.Click(`//button[.="Invite"]`),
		chromedp.WaitVisible(`//p[@role="status"][.="Invited adabrowser."]`))
	cy.run("invite no one", chromedp.SendKeys(`#invite`, "nosuchperson"), chromedp.Click(`//button[.="Invite"]`),
		chromedp.WaitVisible(`//p[@role="alert"][contains(., "No user is called “nosuchperson”")]`))
	cy.shot("11-phone-invite-error")

	cy.run("phone sends", chromedp.SendKeys(`#composer`, "typo from the phone"), chromedp.Click(`//button[.="Send"]`),
		chromedp.WaitVisible(msg("typo from the phone")))
	cy.axe(root, "phone room")

	// Edit in place and delete after a confirmation, by touch: the buttons show without hover.
	cy.run("sent", chromedp.WaitVisible(`//li[@data-testid="message"]//button[.="Edit"]`))
	if !evalJS[bool](cy, `[...document.querySelectorAll("button")].filter((b) => b.textContent === "Edit" || b.textContent === "Delete")
		.every((b) => b.checkVisibility({opacityProperty: true, visibilityProperty: true}))`) {
		t.Errorf("on a touch screen Edit and Delete are hidden until hovered")
	}
	cy.run("edit in place", chromedp.Click(`//button[.="Edit"]`), chromedp.WaitVisible(`//li[@data-testid="message"]//textarea`))
	cy.until("the edit box has focus", `document.activeElement.id.startsWith("edit-")`)
	cy.run("type the edit", chromedp.SendKeys(`//li[@data-testid="message"]//textarea`, ", fixed"))
	cy.until("the edit is typed after the text", `document.activeElement.value === "typo from the phone, fixed"`)
	cy.run("save the edit", pressEnter(),
		chromedp.WaitVisible(msg("typo from the phone, fixed")), chromedp.WaitVisible(`//li[@data-testid="message"]//span[.="(edited)"]`))
	cy.until("focus back on Edit", `document.activeElement.textContent === "Edit"`)
	// By keyboard: Enter on the focused Edit opens the box, Escape closes it unchanged.
	cy.run("edit by keyboard", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(`//li[@data-testid="message"]//textarea`))
	cy.until("the edit box has focus again", `document.activeElement.id.startsWith("edit-")`)
	cy.run("escape cancels", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(`//li[@data-testid="message"]//textarea`),
		chromedp.WaitVisible(msg("typo from the phone, fixed")))
	cy.until("focus back on Edit after Escape", `document.activeElement.textContent === "Edit"`)
	cy.run("ask to delete", chromedp.Click(`//button[.="Delete"]`), chromedp.WaitVisible(`//dialog[@open]`))
	cy.until("the dialog has focus on Cancel", `document.activeElement.closest("dialog[open]") && document.activeElement.textContent === "Cancel"`)
	cy.shot("12-phone-confirm-delete")
	cy.run("cancel", chromedp.Click(`//dialog//button[.="Cancel"]`), chromedp.WaitNotPresent(`//dialog`), chromedp.WaitVisible(msg("typo from the phone, fixed")))
	cy.until("focus back on Delete", `document.activeElement.textContent === "Delete"`)
	cy.run("delete", chromedp.Click(`//button[.="Delete"]`), chromedp.Click(`//dialog//button[.="Delete"]`),
		chromedp.WaitVisible(`//li[@data-testid="message"]//em[.="message deleted"]`))

	// A reload keeps the open room; back shows the room list, focus on the room left.
	cy.run("reload", chromedp.Reload(), chromedp.WaitVisible(`//h2[.="# phone-room"]`), chromedp.WaitVisible(`#composer`))
	cy.shot("13-phone-room")
	cy.run("back", chromedp.Click(`//button[contains(., "Back")]`), chromedp.WaitVisible(`//nav[@aria-label="Rooms"]`),
		chromedp.WaitNotPresent(`#composer`))
	cy.until("focus on the room left", `document.activeElement.dataset.room && document.activeElement.textContent.includes("phone-room")`)
	if h := evalJS[string](cy, `location.hash`); h != "" {
		t.Errorf("the room list still has the hash %q", h)
	}
	cy.run("other panes have a back button too", chromedp.Click(`//button[.="Profile"]`), chromedp.WaitVisible(`//h2[.="Profile"]`),
		chromedp.Click(`//button[contains(., "Back")]`), chromedp.WaitVisible(`//nav[@aria-label="Rooms"]`))
	cy.noSideScroll("phone after back")

	// Desktop: both panes side by side; opening a room puts the cursor in the composer.
	ada.run("ada opens the phone room", chromedp.Click(`//nav//button[contains(., "phone-room")]`), chromedp.WaitVisible(`//h2[.="# phone-room"]`))
	ada.until("focus in the composer", `document.activeElement.id === "composer"`)
	if vis := evalJS[[]int](ada, `[document.querySelector('nav[aria-label="Rooms"]').offsetWidth, document.querySelector("main").offsetWidth]`); vis[0] == 0 || vis[1] < 900 {
		t.Errorf("desktop: room list %d px, room %d px wide", vis[0], vis[1])
	}
	ada.noSideScroll("desktop room")
	ada.shot("20-desktop-room")
	ada.axe(root, "desktop room")

	// Scrolled up, a new message gets a "New messages" line and a button down to it.
	cy.run("phone opens the room again", chromedp.Click(`//nav//button[contains(., "phone-room")]`), chromedp.WaitVisible(`#composer`))
	for i := 1; i <= 30; i++ {
		cy.run("filler", chromedp.SendKeys(`#composer`, fmt.Sprint("filler ", i)), chromedp.Click(`//button[.="Send"]`))
	}
	ada.waitText("the filler arrives", msg("filler 30"))
	if !evalJS[bool](ada, `(() => { const ol = document.querySelector('ol[aria-label="Messages"]'); ol.scrollTop = 0; return ol.scrollHeight > ol.clientHeight + 200 })()`) {
		t.Fatal("30 messages do not overflow the desktop message list; the test cannot scroll up")
	}
	ada.waitText("jump to latest shows", `//button[contains(., "Jump to latest")]`)
	cy.run("phone sends while ada reads back", chromedp.SendKeys(`#composer`, "while you were away"), chromedp.Click(`//button[.="Send"]`))
	ada.waitText("new message count", `//button[contains(., "1 new message")]`)
	ada.waitText("new messages line", `//li[@data-testid="new-messages"]/following-sibling::li[1][contains(., "while you were away")]`)
	ada.shot("21-desktop-new-messages")
	ada.run("jump", chromedp.Click(`//button[contains(., "new message")]`), chromedp.WaitNotPresent(`//button[contains(., "new message")]`))
	ada.until("at the latest", `(() => { const ol = document.querySelector('ol[aria-label="Messages"]'); return ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40 && document.activeElement === ol })()`)
	ada.axe(root, "desktop room with new messages")
}

// connectorPID finds the connector process make run started.
func (s *runningStack) connectorPID(t *testing.T) int {
	for pid, name := range descendants(s.makePID) {
		if name == "connector" {
			return pid
		}
	}
	t.Fatal("no connector process")
	return 0
}
