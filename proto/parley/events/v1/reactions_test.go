package eventsv1

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestValidEmojiIsOneEmoji(t *testing.T) {
	for _, ok := range []string{"👍", "❤️", "😂", "🎉", "😮", "😢", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸", "1️⃣", "#️⃣", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "⭐", "☕"} {
		if err := ValidEmoji(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "lol", "+1", "a", "1", "👍👍", "👍 ", " 👍", "🇺🇸🇫🇷", "\u200d", "🏽", "\ufe0f",
		"👍\n", strings.Repeat("👍", 9), "\xff", "<b>"} {
		if err := ValidEmoji(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestApplyReactionTogglesAndCountsOnce(t *testing.T) {
	var rs []Reaction
	step := func(emoji, user, op string, changed bool) {
		t.Helper()
		next, ch, err := ApplyReaction(rs, emoji, user, op)
		if err != nil || ch != changed {
			t.Fatalf("%s %s %s: changed=%v %v, want changed=%v", op, emoji, user, ch, err, changed)
		}
		rs = next
	}
	step("👍", "a", ReactionAdd, true)
	step("👍", "a", ReactionAdd, false) // redelivered
	step("🎉", "b", ReactionAdd, true)
	step("👍", "b", ReactionAdd, true)
	before := fmt.Sprint(rs)
	if _, _, err := ApplyReaction(rs, "😮", "c", ReactionAdd); err != nil || fmt.Sprint(rs) != before {
		t.Fatalf("ApplyReaction modified its input: %v -> %v (%v)", before, rs, err)
	}
	want := []Reaction{{"👍", []string{"a", "b"}}, {"🎉", []string{"b"}}}
	if !reflect.DeepEqual(rs, want) {
		t.Fatalf("got %v, want %v", rs, want)
	}
	step("🎉", "b", ReactionRemove, true)
	step("🎉", "b", ReactionRemove, false)
	step("👍", "a", ReactionRemove, true)
	step("👍", "b", ReactionRemove, true)
	if rs != nil {
		t.Fatalf("all removed: %v", rs)
	}
	if _, _, err := ApplyReaction(nil, "👍", "a", "toggle"); err == nil {
		t.Error("an unknown op was applied")
	}
}

func TestApplyReactionRefusesBeyondTheLimits(t *testing.T) {
	var rs []Reaction
	for i := range MaxReactionEmojis {
		rs = append(rs, Reaction{Emoji: fmt.Sprint("e", i), UserIDs: []string{"a"}})
	}
	if _, _, err := ApplyReaction(rs, "new", "a", ReactionAdd); !errors.Is(err, ErrReactionLimit) {
		t.Errorf("emoji %d: %v, want the limit", MaxReactionEmojis+1, err)
	}
	if _, ch, err := ApplyReaction(rs, "e3", "b", ReactionAdd); err != nil || !ch {
		t.Errorf("joining an emoji at the emoji limit: %v %v", ch, err)
	}
	many := []Reaction{{Emoji: "👍"}}
	for i := range MaxReactions {
		many[0].UserIDs = append(many[0].UserIDs, fmt.Sprint("u", i))
	}
	if _, _, err := ApplyReaction(many, "👍", "late", ReactionAdd); !errors.Is(err, ErrReactionLimit) {
		t.Errorf("reaction %d: %v, want the limit", MaxReactions+1, err)
	}
	if _, ch, err := ApplyReaction(many, "👍", "u1", ReactionRemove); err != nil || !ch {
		t.Errorf("removing at the limit: %v %v", ch, err)
	}
}
