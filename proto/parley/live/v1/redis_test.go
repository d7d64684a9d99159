package livev1

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestRoomOfChannelReadsWhatRoomChannelWrites(t *testing.T) {
	if room, ok := RoomOfChannel(RoomChannel("r-1")); !ok || room != "r-1" {
		t.Errorf("RoomOfChannel(RoomChannel(r-1)) = %q, %v", room, ok)
	}
	for _, ch := range []string{UserChannel("u"), PresenceChannel("u"), "room:{r", "room:r}", ""} {
		if room, ok := RoomOfChannel(ch); ok {
			t.Errorf("RoomOfChannel(%q) = %q, want no room", ch, room)
		}
	}
}

func TestUserOfChannelReadsWhatUserChannelWrites(t *testing.T) {
	if user, ok := UserOfChannel(UserChannel("u-1")); !ok || user != "u-1" {
		t.Errorf("UserOfChannel(UserChannel(u-1)) = %q, %v", user, ok)
	}
	if user, ok := UserOfChannel(RoomChannel("r")); ok {
		t.Errorf("a room channel read as user %q", user)
	}
}

func TestUserOfPresenceChannelReadsWhatPresenceChannelWrites(t *testing.T) {
	if user, ok := UserOfPresenceChannel(PresenceChannel("u-1")); !ok || user != "u-1" {
		t.Errorf("UserOfPresenceChannel(PresenceChannel(u-1)) = %q, %v", user, ok)
	}
	if user, ok := UserOfPresenceChannel(UserChannel("u-1")); ok {
		t.Errorf("a user channel read as presence of %q", user)
	}
}

func TestParseEnvelopeReadsWhatTheEnvelopesWrite(t *testing.T) {
	for name, c := range map[string]struct {
		envelope []byte
		kind     EnvelopeKind
		seq      int64
		frame    string
	}{
		"message":              {MessageEnvelope(42, []byte(`{"a":"b c"}`)), EnvelopeMessage, 42, `{"a":"b c"}`},
		"ephemeral":            {EphemeralEnvelope([]byte(`{"type":"typing"}`)), EnvelopeEphemeral, 0, `{"type":"typing"}`},
		"gap":                  {GapEnvelope(7), EnvelopeGap, 7, ""},
		"message, empty frame": {MessageEnvelope(1, nil), EnvelopeMessage, 1, ""},
	} {
		kind, seq, frame, err := ParseEnvelope(string(c.envelope))
		if err != nil || kind != c.kind || seq != c.seq || !bytes.Equal(frame, []byte(c.frame)) {
			t.Errorf("%s: ParseEnvelope(%q) = %c, %d, %q, %v", name, c.envelope, kind, seq, frame, err)
		}
	}
	for _, bad := range []string{"", "m", "m12", "mx y", "g", "gx", "x 1", "e"} {
		if _, _, _, err := ParseEnvelope(bad); err == nil {
			t.Errorf("ParseEnvelope(%q) accepted it", bad)
		}
	}
}

func TestReconnectsAfterAllButTerminalAndUnknownCodes(t *testing.T) {
	for code, want := range map[CloseCode]bool{
		1000: true, 1001: true, 1006: true, 1009: true, 1011: true,
		CloseGoingAway: true, CloseSlowConsumer: true, CloseInternal: true, CloseAuthFailed: true,
		CloseAuthTimeout: true, ClosePolicyViolation: true,
		CloseForbidden: false, 4003: false, 4500: false,
	} {
		if got := Reconnects(code); got != want {
			t.Errorf("Reconnects(%d) = %v, want %v", code, got, want)
		}
	}
}

// What the notification function publishes on a user's channel is told
// apart from the user's other frames there, which are passed on as they are.
func TestIsMembershipTellsMembershipFramesFromTheUsersOtherFrames(t *testing.T) {
	marshal := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, state := range []string{MembershipJoined, MembershipLeft, MembershipChanged} {
		if f := marshal(MembershipFrame{Type: TypeMembership, RoomID: "r", UserID: "u", State: state}); !IsMembership(f) {
			t.Errorf("%s not told as a membership frame", f)
		}
	}
	for _, f := range [][]byte{
		marshal(NotificationFrame{Type: TypeNotice}),
		marshal(UnreadFrame{Type: TypeUnread, RoomID: "r"}),
		marshal(ThreadReadFrame{Type: TypeThreadRead, RoomID: "r"}),
		marshal(MessageFrame{Type: TypeRedacted, RoomID: "r"}),
		[]byte(`{"type":"membershipx"}`),
		[]byte(`{"text":"{\"type\":\"membership\""}`),
	} {
		if IsMembership(f) {
			t.Errorf("%s told as a membership frame", f)
		}
	}
}
