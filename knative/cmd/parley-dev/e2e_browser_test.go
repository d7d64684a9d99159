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

	"github.com/chromedp/chromedp"
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
	root, _ := filepath.Abs("../../..")
	shots := filepath.Join(root, ".parley", "screenshots")
	os.MkdirAll(shots, 0o755)
	t.Logf("screenshots in %s", shots)
	bctx := browser(t)
	ada, bob := newTab(t, bctx, shots), newTab(t, bctx, shots)

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
	ada.run("reconnected", chromedp.WaitNotPresent(`//p[@role="status"]`))
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
