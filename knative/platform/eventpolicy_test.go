package platform

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// Only Parley's own services put events into the stream, each only its
// own types under its own source: the Broker's ingress refuses a post
// without a token (401), and one with a token whose EventPolicy does not
// allow the event (403). auth's token stands for any credential an
// attacker could steal: with it, nothing but auth's own events get in.
func TestForgedEventsAreRefusedAtTheIngress(t *testing.T) {
	env, _ := plat.em.ServiceEnv("parley", "auth")
	var tokenFile string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "BROKER_TOKEN_FILE="); ok {
			tokenFile = v
		}
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("auth's projected token (%q): %v", tokenFile, err)
	}
	post := func(typ, source, bearer string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, plat.em.IngressURL("parley", "default"), bytes.NewReader([]byte(`{}`)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", uuid.NewString())
		req.Header.Set("Ce-Type", typ)
		req.Header.Set("Ce-Source", source)
		req.Header.Set("Ce-Partitionkey", uuid.NewString())
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, typ := range []string{eventsv1.TypeMessageSent, eventsv1.TypeMessageEdited, eventsv1.TypeMessageDeleted, eventsv1.TypeMessageReacted,
		eventsv1.TypeReceiptRead, eventsv1.TypeMessageFlagged, eventsv1.TypeMessageRestored, eventsv1.TypeMessageStored,
		eventsv1.TypeUserCreated, eventsv1.TypeRoomMemberJoined, eventsv1.TypeRoomMemberLeft} {
		source := eventsv1.EmitterOf(typ)
		if got := post(typ, source, ""); got != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", typ, got)
		}
		want := http.StatusForbidden
		if source == eventsv1.SourceAuth {
			continue // auth's own: what its token is for
		}
		if got := post(typ, source, string(token)); got != want {
			t.Errorf("%s from %s with auth's token: %d, want %d", typ, source, got, want)
		}
	}
	// auth's own type, claiming another service's source.
	if got := post(eventsv1.TypeUserCreated, eventsv1.SourceModeration, string(token)); got != http.StatusForbidden {
		t.Errorf("user.created under moderation's source with auth's token: %d, want 403", got)
	}
}
