package emulator

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// The Broker's deliveries carry the headers and body the CloudEvents SDK
// writes for the same event, so subscribers read exactly what they did.
func TestBinaryHeadersAreTheSDKs(t *testing.T) {
	full := newEvent("id-1", "parley.message.sent", "room-1", `{"text":"héllo"}`)
	full.SetSubject("a subject")
	full.SetDataSchema("https://example.com/schema")
	full.SetTime(time.Date(2026, 12, 6, 5, 4, 3, 2100, time.FixedZone("x", 3600)))
	full.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	full.SetExtension("knativeerrorcode", 503)
	bare := event.New()
	bare.SetID("id-2")
	bare.SetSource("emulator-test")
	bare.SetType("parley.user.created")
	for _, e := range []event.Event{full, bare} {
		sdk, err := http.NewRequest(http.MethodPost, "http://x/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(&e), sdk); err != nil {
			t.Fatal(err)
		}
		ours, err := http.NewRequest(http.MethodPost, "http://x/", bytes.NewReader(e.Data()))
		if err != nil {
			t.Fatal(err)
		}
		if err := setBinaryHeaders(ours.Header, e); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ours.Header, sdk.Header) {
			t.Errorf("event %s: headers\n%v\nwant the SDK's\n%v", e.ID(), ours.Header, sdk.Header)
		}
		var want, got []byte
		if sdk.Body != nil {
			want, _ = io.ReadAll(sdk.Body)
		}
		got, _ = io.ReadAll(ours.Body)
		if !bytes.Equal(got, want) {
			t.Errorf("event %s: body %q, want %q", e.ID(), got, want)
		}
	}
}
