package eventsv1

import (
	"strings"
	"testing"
	"time"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

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
		{TypeMessageReacted, SourceConnector + "connector-1", true},
		{TypeMessageReacted, SourcePersist, false},
		{TypeUserCreated, SourceAuth, true},
		{TypeRoomMemberLeft, "anyone", false},
		{"parley.unknown", SourceAuth, false},
	} {
		if err := CheckEmitter(c.typ, c.source); (err == nil) != c.ok {
			t.Errorf("%s from %q: %v, want ok=%v", c.typ, c.source, err, c.ok)
		}
	}
}

func TestNewKeysTheEventByItsPartitionKey(t *testing.T) {
	e, err := New("id-1", TypeMessageStored, SourcePersist, "room-1", time.Unix(0, 0).UTC(), Message{ID: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Extensions()["partitionkey"] != "room-1" || e.Source() != SourcePersist || e.Type() != TypeMessageStored ||
		e.DataContentType() != "application/json" || !strings.Contains(string(e.Data()), `"id":"m"`) {
		t.Errorf("built %v", e)
	}
	if raw, _ := New("id-2", TypeUserCreated, SourceAuth, "u", time.Now(), []byte(`{"user_id":"u"}`)); string(raw.Data()) != `{"user_id":"u"}` {
		t.Errorf("JSON bytes re-encoded: %s", raw.Data())
	}
}

func TestFlagReasonNamesTheLabels(t *testing.T) {
	for labels, want := range map[string]string{
		"":                    "flagged",
		"toxic":               "flagged as toxic",
		"toxic insult":        "flagged as toxic and insult",
		"toxic insult threat": "flagged as toxic, insult and threat",
	} {
		if got := FlagReason(strings.Fields(labels)); got != want {
			t.Errorf("FlagReason(%q) = %q, want %q", labels, got, want)
		}
	}
}

func TestQuietIsOnlyATopLevelMessageWithoutMentionsInAPublicOrPrivateRoom(t *testing.T) {
	plain := Message{Text: "lunch at noon, see you all"}
	for _, c := range []struct {
		kind  string
		m     Message
		quiet bool
	}{
		{authv1.RoomKindPublic, plain, true},
		{authv1.RoomKindPrivate, plain, true},
		{authv1.RoomKindDirect, plain, false},
		{authv1.RoomKindGroup, plain, false},
		{"", plain, false},
		{"lobby", plain, false},
		{authv1.RoomKindPublic, Message{Text: "ask @ann"}, false},
		{authv1.RoomKindPublic, Message{Text: "ann@example.com"}, false}, // not a mention, but "@" is enough to ask
		{authv1.RoomKindPublic, Message{Text: "agreed", ThreadID: "root"}, false},
	} {
		if got := Quiet(c.m, c.kind); got != c.quiet {
			t.Errorf("Quiet(%+v in a %q room) = %v, want %v", c.m, c.kind, got, c.quiet)
		}
	}
}
