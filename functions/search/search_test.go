package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	searchv1 "github.com/parley-chat/parley/proto/parley/search/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Postgres|devstack.Kafka, &stack))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type testEnv struct {
	url    string // the search role's database
	pool   *pgxpool.Pool
	f      *function
	client searchv1.SearchServiceClient
}

// newDatabase provisions a database and role of its own for one test, as
// make run does for the function, and drops both when the test ends.
func newDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	name := "search_test_" + hex.EncodeToString(b)
	url, err := devstack.ProvisionDatabase(ctx, stack.DatabaseURL, name, hex.EncodeToString(b)+"-pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, stack.DatabaseURL)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Exec(ctx, "DROP ROLE IF EXISTS "+name)
	})
	return url
}

// newEnv runs the function on a fresh database of its own, its Search
// served over real gRPC.
func newEnv(t testing.TB) *testEnv {
	t.Helper()
	ctx := context.Background()
	url := newDatabase(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(pool, quiet)
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go svc.GRPC.Serve(ln)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	// Events go through the batcher, as in the service.
	st := &store{pool: pool}
	f := &function{store: st, puts: newPutBatcher(st)}
	runCtx, stopPuts := context.WithCancel(ctx)
	puts := make(chan struct{})
	go func() { defer close(puts); f.puts.Run(runCtx) }()
	t.Cleanup(func() {
		stopPuts()
		<-puts
		conn.Close()
		svc.GRPC.Stop()
		svc.Stop(context.Background())
	})
	return &testEnv{url: url, pool: pool, f: f, client: searchv1.NewSearchServiceClient(conn)}
}

// newEvent builds an event as its emitter would.
func newEvent(t testing.TB, typ string, at time.Time, data any) event.Event {
	t.Helper()
	source := eventsv1.EmitterOf(typ)
	if source == eventsv1.SourceConnector {
		source += "connector-test"
	}
	e, err := eventsv1.New(uuid.NewString(), typ, source, "room", at, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *testEnv) deliver(t testing.TB, typ string, at time.Time, data any) {
	t.Helper()
	if _, err := e.f.Handle(context.Background(), newEvent(t, typ, at, data)); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func message(room string, seq int64, text string) eventsv1.Message {
	return eventsv1.Message{ID: uuid.NewString(), RoomID: room, Seq: seq, UserID: "u-1", Username: "ann", Text: text,
		CreatedAt: t0.Add(time.Duration(seq) * time.Second)}
}

func (e *testEnv) search(t testing.TB, q string, rooms ...string) []*searchv1.Hit {
	t.Helper()
	resp, err := e.client.Search(context.Background(), &searchv1.SearchRequest{UserId: "u-1", RoomIds: rooms, Query: q})
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	return resp.Hits
}

// ids lists the hits' message ids in order.
func ids(hits []*searchv1.Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.MessageId)
	}
	return out
}

// excerpt renders a hit's fragments with [matches] marked.
func excerpt(h *searchv1.Hit) string {
	var sb strings.Builder
	for _, f := range h.Excerpt {
		if f.Match {
			sb.WriteString("[" + f.Text + "]")
		} else {
			sb.WriteString(f.Text)
		}
	}
	return sb.String()
}

func TestAStoredMessageIsFoundWithItsMatchesMarkedAsText(t *testing.T) {
	e := newEnv(t)
	m := message("r1", 1, `<b onclick="x()">Quick</b> brown fox & friends`)
	e.deliver(t, eventsv1.TypeMessageStored, t0, m)
	e.deliver(t, eventsv1.TypeMessageStored, t0, message("r1", 2, "nothing to see"))
	hits := e.search(t, "quick", "r1")
	if len(hits) != 1 || hits[0].MessageId != m.ID || hits[0].Seq != 1 || hits[0].Username != "ann" ||
		!hits[0].CreatedAt.AsTime().Equal(m.CreatedAt) || hits[0].EditedAt != nil {
		t.Fatalf("hits %v", hits)
	}
	// Markup typed in a message comes back as the very text typed, and
	// the match is a fragment of its own, not a tag.
	if got := excerpt(hits[0]); got != `<b onclick="x()">[Quick]</b> brown fox & friends` {
		t.Errorf("excerpt %q", got)
	}
	if hits := e.search(t, `"brown fox"`, "r1"); len(hits) != 1 {
		t.Errorf("phrase: %d hits", len(hits))
	}
	if hits := e.search(t, "fox -friends", "r1"); len(hits) != 0 {
		t.Errorf("an excluded word still found %v", ids(hits))
	}
}

// The markers that split the excerpt cannot be forged by typing them.
// Messages stored at the same time are indexed in one statement; a
// redelivery in the same batch and an edit that came first change nothing.
func TestMessagesStoredTogetherAreIndexedTogether(t *testing.T) {
	e := newEnv(t)
	var ms []eventsv1.Message
	for i := range 40 {
		ms = append(ms, message("r-batch", int64(i+1), fmt.Sprintf("batched note %d", i)))
	}
	e.deliver(t, eventsv1.TypeMessageEdited, t0, eventsv1.MessageEdited{MessageID: ms[0].ID, RoomID: "r-batch", UserID: "u-1",
		Text: "edited before it was stored", EditedAt: t0.Add(time.Hour)})
	ms = append(ms, ms[1]) // redelivered
	errs := make(chan error, len(ms))
	for _, m := range ms {
		go func() {
			_, err := e.f.Handle(context.Background(), newEvent(t, eventsv1.TypeMessageStored, m.CreatedAt, m))
			errs <- err
		}()
	}
	for range ms {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var rows, batched int
	if err := e.pool.QueryRow(context.Background(),
		`SELECT count(*), count(*) FILTER (WHERE text LIKE 'batched note%') FROM messages WHERE room_id = 'r-batch' AND stored`).Scan(&rows, &batched); err != nil {
		t.Fatal(err)
	}
	if rows != 40 || batched != 39 {
		t.Errorf("%d rows stored, %d with their sent text; want 40 and 39 (the first keeps its edit)", rows, batched)
	}
	if hits := e.search(t, "edited", "r-batch"); len(hits) != 1 || hits[0].MessageId != ms[0].ID {
		t.Errorf("the edit that came first: hits %v", hits)
	}
}

func TestTypedMarkerCharactersDoNotForgeMatches(t *testing.T) {
	e := newEnv(t)
	e.deliver(t, eventsv1.TypeMessageStored, t0, message("r1", 1, "fake "+matchStart+"mark"+matchStop+" here x\x00y"))
	hits := e.search(t, "here", "r1")
	if len(hits) != 1 {
		t.Fatalf("hits %v", hits)
	}
	if got := excerpt(hits[0]); got != "fake mark [here] xy" {
		t.Errorf("excerpt %q", got)
	}
}

func TestOnlyTheCallersRoomsAreSearched(t *testing.T) {
	e := newEnv(t)
	mine, theirs := message("r-mine", 1, "budget meeting"), message("r-theirs", 1, "budget secrets")
	e.deliver(t, eventsv1.TypeMessageStored, t0, mine)
	e.deliver(t, eventsv1.TypeMessageStored, t0, theirs)
	if got := ids(e.search(t, "budget", "r-mine")); len(got) != 1 || got[0] != mine.ID {
		t.Errorf("found %v, want only %s", got, mine.ID)
	}
	if got := e.search(t, "budget"); len(got) != 0 {
		t.Errorf("a member of no room found %v", ids(got))
	}
}

func TestEditsKeepTheNewestTextInAnyOrder(t *testing.T) {
	e := newEnv(t)
	m := message("r1", 1, "original words")
	newer := eventsv1.MessageEdited{MessageID: m.ID, RoomID: "r1", UserID: "u-1", Text: "second draft", EditedAt: t0.Add(time.Hour)}
	older := eventsv1.MessageEdited{MessageID: m.ID, RoomID: "r1", UserID: "u-1", Text: "first draft", EditedAt: t0.Add(time.Minute)}
	// The newest edit before the message, the older one after it.
	e.deliver(t, eventsv1.TypeMessageEdited, t0, newer)
	if hits := e.search(t, "second", "r1"); len(hits) != 0 {
		t.Fatalf("an edit of a message not yet stored was found")
	}
	e.deliver(t, eventsv1.TypeMessageStored, t0, m)
	e.deliver(t, eventsv1.TypeMessageEdited, t0, older)
	e.deliver(t, eventsv1.TypeMessageStored, t0, m) // redelivered
	for q, want := range map[string]int{"second": 1, "first": 0, "original": 0} {
		if hits := e.search(t, q, "r1"); len(hits) != want {
			t.Errorf("%q: %d hits, want %d", q, len(hits), want)
		}
	}
	hits := e.search(t, "draft", "r1")
	if len(hits) != 1 || hits[0].EditedAt == nil || !hits[0].EditedAt.AsTime().Equal(newer.EditedAt) {
		t.Errorf("hits %v, want edited at %v", hits, newer.EditedAt)
	}
	// An edit naming another room changes nothing.
	e.deliver(t, eventsv1.TypeMessageEdited, t0, eventsv1.MessageEdited{MessageID: m.ID, RoomID: "r2", Text: "hijack",
		EditedAt: t0.Add(2 * time.Hour)})
	if hits := e.search(t, "hijack", "r1", "r2"); len(hits) != 0 {
		t.Errorf("an edit from another room was applied")
	}
}

func TestADeleteIsFinalWhateverComesAfter(t *testing.T) {
	e := newEnv(t)
	m := message("r1", 1, "regrettable remark")
	early := message("r1", 2, "never seen remark")
	e.deliver(t, eventsv1.TypeMessageStored, t0, m)
	e.deliver(t, eventsv1.TypeMessageDeleted, t0, eventsv1.MessageDeleted{MessageID: m.ID, RoomID: "r1", UserID: "u-1", DeletedAt: t0})
	// A delete before its message and before an edit.
	e.deliver(t, eventsv1.TypeMessageDeleted, t0, eventsv1.MessageDeleted{MessageID: early.ID, RoomID: "r1", UserID: "u-1", DeletedAt: t0})
	e.deliver(t, eventsv1.TypeMessageEdited, t0, eventsv1.MessageEdited{MessageID: early.ID, RoomID: "r1", UserID: "u-1",
		Text: "edited remark", EditedAt: t0.Add(time.Hour)})
	e.deliver(t, eventsv1.TypeMessageStored, t0, early)
	e.deliver(t, eventsv1.TypeMessageEdited, t0, eventsv1.MessageEdited{MessageID: m.ID, RoomID: "r1", UserID: "u-1",
		Text: "edited remark", EditedAt: t0.Add(time.Hour)})
	if hits := e.search(t, "remark", "r1"); len(hits) != 0 {
		t.Errorf("deleted messages found: %v", ids(hits))
	}
	// Nor is the text kept anywhere.
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM messages WHERE text <> ''").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows still hold text (%v)", n, err)
	}
}

