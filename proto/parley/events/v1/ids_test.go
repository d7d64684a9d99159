package eventsv1

import (
	"strings"
	"testing"
)

func TestAnIDIsAUUIDInItsCanonicalForm(t *testing.T) {
	const id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	if !ValidID(id) {
		t.Fatalf("%s refused", id)
	}
	for _, s := range []string{"", "r1", strings.ToUpper(id), "{" + id + "}", "urn:uuid:" + id, strings.ReplaceAll(id, "-", ""), id + " "} {
		if ValidID(s) {
			t.Errorf("%q taken for an id", s)
		}
	}
}
