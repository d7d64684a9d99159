package cekafka

import (
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

func TestRoundTrip(t *testing.T) {
	e := event.New()
	e.SetID("01J")
	e.SetSource("/connector")
	e.SetType("parley.message.sent")
	e.SetSubject("room-1")
	e.SetTime(time.Date(2026, 11, 26, 1, 2, 3, 400, time.UTC))
	e.SetExtension(PartitionKey, "room-1")
	e.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if err := e.SetData("application/json", map[string]string{"text": "hi"}); err != nil {
		t.Fatal(err)
	}
	key, headers, value, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if string(key) != "room-1" {
		t.Errorf("key = %q, want room-1", key)
	}
	header := func(attr string) string {
		for _, h := range headers {
			if h.Key == AttributeHeader(attr) {
				return string(h.Value)
			}
		}
		return ""
	}
	if v := header("type"); v != "parley.message.sent" {
		t.Errorf("type header = %q", v)
	}
	if v := header("datacontenttype"); v != "application/json" {
		t.Errorf("datacontenttype header = %q", v)
	}
	got, err := Decode(headers, value)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID() != e.ID() || got.Type() != e.Type() || got.Subject() != e.Subject() ||
		!got.Time().Equal(e.Time()) || string(got.Data()) != string(e.Data()) ||
		got.Extensions()["traceparent"] != e.Extensions()["traceparent"] {
		t.Errorf("round trip changed the event:\n got %v\nwant %v", got, e)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string][]Header{
		"no specversion":  {{"ce_id", []byte("1")}, {"ce_type", []byte("t")}, {"ce_source", []byte("s")}},
		"missing id":      {{"ce_specversion", []byte("1.0")}, {"ce_type", []byte("t")}, {"ce_source", []byte("s")}},
		"missing type":    {{"ce_specversion", []byte("1.0")}, {"ce_id", []byte("1")}, {"ce_source", []byte("s")}},
		"old specversion": {{"ce_specversion", []byte("0.3")}, {"ce_id", []byte("1")}, {"ce_type", []byte("t")}, {"ce_source", []byte("s")}},
		"bad time":        {{"ce_specversion", []byte("1.0")}, {"ce_id", []byte("1")}, {"ce_type", []byte("t")}, {"ce_source", []byte("s")}, {"ce_time", []byte("yesterday")}},
		"bad extension":   {{"ce_specversion", []byte("1.0")}, {"ce_id", []byte("1")}, {"ce_type", []byte("t")}, {"ce_source", []byte("s")}, {"ce_Bad-Name", []byte("x")}},
	}
	for name, headers := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(headers, nil); err == nil {
				t.Fatal("Decode accepted an invalid record")
			}
		})
	}
}

func TestEncodeRejectsInvalidEvent(t *testing.T) {
	e := event.New()
	e.SetType("t") // no id, no source
	if _, _, _, err := Encode(e); err == nil {
		t.Fatal("Encode accepted an event without id and source")
	}
}