func TestHiddenTextIsNeverFoundUntilRestored(t *testing.T) {
	e := newEnv(t)
	m := message("r1", 1, "you absolute idiot")
	flag := eventsv1.MessageFlagged{MessageID: m.ID, RoomID: "r1", Seq: 1, UserID: "u-1", Labels: []string{"toxic"}}
	// The flag before the message.
	e.deliver(t, eventsv1.TypeMessageFlagged, t0.Add(time.Second), flag)
	e.deliver(t, eventsv1.TypeMessageStored, t0, m)
	if hits := e.search(t, "idiot", "r1"); len(hits) != 0 {
		t.Fatalf("a hidden message was found")
	}
	restore := eventsv1.MessageRestored{MessageID: m.ID, RoomID: "r1", By: "mod", At: t0.Add(time.Minute)}
	e.deliver(t, eventsv1.TypeMessageRestored, t0, restore)
	if hits := e.search(t, "idiot", "r1"); len(hits) != 1 {
		t.Fatalf("a restored message: %d hits", len(hits))
	}
	// The flag redelivered after the restore it preceded changes nothing.
	e.deliver(t, eventsv1.TypeMessageFlagged, t0.Add(time.Second), flag)
	if hits := e.search(t, "idiot", "r1"); len(hits) != 1 {
		t.Errorf("an old flag hid a restored message again")
	}
}

