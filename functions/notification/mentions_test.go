package main

import (
	"strings"
	"testing"
)

func TestMentions(t *testing.T) {
	cases := map[string]string{
		"@ada hello":                  "ada",
		"hello @ada":                  "ada",
		"hello @ada.":                 "ada",
		"hi @ada, @bob! and @Cat?":    "ada,bob,cat",
		"(@ada) [@bob] \"@cat\"":      "ada,bob,cat",
		"@ada @ADA @Ada":              "ada",
		"mail ada@example.com":        "",
		"path /home/@ada and a.@bob":  "",
		"@@ada":                       "",
		"@ab too short":               "",
		"`@ada` in code":              "",
		"```\nfn(@bob)\n``` but @cat": "cat",
		"line\n@dan on a new line":    "dan",
		"@eve-":                       "eve",
		"@fred_smith and @g.h.i":      "fred_smith,g.h.i",
		"no mentions here":            "",
		"@" + strings.Repeat("x", 50): "",
	}
	for text, want := range cases {
		if got := strings.Join(mentions(text), ","); got != want {
			t.Errorf("mentions(%q) = %q, want %q", text, got, want)
		}
	}
}
