package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
)

// testBrowserReactions has two people react to a message and see each
// other's reactions live: one with the keyboard through the picker, the
// other by clicking; counts, who reacted, toggling off, and what a reload
// shows (history from the server).
func (s *runningStack) testBrowserReactions(t *testing.T) {
	root, shots := screenshotDir(t)
	bctx := browser(t)
	suffix := strings.ReplaceAll(uuid.NewString()[:6], "-", "")
	eliName, fayName, room := "eli"+suffix, "fay"+suffix, "react-"+suffix
	eli, fay := newPerson(t, bctx, shots), newPerson(t, bctx, shots)
	eli.signUp(s.url, eliName)
	fay.signUp(s.url, fayName)
	eli.run("create a room",
		chromedp.SendKeys(`#new-room`, room), chromedp.Click(`//button[.="Create room"]`),
		chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(`#composer`))
	eli.run("invite fay", chromedp.SendKeys(`#invite`, fayName), chromedp.Click(`//button[.="Invite"]`))
	fay.run("open the room", chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(`#composer`))
	eli.run("send", chromedp.SendKeys(`#composer`, "lunch at noon?"), chromedp.Click(`//button[.="Send"]`))

	row := `//li[@data-testid="message"][contains(., "lunch at noon?")]`
	chip := func(emoji string, count int) string {
		return fmt.Sprintf(`%s//button[@data-testid="reaction"][@data-emoji=%q][.//span[@data-testid="reaction-count"]=%q]`, row, emoji, fmt.Sprint(count))
	}
	fay.waitText("fay sees the message", row)

	// Fay reacts with the keyboard: React (among the message's actions),
	// then the first emoji. A button acts on Enter's key press, which
	// pressEnter leaves out.
	fay.run("open the picker with the keyboard", chromedp.Focus(row+`//button[starts-with(@aria-label, "React to")]`), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(row+`//div[@aria-label="Pick a reaction"]`))
	if got := evalJS[string](fay, `document.activeElement.getAttribute("aria-label")`); got != "React with thumbs up" {
		t.Errorf("the picker put the focus on %q, want its first emoji", got)
	}
	fay.run("react with the keyboard", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chip("👍", 1)))
	if got := evalJS[string](fay, `document.activeElement.getAttribute("aria-label")`); !strings.HasPrefix(got, "React to") {
		t.Errorf("after picking, the focus is on %q, want its React button again", got)
	}
	eli.waitText("eli sees fay's reaction live", chip("👍", 1))
	if label := evalJS[string](eli, `document.querySelector('[data-testid="reaction"][data-emoji="👍"]').getAttribute("aria-label")`); !strings.Contains(label, fayName) {
		t.Errorf("eli's 👍 is labelled %q, want it to name %s", label, fayName)
	}

	// Eli clicks fay's 👍 to join it, and adds 🎉 from the picker.
	eli.run("join the 👍", chromedp.Click(chip("👍", 1)), chromedp.WaitVisible(chip("👍", 2)))
	eli.run("add 🎉", chromedp.Click(row+`//button[starts-with(@aria-label, "React to")]`),
		chromedp.WaitVisible(row+`//div[@aria-label="Pick a reaction"]`))
	eli.shot("40-reaction-picker")
	eli.axe(root, "room with the reaction picker open")
	eli.run("pick 🎉", chromedp.Click(row+`//button[@aria-label="React with party"]`), chromedp.WaitVisible(chip("🎉", 1)))
	fay.waitText("fay sees both live", chip("👍", 2))
	fay.waitText("and the party", chip("🎉", 1))
	if pressed := evalJS[string](fay, `document.querySelector('[data-testid="reaction"][data-emoji="🎉"]').getAttribute("aria-pressed")`); pressed != "false" {
		t.Errorf("fay's 🎉, which she did not add, is pressed: %s", pressed)
	}
	fay.shot("41-reactions-live")
	fay.axe(root, "room with reactions")

	// A reload shows what the server kept; a click takes fay's back.
	fay.run("reload", chromedp.Reload(), chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(chip("👍", 2)))
	fay.waitText("the party survives the reload", chip("🎉", 1))
	fay.run("take back the 👍", chromedp.Click(chip("👍", 2)), chromedp.WaitVisible(chip("👍", 1)))
	eli.waitText("eli sees it taken back", chip("👍", 1))
	if pressed := evalJS[string](eli, `document.querySelector('[data-testid="reaction"][data-emoji="👍"]').getAttribute("aria-pressed")`); pressed != "true" {
		t.Errorf("eli's own 👍 is not shown as his: aria-pressed=%s", pressed)
	}
	eli.shot("42-reaction-taken-back")
}