func TestResultsAreNewestFirstInPages(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := int64(1); i <= 5; i++ {
		m := message("r1", i, "standup notes")
		e.deliver(t, eventsv1.TypeMessageStored, t0, m)
		want = append([]string{m.ID}, want...)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more pages than hits")
		}
		resp, err := e.client.Search(context.Background(), &searchv1.SearchRequest{UserId: "u-1", RoomIds: []string{"r1"},
			Query: "notes", Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(resp.Hits)...)
		if cursor = resp.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages gave\n%v\nwant\n%v", got, want)
	}
}

func TestBadSearchesGetClearErrors(t *testing.T) {
	e := newEnv(t)
	for name, c := range map[string]struct {
		req    *searchv1.SearchRequest
		reason string
	}{
		"empty":         {&searchv1.SearchRequest{Query: "   "}, "QUERY_EMPTY"},
		"punctuation":   {&searchv1.SearchRequest{Query: "!!! ..."}, "QUERY_EMPTY"},
		"only excluded": {&searchv1.SearchRequest{Query: "-spam"}, "QUERY_EMPTY"},
		"too long":      {&searchv1.SearchRequest{Query: strings.Repeat("é", maxQueryChars+1)}, "QUERY_TOO_LONG"},
		"limit":         {&searchv1.SearchRequest{Query: "x", Limit: maxLimit + 1}, "LIMIT_OUT_OF_RANGE"},
		"negative":      {&searchv1.SearchRequest{Query: "x", Limit: -1}, "LIMIT_OUT_OF_RANGE"},
		"cursor":        {&searchv1.SearchRequest{Query: "x", Cursor: "not-a-cursor"}, "BAD_CURSOR"},
		"rooms":         {&searchv1.SearchRequest{Query: "x", RoomIds: make([]string, maxRooms+1)}, "TOO_MANY_ROOMS"},
	} {
		c.req.UserId = "u-1"
		_, err := e.client.Search(context.Background(), c.req)
		st := status.Convert(err)
		reason := ""
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok {
				reason = info.Reason
			}
		}
		if st.Code() != codes.InvalidArgument || reason != c.reason || st.Message() == "" {
			t.Errorf("%s: %v (reason %q), want InvalidArgument %s", name, err, reason, c.reason)
		}
	}
	if hits := e.search(t, strings.Repeat("é", maxQueryChars), "r1"); len(hits) != 0 {
		t.Errorf("hits %v", hits)
	}
}

