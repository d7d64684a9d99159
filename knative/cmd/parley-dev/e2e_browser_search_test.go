package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// searchUntil presses Search every 300 ms (searches are limited per user)
// until the results say what `done` (a JavaScript condition) asks, in a
// freshly opened search panel: the index
// follows the Broker, so a message is findable a moment after it shows.
func (b *tab) searchUntil(what, query, done string) {
	b.t.Helper()
	b.run("search for "+query, chromedp.SendKeys(`#search-q`, query))
	b.run(what, chromedp.Poll[chromedp.Void](`(() => {
		if (`+done+`) return true;
		document.querySelector('form[role="search"] button[type="submit"]').click();
		return false;
	})()`, chromedp.WithPollingInterval(300*time.Millisecond)))
}

// testSearch finds messages in the browser through the connector and the
// search function as make run starts them: matches marked, markup shown as
// text, hidden text never found, a result opening its room, and a room the
// caller left refused by name and no longer searched.
func (s *runningStack) testSearch(t *testing.T) {
	_, shots := screenshotDir(t)
	bctx := browser(t)
	cy, dan := newPerson(t, bctx, shots), newPerson(t, bctx, shots)
	cy.signUp(s.url, "cysearch")
	dan.signUp(s.url, "dansearch")
	cy.run("create a room",
		chromedp.SendKeys(`#new-room`, "search-room"), chromedp.Click(`//button[.="Create room"]`),
		chromedp.Click(`//nav//button[contains(., "search-room")]`), chromedp.WaitVisible(`#composer`))
	cy.run("invite dan", chromedp.SendKeys(`#invite`, "dansearch"), chromedp.Click(`//button[.="Invite"]`))
	for _, text := range []string{"the quarterly zebra report", "<b>zebra</b> in bold", "zebra idiot"} {
		cy.run("send "+text, chromedp.SendKeys(`#composer`, text), chromedp.Click(`//button[.="Send"]`))
	}
	cy.waitText("moderation hides one", `//li[@data-testid="message"]//em[@data-testid="hidden-reason"]`)
	roomID := strings.TrimPrefix(evalJS[string](cy, `location.hash`), "#room=")

	dan.run("open search", chromedp.Click(`//nav//button[contains(., "search-room")]`), chromedp.WaitVisible(`#composer`),
		chromedp.Click(`//button[.="Search messages"]`), chromedp.WaitVisible(`#search-q`))
	hits := `document.querySelectorAll('[data-search-hit]')`
	dan.searchUntil("both visible zebras found", "zebra", hits+`.length === 2`)
	dan.shot("search-01-results")
	if n := dan.count(`document.querySelectorAll('[aria-label="Search results"] mark').length`); n != 2 {
		t.Errorf("%d matches marked, want one per hit", n)
	}
	if n := dan.count(`document.querySelectorAll('[aria-label="Search results"] b').length`); n != 0 {
		t.Errorf("a result made %d <b> elements of a message's text", n)
	}
	if n := dan.count(`[...` + hits + `].filter((h) => h.textContent.includes("<b>zebra</b> in bold")).length`); n != 1 {
		t.Errorf("the markup typed is not shown as text")
	}
	if n := dan.count(`[...` + hits + `].filter((h) => h.textContent.includes("idiot")).length`); n != 0 {
		t.Errorf("hidden text was found")
	}
	dan.run("a result opens its room", chromedp.Click(`//button[@data-search-hit][contains(., "quarterly")]`),
		chromedp.WaitVisible(`//h2[.="# search-room"]`), chromedp.WaitVisible(`#composer`))

	// Over REST as the client calls it: bad input is refused with a clear code.
	eve, _, _ := s.register(t, "evesearch")
	get := func(token, query string) reply {
		return s.call(t, "GET", "/api/v1/search?"+query, token, "", nil)
	}
	for query, code := range map[string]string{
		"q=" + url.QueryEscape(strings.Repeat("z", 201)): "query_too_long",
		"q=%20":           "query_empty",
		"q=!!!":           "query_empty",
		"q=a&limit=0":     "invalid_argument",
		"q=a&cursor=nope": "bad_cursor",
	} {
		if r := get(eve, query); r.status != http.StatusBadRequest || r.errorCode() != code {
			t.Errorf("GET /api/v1/search?%s: %d %s, want 400 %s", query, r.status, r.raw, code)
		}
	}
	// Someone who is not a member finds nothing there, and naming the room is refused.
	if r := get(eve, "q=zebra"); r.status != http.StatusOK || len(r.body["hits"].([]any)) != 0 {
		t.Errorf("a stranger's search: %d %s", r.status, r.raw)
	}
	if r := get(eve, "q=zebra&room_id="+url.QueryEscape(roomID)); r.status != http.StatusForbidden || r.errorCode() != "not_a_member" {
		t.Errorf("a stranger naming the room: %d %s, want 403 not_a_member", r.status, r.raw)
	}

	// Dan leaves: the room's messages are no longer his to find.
	dan.run("leave", chromedp.Click(`//button[.="Leave"]`))
	dan.run("confirm leaving if asked", chromedp.Poll[chromedp.Void](`(() => {
		const b = [...document.querySelectorAll('dialog button, [role="dialog"] button')].find((b) => b.textContent.trim() === "Leave");
		if (b) b.click();
		return !document.querySelector('#composer');
	})()`, chromedp.WithPollingInterval(200*time.Millisecond)))
	dan.run("search again", chromedp.Click(`//button[.="Search messages"]`), chromedp.WaitVisible(`#search-q`))
	dan.searchUntil("nothing found after leaving", "zebra", `(document.querySelector('section[aria-label="Search messages"] [role="status"]')?.textContent ?? "").startsWith("Nothing found")`)
	dan.shot("search-02-after-leaving")
}
