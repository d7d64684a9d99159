package main

import (
	"testing"
	"time"
)

func TestRoomKindsRemembersDirectForGoodAndGroupBriefly(t *testing.T) {
	var k roomKinds
	now := time.Now()
	if _, ok := k.get("r", now); ok {
		t.Fatal("an unknown room is known")
	}
	k.put("group", false, now)
	if direct, ok := k.get("group", now.Add(notDirectTTL/2)); !ok || direct {
		t.Fatalf("group room within its TTL: direct=%v known=%v", direct, ok)
	}
	if _, ok := k.get("group", now.Add(notDirectTTL+time.Second)); ok {
		t.Fatal("a group room is still taken as known after its TTL: a late direct join would be missed")
	}
	k.put("dm", true, now)
	k.put("dm", false, now) // a lookup that raced the join must not undo it
	if direct, ok := k.get("dm", now.Add(24*time.Hour)); !ok || !direct {
		t.Fatalf("direct room: direct=%v known=%v", direct, ok)
	}
}
