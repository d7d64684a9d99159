package eventsv1

import (
	"strings"
	"testing"
)

func TestCheckFileEnforcesTheLimits(t *testing.T) {
	for name, tc := range map[string]struct {
		name, typ string
		size      int64
		says      string // "" for accepted
	}{
		"a photo":         {"photo.jpg", "image/jpeg", 3 << 20, ""},
		"a large pdf":     {"report.pdf", "application/pdf", MaxFileBytes, ""},
		"a pdf over":      {"report.pdf", "application/pdf", MaxFileBytes + 1, "at most 25.0 MB"},
		"an image over":   {"big.png", "image/png", MaxImageBytes + 1, "image files may be at most 10.0 MB"},
		"html":            {"page.html", "text/html", 10, "not allowed"},
		"svg":             {"logo.svg", "image/svg+xml", 10, "not allowed"},
		"javascript":      {"app.js", "application/javascript", 10, "not allowed"},
		"type parameters": {"a.txt", "text/plain; charset=utf-8", 10, "not allowed"},
		"empty":           {"a.txt", "text/plain", 0, "empty"},
		"a path":          {"a/b.txt", "text/plain", 10, "path"},
		"dot dot":         {"..", "text/plain", 10, "path"},
		"a control char":  {"a\x00.txt", "text/plain", 10, "control"},
		"a long name":     {strings.Repeat("a", MaxFileNameBytes+1), "text/plain", 10, "bytes"},
		"spaces only":     {"   ", "text/plain", 10, "name"},
		"unicode is fine": {"über «draft» 📄.txt", "text/plain", 10, ""},
		"a quote":         {`a".txt`, "text/plain", 10, "quotes"},
	} {
		err := CheckFile(tc.name, tc.size, tc.typ)
		switch {
		case tc.says == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.says)
		}
	}
}

func TestCheckAttachments(t *testing.T) {
	a := Attachment{ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Name: "a.png", Size: 10, ContentType: "image/png"}
	if err := CheckAttachments([]Attachment{a}); err != nil {
		t.Fatal(err)
	}
	if err := CheckAttachments([]Attachment{a, a}); err == nil {
		t.Error("the same file twice was accepted")
	}
	bad := a
	bad.ID = "rooms/../x"
	if err := CheckAttachments([]Attachment{bad}); err == nil {
		t.Error("an id that is a path was accepted")
	}
	if err := CheckAttachments(make([]Attachment, MaxAttachments+1)); err == nil {
		t.Error("too many attachments were accepted")
	}
}
