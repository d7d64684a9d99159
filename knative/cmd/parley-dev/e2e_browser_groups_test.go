package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// testBrowserGroups starts a group conversation of three from "New message"
// (by keyboard), shows it titled by its members to everyone, refuses a
// ninth person, and blocks: the blocked one's message to the blocker is
// refused and shown as not sent, and the blocker finds them in Profile and
// unblocks them there. axe-core checks the dialog, the group and the list.
func (s *runningStack) testBrowserGroups(t *testing.T) {
	root, shots := screenshotDir(t)
	bctx := browser(t)
	ann, bob, cy := newPerson(t, bctx, shots), newPerson(t, bctx, shots), newPerson(t, bctx, shots)
	ann.signUp(s.url, "anngroup")
	bob.signUp(s.url, "bobgroup")
	cy.signUp(s.url, "cygroup")
	msg := func(text string) string {
		return fmt.Sprintf(`//li[@data-testid="message"]//p[contains(., %q)]`, text)
	}

	// "New message" by keyboard: the button, the names, Enter.
	ann.run("open New message by keyboard", chromedp.Focus(`[data-testid="new-message"]`), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`#new-message-to`))
	if focused := evalJS[string](ann, `document.activeElement.id`); focused != "new-message-to" {
		t.Errorf("the dialog opened with focus on %q, want the names field", focused)
	}
	// Eight others are more than a conversation holds: refused before sending.
	ann.run("name eight others", chromedp.SendKeys(`#new-message-to`, "a01, a02, a03, a04, a05, a06, a07, a08"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`//p[@role="alert"][contains(., "at most 7 others")]`))
	ann.shot("groups-01-too-many")
	ann.run("name bob and cy", clearInput(`#new-message-to`), chromedp.SendKeys(`#new-message-to`, "bobgroup, @cygroup"))
	ann.shot("groups-02-new-message")
	ann.axe(root, "new message dialog")
	ann.run("start the group", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(`//h2[.="bobgroup, cygroup"]`), chromedp.WaitVisible(`#composer`))
	ann.run("say hello", chromedp.SendKeys(`#composer`, "hello group"), chromedp.Click(`//button[.="Send"]`))

	// Bob and cy find it in their lists, titled by the others, no reload.
	for who, p := range map[string]*tab{"anngroup, cygroup": bob, "anngroup, bobgroup": cy} {
		p.run("open the group as "+who, chromedp.Click(fmt.Sprintf(`//nav//button[contains(., %q)]`, who)),
			chromedp.WaitVisible(msg("hello group")))
	}
	bob.run("bob answers", chromedp.SendKeys(`#composer`, "hi both"), chromedp.Click(`//button[.="Send"]`))
	ann.waitText("ann sees bob", msg("hi both"))
	cy.waitText("cy sees bob", msg("hi both"))
	cy.shot("groups-03-group")
	cy.axe(root, "group conversation")
	if n := cy.count(`document.querySelectorAll('[data-testid="block"]').length`); n != 0 {
		t.Errorf("a group offers to block: %d buttons", n)
	}

	// Bob leaves the page; meanwhile ann opens their 1:1 room and blocks him.
	bob.run("bob goes away", chromedp.Navigate("about:blank"))
	ann.run("message bob", chromedp.Click(`[data-testid="new-message"]`), chromedp.SendKeys(`#new-message-to`, "bobgroup"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`//h2[.="@bobgroup"]`))
	ann.run("ask to block, then cancel with Escape", chromedp.Click(`//button[@data-testid="block"][.="Block"]`),
		chromedp.WaitVisible(`//dialog//h2[contains(., "Block @bobgroup?")]`))
	ann.shot("groups-04-block-confirm")
	ann.axe(root, "block confirmation")
	ann.run("cancel", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotPresent(`//dialog[@open]`),
		chromedp.WaitVisible(`//button[@data-testid="block"][.="Block"]`))
	ann.run("block bob", chromedp.Click(`//button[@data-testid="block"][.="Block"]`), chromedp.Click(`//dialog//button[.="Block"]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "You blocked @bobgroup")]`),
		chromedp.WaitVisible(`//button[@data-testid="block"][.="Unblock"]`))

	// Bob comes back: his message into ann's room is refused, not stored.
	bob.run("bob comes back", chromedp.Navigate(s.url), chromedp.WaitVisible(`//nav//button[contains(., "@ anngroup")]`),
		chromedp.Click(`//nav//button[contains(., "@ anngroup")]`), chromedp.WaitVisible(`#composer`))
	bob.run("bob writes to ann", chromedp.SendKeys(`#composer`, "please answer"), chromedp.Click(`//button[.="Send"]`),
		chromedp.WaitVisible(`//*[@role="alert"][contains(., "not sent")][contains(., "blocked you")]`))
	bob.shot("groups-05-refused")
	ann.run("ann writes to bob", chromedp.SendKeys(`#composer`, "I may still write"), chromedp.Click(`//button[.="Send"]`))
	bob.waitText("bob gets ann's message", msg("I may still write"))
	if n := ann.count(`[...document.querySelectorAll('li[data-testid="message"]')].filter((li) => li.textContent.includes("please answer")).length`); n != 0 {
		t.Errorf("the refused message reached ann")
	}
	// In the group, bob's messages still reach ann (as in Slack).
	bob.run("bob in the group", chromedp.Click(`//nav//button[contains(., "anngroup, cygroup")]`), chromedp.WaitVisible(msg("hi both")),
		chromedp.SendKeys(`#composer`, "still in the group"), chromedp.Click(`//button[.="Send"]`))
	ann.run("ann sees it in the group", chromedp.Click(`//nav//button[contains(., "bobgroup, cygroup")]`), chromedp.WaitVisible(msg("still in the group")))

	// Profile lists whom ann blocked, and unblocks.
	ann.run("profile", chromedp.Click(`//button[.="Profile"]`), chromedp.WaitVisible(`//ul[@data-testid="blocked-list"]//li[contains(., "@bobgroup")]`))
	ann.shot("groups-06-blocked-list")
	ann.axe(root, "blocked people")
	ann.run("unblock", chromedp.Click(`//button[@aria-label="Unblock @bobgroup"]`),
		chromedp.WaitVisible(`//p[contains(., "You have blocked no one.")]`),
		chromedp.WaitVisible(`//p[@role="status"][contains(., "You unblocked @bobgroup")]`))
}

// clearInput empties a React-controlled input as typing would: through the
// native value setter and an input event, so React's state follows.
func clearInput(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => {
		const i = document.querySelector(` + "`" + sel + "`" + `);
		Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(i, "");
		i.dispatchEvent(new Event("input", {bubbles: true}));
	})()`)
}
