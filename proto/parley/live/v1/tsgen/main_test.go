package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

const committed = "../../../../../web/src/lib/contract.gen.ts"

func TestCommittedContractIsGenerated(t *testing.T) {
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.FromSlash(committed))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("web/src/lib/contract.gen.ts differs from the Go contract: run make generate\n--- generated:\n%s", want)
	}
}

// The TypeScript rule is code < FirstCloseCode or one of
// ReconnectCloseCodes: it must answer as livev1.Reconnects does for every
// code, defined or not.
func TestGeneratedReconnectRuleIsGos(t *testing.T) {
	src, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`ReconnectCloseCodes: readonly number\[\] = \[([^\]]*)\]`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no ReconnectCloseCodes in the generated contract")
	}
	listed := map[livev1.CloseCode]bool{}
	for _, s := range regexp.MustCompile(`\d+`).FindAll(m[1], -1) {
		n, _ := strconv.Atoi(string(s))
		listed[livev1.CloseCode(n)] = true
	}
	for code := livev1.CloseCode(0); code < 5000; code++ {
		if ts := code < livev1.FirstCloseCode || listed[code]; ts != livev1.Reconnects(code) {
			t.Errorf("close %d: TypeScript reconnects %v, Go %v", code, ts, livev1.Reconnects(code))
		}
	}
}
