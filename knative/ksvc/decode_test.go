package ksvc

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

func stored(t *testing.T, data any) event.Event {
	t.Helper()
	e, err := eventsv1.New("e-1", eventsv1.TypeMessageStored, eventsv1.SourcePersist, "r", time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDecodeEventReadsValidData(t *testing.T) {
	e := stored(t, eventsv1.Message{ID: "m", RoomID: "r", Seq: 3})
	if err := CheckEvent("test", e); err != nil {
		t.Fatal(err)
	}
	m, err := DecodeEvent("test", e, func(m *eventsv1.Message) bool { return m.ID != "" })
	if err != nil || m.ID != "m" || m.Seq != 3 {
		t.Fatalf("decoded %+v, %v", m, err)
	}
}

// Whatever is wrong with an event itself is permanent: redelivery cannot fix it.
func TestBadEventsArePermanent(t *testing.T) {
	forged := stored(t, eventsv1.Message{ID: "m"})
	forged.SetSource(eventsv1.SourceModeration)
	huge := stored(t, []byte(`{"text":"`+strings.Repeat("x", eventsv1.MaxDataBytes)+`"}`))
	for name, err := range map[string]error{
		"forged source": CheckEvent("test", forged),
		"over the size": CheckEvent("test", huge),
		"not JSON": func() error {
			_, err := DecodeEvent("test", stored(t, []byte(`[1`)), func(*eventsv1.Message) bool { return true })
			return err
		}(),
		"missing field": func() error {
			_, err := DecodeEvent("test", stored(t, eventsv1.Message{}), func(m *eventsv1.Message) bool { return m.ID != "" })
			return err
		}(),
	} {
		if !IsPermanent(err) || !strings.HasPrefix(err.Error(), "test: ") {
			t.Errorf("%s: %v, want a permanent error naming the service", name, err)
		}
	}
}

// Metrics label an event by its type only when Parley defines it: the
// label is set before anyone checks the sender, and each made-up type
// would add series for good.
func TestMetricsLabelOnlyParleysEventTypes(t *testing.T) {
	for typ, want := range map[string]string{
		eventsv1.TypeMessageSent:  eventsv1.TypeMessageSent,
		eventsv1.TypeFileUploaded: eventsv1.TypeFileUploaded,
		"made.up.1":               "other",
		"":                        "other",
	} {
		if got := metricType(typ); got != want {
			t.Errorf("metricType(%q) = %q, want %q", typ, got, want)
		}
	}
}
