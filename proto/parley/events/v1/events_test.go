package eventsv1

import "testing"

func TestOnlyATypesEmitterMayEmitIt(t *testing.T) {
	for _, c := range []struct {
		typ, source string
		ok          bool
	}{
		{TypeMessageSent, SourceConnector + "connector-1", true},
		{TypeMessageSent, SourceModeration, false},
		{TypeMessageSent, "parley/connectorx", false},
		{TypeMessageFlagged, SourceModeration, true},
		{TypeMessageFlagged, SourceConnector + "connector-1", false},
		{TypeMessageRestored, SourceModeration + "/evil", false},
		{TypeMessageStored, SourcePersist, true},
		{TypeUserCreated, SourceAuth, true},
		{TypeRoomMemberLeft, "anyone", false},
		{"parley.unknown", SourceAuth, false},
	} {
		if err := CheckEmitter(c.typ, c.source); (err == nil) != c.ok {
			t.Errorf("%s from %q: %v, want ok=%v", c.typ, c.source, err, c.ok)
		}
	}
}
