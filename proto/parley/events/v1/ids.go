package eventsv1

import "github.com/google/uuid"

// ValidID reports whether s is a Parley id: a UUID in its canonical text
// form (lowercase, hyphenated), the only form ids are minted in. Keys,
// channels and seq counters are built from the id's text, so another
// spelling of the same UUID, which auth would still parse, must not reach
// them: it would make a second room beside the first.
func ValidID(s string) bool {
	id, err := uuid.Parse(s)
	return err == nil && id.String() == s
}
