package members

import (
	"context"
	"fmt"
	"testing"
	"time"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

type fakeAuth struct {
	member map[string]bool
	calls  int
	during func() // runs while a check is in flight
}

func (f *fakeAuth) CheckMembership(_ context.Context, room, user string) (*authv1.CheckMembershipResponse, error) {
	f.calls++
	resp := &authv1.CheckMembershipResponse{Member: f.member[room+"/"+user], Role: authv1.RoomRole_ROOM_ROLE_MEMBER,
		Kind: authv1.RoomKind_ROOM_KIND_PRIVATE}
	if f.during != nil {
		f.during()
	}
	return resp, nil
}

func TestCachesAndExpires(t *testing.T) {
	auth := &fakeAuth{member: map[string]bool{"r/a": true}}
	c := New(auth, 10*time.Second)
	clock := time.Unix(0, 0)
	c.now = func() time.Time { return clock }
	ctx := context.Background()
	for range 5 {
		if role, _ := c.Role(ctx, "r", "a"); role != "member" {
			t.Fatalf("role %q", role)
		}
	}
	if auth.calls != 1 {
		t.Fatalf("%d calls for 5 checks within the TTL", auth.calls)
	}
	if role, _ := c.Role(ctx, "r", "b"); role != "" {
		t.Fatal("non-member reported as member")
	}
	auth.member["r/b"] = true // invited
	clock = clock.Add(3 * time.Second)
	if role, _ := c.Role(ctx, "r", "b"); role != "member" {
		t.Fatal("negative answer cached too long")
	}
	delete(auth.member, "r/a") // kicked
	clock = clock.Add(11 * time.Second)
	if role, _ := c.Role(ctx, "r", "a"); role != "" {
		t.Fatal("kick not seen after the TTL")
	}
}

func TestTheRoomsKindComesWithTheMembershipAnswer(t *testing.T) {
	auth := &fakeAuth{member: map[string]bool{"r/a": true}}
	c := New(auth, time.Hour)
	ctx := context.Background()
	if role, _ := c.Role(ctx, "r", "a"); role != authv1.RoomRoleMember {
		t.Fatalf("role %q", role)
	}
	if kind, _ := c.Kind(ctx, "r", "a"); kind != authv1.RoomKindPrivate || auth.calls != 1 {
		t.Fatalf("kind %q after %d calls to auth, want %q from the one answer", kind, auth.calls, authv1.RoomKindPrivate)
	}
	if kind, _ := c.Kind(ctx, "r", "b"); kind != "" {
		t.Fatalf("a non-member is told the room's kind, %q", kind)
	}
}

func TestForgetAsksAgain(t *testing.T) {
	auth := &fakeAuth{member: map[string]bool{"r/a": true}}
	c := New(auth, time.Hour)
	ctx := context.Background()
	c.Role(ctx, "r", "a")
	delete(auth.member, "r/a") // kicked
	if role, _ := c.Role(ctx, "r", "a"); role != "member" {
		t.Fatalf("role %q within the TTL: the cache was not used", role)
	}
	c.Forget("r", "a")
	if role, _ := c.Role(ctx, "r", "a"); role != "" {
		t.Fatalf("role %q after Forget, want none", role)
	}
	if auth.calls != 2 {
		t.Fatalf("%d calls to auth, want 2", auth.calls)
	}
}

func TestAnAnswerOlderThanAForgetIsNotCached(t *testing.T) {
	auth := &fakeAuth{member: map[string]bool{"r/a": true}}
	c := New(auth, time.Hour)
	ctx := context.Background()
	// The kick lands while auth's answer (still "member") is on its way.
	auth.during = func() { auth.during = nil; delete(auth.member, "r/a"); c.Forget("r", "a") }
	if role, _ := c.Role(ctx, "r", "a"); role != "member" {
		t.Fatalf("role %q, want the answer auth gave", role)
	}
	if role, _ := c.Role(ctx, "r", "a"); role != "" {
		t.Fatalf("role %q after the kick: an answer from before it was cached", role)
	}
}

type blockingAuth struct {
	blocked bool
	calls   int
}

func (f *blockingAuth) CheckMembership(context.Context, string, string) (*authv1.CheckMembershipResponse, error) {
	f.calls++
	return &authv1.CheckMembershipResponse{Member: true, Kind: authv1.RoomKind_ROOM_KIND_DIRECT, Blocked: f.blocked}, nil
}

// Blocked shares Role's cached answer, and a block heard of (Forget)
// applies at once.
func TestBlockedSharesTheAnswerAndIsForgotten(t *testing.T) {
	auth := &blockingAuth{}
	c := New(auth, time.Hour)
	ctx := context.Background()
	if role, _ := c.Role(ctx, "dm", "bob"); role != "member" {
		t.Fatalf("role %q", role)
	}
	if blocked, _ := c.Blocked(ctx, "dm", "bob"); blocked || auth.calls != 1 {
		t.Fatalf("blocked %v after %d calls", blocked, auth.calls)
	}
	auth.blocked = true
	c.Forget("dm", "bob")
	if blocked, _ := c.Blocked(ctx, "dm", "bob"); !blocked {
		t.Fatal("block not seen after Forget")
	}
}

// A full cache drops a tenth of its answers to take a new one, not all of
// them: frames naming made-up rooms cannot make every member's next check
// ask auth.
func TestAFullCacheKeepsMostAnswers(t *testing.T) {
	auth := &fakeAuth{member: map[string]bool{}}
	c := New(auth, time.Minute)
	c.maxSize = 100
	ctx := context.Background()
	for i := range c.maxSize {
		auth.member[fmt.Sprint("r", i, "/a")] = true
		c.Role(ctx, fmt.Sprint("r", i), "a")
	}
	c.Role(ctx, "made-up", "a")
	if n := len(c.entries); n > c.maxSize || n < c.maxSize*9/10 {
		t.Fatalf("%d answers cached after one past %d, want about nine tenths kept", n, c.maxSize)
	}
	asked := auth.calls
	for i := range c.maxSize {
		c.Role(ctx, fmt.Sprint("r", i), "a")
	}
	// The evicted tenth asks again, and taking their answers back may
	// evict a few more; with the whole cache dropped, all would.
	if again := auth.calls - asked; again > c.maxSize/2 {
		t.Errorf("%d of %d members asked auth again", again, c.maxSize)
	}
}

// ForgetUser drops every answer about the user, and only theirs, and an
// answer in flight across it is not cached.
func TestForgetUserAsksAgainForEveryRoomOfTheUser(t *testing.T) {
	auth := &fakeAuth{member: map[string]bool{"r1/a": true, "r2/a": true, "r1/b": true}}
	c := New(auth, time.Hour)
	ctx := context.Background()
	for _, k := range [][2]string{{"r1", "a"}, {"r2", "a"}, {"r1", "b"}} {
		c.Role(ctx, k[0], k[1])
	}
	c.ForgetUser("a")
	asked := auth.calls
	for _, k := range [][2]string{{"r1", "a"}, {"r2", "a"}, {"r1", "b"}} {
		c.Role(ctx, k[0], k[1])
	}
	if again := auth.calls - asked; again != 2 {
		t.Fatalf("%d checks went to auth, want a's two", again)
	}
	auth.during = func() { c.ForgetUser("b") }
	c.Role(ctx, "r3", "b")
	auth.during = nil
	asked = auth.calls
	c.Role(ctx, "r3", "b")
	if auth.calls == asked {
		t.Error("an answer asked for before ForgetUser and received after it was cached")
	}
}

// ForgetUser's marks do not pile up: one older than the TTL goes (every
// answer it hid has expired by then), a recent one stays.
func TestForgetUserKeepsOnlyRecentMarks(t *testing.T) {
	auth := &fakeAuth{member: map[string]bool{"r/a": true}}
	c := New(auth, 10*time.Second)
	clock := time.Unix(0, 0)
	c.now = func() time.Time { return clock }
	ctx := context.Background()
	for i := range minPruneAt - 2 {
		c.ForgetUser(fmt.Sprint("gone", i))
	}
	clock = clock.Add(4 * time.Second)
	c.Role(ctx, "r", "a")
	clock = clock.Add(time.Second)
	c.ForgetUser("a")
	clock = clock.Add(6 * time.Second)
	c.ForgetUser("b") // the cache's size: prunes the marks older than 10 s
	if n := len(c.usersForgotten); n != 2 {
		t.Errorf("%d marks kept, want a's and b's", n)
	}
	asked := auth.calls
	c.Role(ctx, "r", "a") // cached at 4 s until 14 s, but forgotten at 5 s: asks again
	if auth.calls == asked {
		t.Error("an answer cached before ForgetUser was used after the prune")
	}
}
