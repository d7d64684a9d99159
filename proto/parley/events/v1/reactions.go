package eventsv1

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Reaction ops (MessageReacted.Op).
const (
	ReactionAdd    = "add"
	ReactionRemove = "remove"
)

// Limits of reactions, which the connector enforces on a react frame and
// persist again on the event, whoever sent it.
const (
	// MaxEmojiBytes bounds one reaction's emoji: room for the longest
	// common sequences (a family joined by ZWJs is 25 bytes, a
	// subdivision flag 28), never for a sentence.
	MaxEmojiBytes = 32
	// MaxReactionEmojis is how many different emoji one message may carry;
	// a member can still add themself to one already there.
	MaxReactionEmojis = 20
	// MaxReactions bounds the reactions (emoji × member) of one message,
	// and so its size in history pages.
	MaxReactions = 1000
)

// ErrReactionLimit is ApplyReaction's error for a reaction beyond
// MaxReactionEmojis or MaxReactions.
var ErrReactionLimit = errors.New("reaction limit reached")

// ValidEmoji checks a reaction is one emoji: a pictograph (or a keycap, a
// flag) with the modifiers, variation selectors and zero-width joins that
// make up one emoji, at most MaxEmojiBytes. Text ("lol", "+1") and several
// emoji in a row are refused.
func ValidEmoji(s string) error {
	if s == "" || len(s) > MaxEmojiBytes || !utf8.ValidString(s) {
		return fmt.Errorf("emoji must be 1 to %d bytes of UTF-8", MaxEmojiBytes)
	}
	const zwj, keycapMark = 0x200D, 0x20E3
	keycap := false
	for _, r := range s {
		keycap = keycap || r == keycapMark
	}
	bases, regional, afterZWJ := 0, 0, false
	for _, r := range s {
		switch {
		case r == zwj:
			afterZWJ = true
			continue
		case r == 0xFE0E || r == 0xFE0F || r == keycapMark || (r >= 0x1F3FB && r <= 0x1F3FF) || (r >= 0xE0020 && r <= 0xE007F):
			// variation selectors, the keycap mark, skin tones, flag tags
		case r >= 0x1F1E6 && r <= 0x1F1FF: // regional indicators: two make a flag
			if regional%2 == 0 && !afterZWJ {
				bases++
			}
			regional++
		case pictograph(r) || (keycap && (r >= '0' && r <= '9' || r == '#' || r == '*')):
			if !afterZWJ {
				bases++
			}
		default:
			return fmt.Errorf("emoji must be an emoji, not text (%q)", r)
		}
		afterZWJ = false
	}
	if bases != 1 {
		return fmt.Errorf("a reaction is one emoji, not %d", bases)
	}
	return nil
}

// pictograph reports whether r lies in a block of emoji pictographs.
func pictograph(r rune) bool {
	switch {
	case r >= 0x1F000 && r <= 0x1FAFF, // pictographs, emoticons, transport, supplemental symbols
		r >= 0x2600 && r <= 0x27BF, // miscellaneous symbols, dingbats
		r >= 0x2300 && r <= 0x23FF, // technical: watch, hourglass, alarm clock
		r >= 0x2190 && r <= 0x21FF, // arrows
		r >= 0x25A0 && r <= 0x25FF, // geometric shapes
		r >= 0x2B00 && r <= 0x2BFF, // star, circle, arrows
		r >= 0x2934 && r <= 0x2935, // curved arrows
		r == 0x00A9 || r == 0x00AE, // copyright, registered
		r == 0x203C || r == 0x2049 || r == 0x2122 || r == 0x2139 || r == 0x24C2,
		r == 0x3030 || r == 0x303D || r == 0x3297 || r == 0x3299:
		return true
	}
	return false
}

// ApplyReaction returns rs with user's reaction emoji added or removed (op)
// and whether that changed anything: adding a reaction that is there, or
// removing one that is not, is no change, so an event applied twice counts
// once. An emoji's list of users disappears with its last user. rs is not
// modified. Adding beyond MaxReactionEmojis or MaxReactions is
// ErrReactionLimit.
func ApplyReaction(rs []Reaction, emoji, user, op string) ([]Reaction, bool, error) {
	i := slices.IndexFunc(rs, func(r Reaction) bool { return r.Emoji == emoji })
	has := i >= 0 && slices.Contains(rs[i].UserIDs, user)
	switch op {
	case ReactionAdd:
		if has {
			return rs, false, nil
		}
		total := 0
		for _, r := range rs {
			total += len(r.UserIDs)
		}
		if i < 0 && len(rs) >= MaxReactionEmojis {
			return rs, false, fmt.Errorf("%w: a message carries at most %d different emoji", ErrReactionLimit, MaxReactionEmojis)
		}
		if total >= MaxReactions {
			return rs, false, fmt.Errorf("%w: a message carries at most %d reactions", ErrReactionLimit, MaxReactions)
		}
		out := cloneReactions(rs)
		if i < 0 {
			return append(out, Reaction{Emoji: emoji, UserIDs: []string{user}}), true, nil
		}
		out[i].UserIDs = append(out[i].UserIDs, user)
		return out, true, nil
	case ReactionRemove:
		if !has {
			return rs, false, nil
		}
		out := cloneReactions(rs)
		out[i].UserIDs = slices.DeleteFunc(out[i].UserIDs, func(u string) bool { return u == user })
		if len(out[i].UserIDs) == 0 {
			out = slices.Delete(out, i, i+1)
		}
		if len(out) == 0 {
			out = nil
		}
		return out, true, nil
	}
	return rs, false, fmt.Errorf("reaction op %q is neither %q nor %q", op, ReactionAdd, ReactionRemove)
}

func cloneReactions(rs []Reaction) []Reaction {
	out := make([]Reaction, len(rs), len(rs)+1)
	for i, r := range rs {
		out[i] = Reaction{Emoji: r.Emoji, UserIDs: slices.Clone(r.UserIDs)}
	}
	return out
}
