package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
)

// testBrowserThreads has a desktop user (1280 px) and a phone user (390 px)
// talk in a thread: the phone opens it with the keyboard as its own screen
// with Back, the desktop sees the root's reply count arrive live and opens
// the thread beside the room; replies go both ways live, and a reload shows
// the count and the thread's history from the server. A thread's "new
// replies" marker is the server's: reading the thread on one device clears
// it on another, live and after a reload. axe-clean on both.
func (s *runningStack) testBrowserThreads(t *testing.T) {
	root, shots := screenshotDir(t)
	bctx := browser(t)
	suffix := strings.ReplaceAll(uuid.NewString()[:6], "-", "")
	gusName, halName, room := "gus"+suffix, "hal"+suffix, "thread-"+suffix
	gus, hal := newPerson(t, bctx, shots), newPerson(t, bctx, shots)
	gus.run("desktop width", chromedp.EmulateViewport(1280, 800))
	hal.run("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	gus.signUp(s.url, gusName)
	hal.signUp(s.url, halName)
	gus.run("create a room",
		chromedp.SendKeys(`#new-room`, room), chromedp.Click(`//button[.="Create room"]`),
		chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(`#composer`))
	gus.run("invite hal", chromedp.SendKeys(`#invite`, halName), chromedp.Click(`//button[.="Invite"]`))
	gus.run("send", chromedp.SendKeys(`#composer`, "release on friday?"), chromedp.Click(`//button[.="Send"]`))

	roomRow := `//section//li[@data-testid="message"][contains(., "release on friday?")]`
	pane := `//aside[@data-testid="thread"]`
	reply := func(text string) string { return pane + `//li[@data-testid="message"][contains(., "` + text + `")]` }
	summary := func(n string) string {
		return roomRow + `//button[@data-testid="thread-summary"][contains(., "` + n + `")]`
	}

	// The phone opens the thread with the keyboard: it replaces the room, with Back.
	hal.run("open the room", chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(roomRow))
	hal.run("reply in thread with the keyboard", chromedp.Focus(roomRow+`//button[@data-testid="reply-in-thread"]`), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(pane+`//h2[.="Thread"]`), chromedp.WaitVisible(`#thread-composer`))
	if got := evalJS[string](hal, `document.activeElement.id`); got != "thread-title" {
		t.Errorf("opening the thread left the focus on %q, want its heading", got)
	}
	if n := hal.count(`document.querySelector("#composer").offsetParent === null ? 0 : 1`); n != 0 {
		t.Error("on a phone the room's composer shows beside the thread")
	}
	hal.run("reply", chromedp.SendKeys(`#thread-composer`, "friday works"), chromedp.Click(pane+`//button[.="Reply"]`),
		chromedp.WaitVisible(reply("friday works")))

	// The desktop sees the count live, marked new, and opens the thread beside the room.
	gus.waitText("gus sees the reply count live", summary("1 reply"))
	gus.waitText("marked new", summary("1 reply")+`//span[@data-testid="new-replies"]`)
	if n := gus.count(`[...document.querySelectorAll("section li[data-testid=message]")].filter((li) => li.textContent.includes("friday works")).length`); n != 0 {
		t.Error("the reply shows in the room itself")
	}
	// Gus on another device: the marker comes from the server, and goes
	// there once gus reads the thread on the first, without a reload.
	other := newPerson(t, bctx, shots)
	other.run("another device of gus's", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(s.url), chromedp.WaitVisible(`#login`),
		chromedp.SendKeys(`#login`, gusName), chromedp.SendKeys(`#password`, "password "+gusName),
		chromedp.Click(`//button[@type="submit"]`), chromedp.WaitVisible(`//nav[@aria-label="Rooms"]`),
		chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(summary("1 reply")))
	other.waitText("marked new on the other device", summary("1 reply")+`//span[@data-testid="new-replies"]`)
	gus.run("open the thread", chromedp.Click(summary("1 reply")), chromedp.WaitVisible(reply("friday works")))
	other.until("the other device's marker goes once the thread is read", `document.querySelectorAll('[data-testid="new-replies"]').length === 0`)
	other.run("reload the other device", chromedp.Reload(), chromedp.Click(`//nav//button[contains(., "`+room+`")]`),
		chromedp.WaitVisible(summary("1 reply")))
	if n := other.count(`document.querySelectorAll('[data-testid="new-replies"]').length`); n != 0 {
		t.Error("a thread read on one device is marked new again after a reload on another")
	}
	gus.waitText("the room stays beside it", `#composer`)
	gus.run("reply", chromedp.SendKeys(`#thread-composer`, "great, shipping"), chromedp.Click(pane+`//button[.="Reply"]`),
		chromedp.WaitVisible(reply("great, shipping")))
	gus.waitText("the count follows", summary("2 replies"))
	if n := gus.count(`document.querySelectorAll('[data-testid="new-replies"]').length`); n != 0 {
		t.Error("an open thread is still marked new")
	}
	// The pane is narrow: gus's own reply, with Edit and Delete beside React,
	// still takes one line under its name, as hal's does.
	heights := evalJS[[]int](gus, `["great, shipping", "friday works"].map((t) =>
		[...document.querySelectorAll('aside[data-testid="thread"] li[data-testid="message"]')].find((li) => li.textContent.includes(t)).offsetHeight)`)
	if heights[0] > heights[1]+2 {
		t.Errorf("own reply is %d px high, another's %d px: its actions took a line of their own", heights[0], heights[1])
	}
	gus.shot("50-thread-desktop")
	gus.axe(root, "room with a thread open (desktop)")

	hal.waitText("hal sees gus's reply live", reply("great, shipping"))
	hal.shot("51-thread-phone")
	hal.axe(root, "thread on a phone")
	hal.noSideScroll("thread on a phone")
	hal.run("back to the room", chromedp.Click(pane+`//button[contains(., "Back")]`), chromedp.WaitVisible(summary("2 replies")))

	// A reload: the count from room history, the replies from the thread's history.
	gus.run("reload", chromedp.Reload(), chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(summary("2 replies")))
	gus.run("open the thread again", chromedp.Click(summary("2 replies")), chromedp.WaitVisible(reply("friday works")),
		chromedp.WaitVisible(reply("great, shipping")))
	gus.run("close it", chromedp.Click(pane+`//button[@aria-label="Close thread"]`))
	if n := gus.count(`document.querySelectorAll('[data-testid="thread"]').length`); n != 0 {
		t.Error("the thread stayed open after Close")
	}

	// Hal's reply notified gus, the root's author; the notification opens the thread.
	notice := `//section[@aria-label="Notifications"]//li[contains(., "thread")][contains(., "friday works")]//button`
	gus.run("open the thread from its notification", chromedp.Click(`//button[@data-testid="bell"]`), chromedp.WaitVisible(notice),
		chromedp.Click(notice), chromedp.WaitVisible(reply("friday works")))
}