func TestBadEventsAreRefusedForGood(t *testing.T) {
	e := newEnv(t)
	m := message("r1", 1, "fine")
	forged := newEvent(t, eventsv1.TypeMessageStored, t0, m)
	forged.SetSource(eventsv1.SourceConnector + "x")
	long := message("r1", 2, strings.Repeat("a", eventsv1.MaxTextChars+1))
	noSeq := message("r1", 0, "no seq")
	garbage := newEvent(t, eventsv1.TypeMessageDeleted, t0, nil)
	garbage.SetData("application/json", []byte("{not json"))
	foreign := newEvent(t, eventsv1.TypeUserCreated, t0, eventsv1.UserCreated{UserID: "u"})
	for name, ev := range map[string]event.Event{
		"forged":   forged,
		"too long": newEvent(t, eventsv1.TypeMessageStored, t0, long),
		"no seq":   newEvent(t, eventsv1.TypeMessageStored, t0, noSeq),
		"garbage":  garbage,
		"foreign":  foreign,
		"no time": newEvent(t, eventsv1.TypeMessageRestored, t0,
			eventsv1.MessageRestored{MessageID: m.ID, RoomID: "r1"}),
	} {
		_, err := e.f.Handle(context.Background(), ev)
		if !ksvc.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent refusal", name, err)
		}
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM messages").Scan(&n); err != nil || n != 0 {
		t.Errorf("refused events left %d rows (%v)", n, err)
	}
}

// The function's role owns its database and nothing more.
func TestTheSearchRoleHasNoPrivilegeBeyondItsDatabase(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{"CREATE DATABASE sneaky", "CREATE ROLE sneaky"} {
		if _, err := conn.Exec(ctx, stmt); err == nil {
			t.Errorf("%s: allowed", stmt)
		}
	}
	other := newDatabase(t) // another service's database
	otherName := other[strings.LastIndex(other, "/")+1:]
	if _, err := pgx.Connect(ctx, strings.Replace(e.url, e.url[strings.LastIndex(e.url, "/")+1:], otherName, 1)); err == nil {
		t.Errorf("the role connected to another service's database")
	} else if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("connecting elsewhere: %v, want permission denied", err)
	}
}
