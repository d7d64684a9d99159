package livev1

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeValidFrames(t *testing.T) {
	for _, raw := range []string{
		`{"type":"auth","token":"abc"}`,
		`{"type":"subscribe","id":"1","rooms":[{"room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","last_seq":0},{"room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000002","last_seq":42}]}`,
		`{"type":"send","id":"2","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","client_msg_id":"c1","text":"hello\nworld 👋"}`,
		`{"type":"send","id":"3","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","client_msg_id":"c2","text":"in thread","thread_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a1","seq":4}`,
		`{"type":"history","id":"h","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","thread_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a1","before_seq":9}`,
		`{"type":"send","id":"f","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","client_msg_id":"c3","attachments":["0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"]}`,
		`{"type":"edit","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","message_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a1","seq":3,"text":"fixed"}`,
		`{"type":"delete","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","message_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a1","seq":3}`,
		`{"type":"react","id":"x1","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","message_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a1","seq":3,"emoji":"👍","op":"add"}`,
		`{"type":"react","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","message_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a1","seq":3,"emoji":"❤️","op":"remove"}`,
		`{"type":"typing","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","state":"stop"}`,
		`{"type":"presence","status":"away"}`,
		`{"type":"watch","user_ids":["0193a1b2-c3d4-7e5f-8a9b-0000000000b1","0193a1b2-c3d4-7e5f-8a9b-0000000000b2"]}`,
		`{"type":"read","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","seq":9}`,
		`{"type":"history","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001","before_seq":100,"limit":50}`,
		`{"type":"unsubscribe","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000001"}`,
	} {
		if _, err := Decode([]byte(raw)); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]string{
		`not json`:                          CodeBadFrame,
		`{"type":"send"}`:                   CodeBadFrame,
		`{"type":"warp"}`:                   CodeUnknownType,
		`{}`:                                CodeBadFrame,
		`{"type":"auth","token":"a"}{}`:     CodeBadFrame,
		`{"type":"auth","token":"a","x":1}`: CodeBadFrame,
		`{"type":"send","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","text":"` + strings.Repeat("a", 4001) + `"}`: CodeTextTooLong,
		`{"type":"send","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","text":"\u0007"}`:                            CodeBadFrame,
		`{"type":"send","room_id":"0193A1B2-C3D4-7E5F-8A9B-000000000003","client_msg_id":"c","text":"hi"}`:                                CodeBadFrame, // the same room, spelt otherwise
		`{"type":"send","room_id":"{0193a1b2-c3d4-7e5f-8a9b-000000000003}","client_msg_id":"c","text":"hi"}`:                              CodeBadFrame,
		`{"type":"send","room_id":"0193a1b2c3d47e5f8a9b000000000003","client_msg_id":"c","text":"hi"}`:                                    CodeBadFrame,
		`{"type":"watch","user_ids":["u1"]}`:                                              CodeBadFrame,
		`{"type":"send","room_id":"r/../x","client_msg_id":"c","text":"hi"}`:              CodeBadFrame,
		`{"type":"history","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","limit":101}`: CodeBadFrame,
		`{"type":"subscribe","rooms":[]}`:                                                 CodeBadFrame,
		`{"type":"read","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","seq":0}`:        CodeBadFrame,
		`{"type":"send","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","text":"t","thread_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a2"}`:                                                                                                                                                      CodeBadFrame,
		`{"type":"send","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","text":"t","thread_id":"m m","seq":1}`:                                                                                                                                                                               CodeBadFrame,
		`{"type":"history","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","thread_id":"<m>"}`:                                                                                                                                                                                                                   CodeBadFrame,
		`{"type":"send","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","text":"t","attachments":["../x"]}`:                                                                                                                                                                                  CodeBadFrame,
		`{"type":"send","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","text":"","attachments":[]}`:                                                                                                                                                                                         CodeBadFrame,
		`{"type":"send","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","attachments":["0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"]}`:                                                                                                                      CodeBadFrame,
		`{"type":"send","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","attachments":["0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a51","0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a52","0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a53","0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a54","0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a55"]}`: CodeBadFrame,
		`{"type":"react","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","message_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a2","seq":1,"emoji":"lol","op":"add"}`:                                                                                                                                                  CodeBadFrame,
		`{"type":"react","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","message_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a2","seq":1,"emoji":"👍👍","op":"add"}`:                                                                                                                                                   CodeBadFrame,
		`{"type":"react","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","message_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a2","seq":1,"emoji":"👍","op":"toggle"}`:                                                                                                                                                 CodeBadFrame,
		`{"type":"react","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","message_id":"0193a1b2-c3d4-7e5f-8a9b-0000000000a2","emoji":"👍","op":"add"}`:                                                                                                                                                            CodeBadFrame,
		"{\"type\":\"auth\",\"token\":\"\xff\"}":                               CodeBadFrame,
		`{"type":"auth","token":"` + strings.Repeat("a", MaxFrameBytes) + `"}`: CodeFrameTooLarge,
	}
	for raw, code := range cases {
		_, err := Decode([]byte(raw))
		pe, ok := IsError(err)
		if !ok || pe.Code != code {
			t.Errorf("%.60s: got %v, want %s", raw, err, code)
		}
	}
}

func TestRefusedFramesKeepTheirID(t *testing.T) {
	cases := map[string]string{
		`{"x":1,"type":"typing","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","state":"start","id":"t1"}`:       "t1", // unknown field before the id
		`{"type":"send","id":"s1","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","text":""}`: "s1",
		`{"type":"warp","id":"w1"}`: "w1",
		`{"type":"read","id":"r1","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","seq":-1}`: "r1",
		`{"type":"read","id":"` + strings.Repeat("i", MaxIDLen+1) + `"}`:                      "", // not an id a client may send
		`{"type":"read","id":7}`:  "",
		`{"type":"read","id":"x"`: "",
		`[{"id":"x"}]`:            "",
	}
	for raw, want := range cases {
		f, err := Decode([]byte(raw))
		if err == nil || f.ID != want {
			t.Errorf("%.60s: id %q (error %v), want %q and an error", raw, f.ID, err, want)
		}
	}
}

// FuzzDecode checks that no input makes the decoder panic, that every
// failure is a protocol error with a code, and that every accepted frame is
// of a known type and survives a round trip.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"send","id":"1","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","client_msg_id":"c","text":"hi"}`))
	f.Add([]byte(`{"type":"subscribe","rooms":[{"room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","last_seq":1}]}`))
	f.Add([]byte(`{"type":"history","room_id":"0193a1b2-c3d4-7e5f-8a9b-000000000003","before_seq":5,"limit":10}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := Decode(data)
		if err != nil {
			pe, ok := IsError(err)
			if !ok || pe.Code == "" || pe.Message == "" {
				t.Fatalf("error without code: %v", err)
			}
			return
		}
		if fr.Type == "" {
			t.Fatal("accepted a frame without type")
		}
		again, err := json.Marshal(fr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("accepted frame does not round-trip: %v", err)
		}
	})
}
