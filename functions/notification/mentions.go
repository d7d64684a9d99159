package main

import (
	"regexp"
	"strings"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// mentionRE finds @name where name looks like a username and the @ does not
// continue a word, an email address or a path.
var mentionRE = regexp.MustCompile(`(?:^|[^\w@./-])@([A-Za-z0-9][A-Za-z0-9_.-]{1,40})`)

// codeRE matches fenced blocks and inline code, where @names are code, not mentions.
var codeRE = regexp.MustCompile("(?s)```.*?```|`[^`\n]*`")

// mentions returns the lower-cased usernames mentioned in text, each once,
// in order of first appearance.
func mentions(text string) []string {
	if !eventsv1.MayMention(text) {
		return nil
	}
	text = codeRE.ReplaceAllString(text, " ")
	var out []string
	seen := map[string]bool{}
	for _, m := range mentionRE.FindAllStringSubmatch(text, -1) {
		name := strings.ToLower(strings.TrimRight(m[1], ".-_"))
		if len(name) < 3 || len(name) > 32 || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}
