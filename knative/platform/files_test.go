package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/parley-chat/parley/knative/stores"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

// upload is the answer of POST /api/v1/rooms/{room}/uploads.
type upload struct {
	ID        string            `json:"id"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

func newUpload(t *testing.T, u user, room, name string, size int, contentType string) upload {
	t.Helper()
	var up upload
	rest(t, "POST", "/api/v1/rooms/"+room+"/uploads", u.token,
		map[string]any{"name": name, "size": size, "content_type": contentType}, 201, &up)
	return up
}

// put sends body to a presigned upload as a browser would, with the
// headers it was given (and contentType instead, when set), and returns
// the store's status.
func (up upload) put(t *testing.T, body []byte, contentType string) int {
	t.Helper()
	req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fileURL asks the connector for a file's download URL as the web client
// does (JSON); it returns the status and the URL.
func fileURL(t *testing.T, u user, room, id string, thumbnail bool) (int, string) {
	t.Helper()
	path := "/api/v1/rooms/" + room + "/files/" + id
	if thumbnail {
		path += "?thumbnail=1"
	}
	req, _ := http.NewRequest("GET", plat.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		URL   string `json:"url"`
		Error struct{ Code string }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		return resp.StatusCode, out.Error.Code
	}
	return resp.StatusCode, out.URL
}

func fetch(t *testing.T, url string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// attachmentsOf returns the attachments of a message frame's message.
func attachmentsOf(m frame) []eventsv1.Attachment {
	raw, _ := json.Marshal(m["attachments"])
	var out []eventsv1.Attachment
	json.Unmarshal(raw, &out)
	return out
}

// A member uploads an image straight to the store, sends it with a
// caption, and the room sees it live; the thumbnail function makes its
// thumbnail from the Trigger and the room sees that live too; history
// keeps both; members get working download URLs that lapse, others none.
func TestFilesUploadSendThumbnailDownload(t *testing.T) {
	ada, bob, eve := newUser(t), newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, plat.url, ada)
	b := dial(t, plat.url, bob)
	a.subscribe(room, 0)
	b.subscribe(room, 0)

	img := pngImage(t, 640, 480)
	up := newUpload(t, ada, room, "sunset über.png", len(img), "image/png")
	if status := up.put(t, img, ""); status != 200 {
		t.Fatalf("upload to the store: %d", status)
	}
	doc := []byte("minutes of the meeting\n")
	upDoc := newUpload(t, ada, room, "minutes.txt", len(doc), "text/plain")
	if status := upDoc.put(t, doc, ""); status != 200 {
		t.Fatalf("upload to the store: %d", status)
	}
	fid := uuid.NewString()
	a.write(frame{"type": "send", "id": fid, "room_id": room, "client_msg_id": fid, "text": "look at this",
		"attachments": []string{up.ID, upDoc.ID}})
	ack := a.expect("ack", func(f frame) bool { return f.str("id") == fid })
	msgID := ack.str("message_id")

	got := attachmentsOf(b.waitMessages(room, 1)[0])
	want := []eventsv1.Attachment{{ID: up.ID, Name: "sunset über.png", Size: int64(len(img)), ContentType: "image/png"},
		{ID: upDoc.ID, Name: "minutes.txt", Size: int64(len(doc)), ContentType: "text/plain"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("live attachments %+v, want %+v", got, want)
	}

	thumbed := b.expectWithin(time.Minute, "thumbnail", func(f frame) bool { return f.msg().str("id") == msgID })
	th := attachmentsOf(thumbed.msg())
	if len(th) != 2 || th[0].Thumbnail == nil || *th[0].Thumbnail != (eventsv1.Thumbnail{Width: 320, Height: 240}) || th[1].Thumbnail != nil {
		t.Fatalf("thumbnail frame attachments %+v", th)
	}
	a.write(frame{"type": "history", "id": "h1", "room_id": room})
	h := a.expect("history", func(f frame) bool { return f.str("id") == "h1" })
	msgs, _ := h["messages"].([]any)
	if len(msgs) != 1 {
		t.Fatalf("history: %d messages", len(msgs))
	}
	if hist := attachmentsOf(frame(msgs[0].(map[string]any))); len(hist) != 2 || hist[0].Thumbnail == nil {
		t.Errorf("history attachments %+v", hist)
	}

	status, url := fileURL(t, bob, room, up.ID, false)
	if status != 200 {
		t.Fatalf("bob's download URL: %d %s", status, url)
	}
	if code, body, _ := fetch(t, url); code != 200 || !bytes.Equal(body, img) {
		t.Fatalf("download: %d, %d bytes (want the %d uploaded)", code, len(body), len(img))
	}
	_, url = fileURL(t, bob, room, upDoc.ID, false)
	if code, body, hdr := fetch(t, url); code != 200 || !bytes.Equal(body, doc) ||
		!strings.HasPrefix(hdr.Get("Content-Disposition"), "attachment;") {
		t.Errorf("text download: %d %q, Content-Disposition %q (want an attachment)", code, body, hdr.Get("Content-Disposition"))
	}
	_, thumbURL := fileURL(t, bob, room, up.ID, true)
	code, body, _ := fetch(t, thumbURL)
	if code != 200 {
		t.Fatalf("thumbnail download: %d", code)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(body)); err != nil || cfg.Width != 320 || cfg.Height != 240 {
		t.Errorf("thumbnail: %+v %v, want a 320×240 JPEG", cfg, err)
	}

	// Not a member: no URL, whatever the file. Asked without JSON: a redirect.
	if status, code := fileURL(t, eve, room, up.ID, false); status != 403 || code != "not_a_member" {
		t.Errorf("eve's download URL: %d %s, want 403 not_a_member", status, code)
	}
	rest(t, "POST", "/api/v1/rooms/"+room+"/uploads", eve.token,
		map[string]any{"name": "x.png", "size": 10, "content_type": "image/png"}, 403, nil)
	req, _ := http.NewRequest("GET", plat.url+"/api/v1/rooms/"+room+"/files/"+up.ID, nil)
	req.Header.Set("Authorization", "Bearer "+bob.token)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), stack.S3.PublicURL) {
		t.Errorf("download without JSON: %d to %q, want 302 to the store", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A download URL lapses (FILES_DOWNLOAD_TTL is 3 s here).
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _, _ := fetch(t, url)
		if code == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a download URL still answers %d long after it expired", code)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Deleting the message takes its files and the thumbnail out of the
	// store before the delete is acked: a member who kept the ids gets
	// nothing, and the room is told of no files.
	a.write(frame{"type": "delete", "id": "d1", "room_id": room, "message_id": msgID, "seq": ack.num("seq")})
	a.expect("ack", func(f frame) bool { return f.str("id") == "d1" })
	deleted := b.expect("deleted", func(f frame) bool { return f.msg().str("id") == msgID })
	if files := attachmentsOf(deleted.msg()); len(files) != 0 {
		t.Errorf("the deleted frame shows %d files", len(files))
	}
	for _, f := range []struct {
		id    string
		thumb bool
	}{{up.ID, false}, {up.ID, true}, {upDoc.ID, false}} {
		if status, code := fileURL(t, bob, room, f.id, f.thumb); status != 404 {
			t.Errorf("a deleted message's file %s (thumbnail %v): %d %s, want 404", f.id, f.thumb, status, code)
		}
	}
}

// Bad files are refused with a clear error, and nothing is stored: not in
// the store (the store refuses an upload other than the one signed), not
// in the room.
func TestFilesBadInputIsRefusedAndNothingStored(t *testing.T) {
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	other := newRoom(t, ada)
	a := dial(t, plat.url, ada)
	a.subscribe(room, 0)

	for name, tc := range map[string]struct {
		file   map[string]any
		status int
		says   string
	}{
		"oversized file":   {map[string]any{"name": "big.zip", "size": eventsv1.MaxFileBytes + 1, "content_type": "application/zip"}, 413, "at most 25.0 MB"},
		"oversized image":  {map[string]any{"name": "big.png", "size": eventsv1.MaxImageBytes + 1, "content_type": "image/png"}, 413, "at most 10.0 MB"},
		"html":             {map[string]any{"name": "page.html", "size": 100, "content_type": "text/html"}, 415, "not allowed"},
		"svg":              {map[string]any{"name": "logo.svg", "size": 100, "content_type": "image/svg+xml"}, 415, "not allowed"},
		"javascript":       {map[string]any{"name": "x.js", "size": 100, "content_type": "text/javascript"}, 415, "not allowed"},
		"a path as a name": {map[string]any{"name": "../../etc/passwd", "size": 100, "content_type": "text/plain"}, 400, "path"},
		"empty":            {map[string]any{"name": "empty.txt", "size": 0, "content_type": "text/plain"}, 400, "empty"},
	} {
		var out struct {
			Error struct{ Code, Message string }
		}
		rest(t, "POST", "/api/v1/rooms/"+room+"/uploads", ada.token, tc.file, tc.status, &out)
		if out.Error.Code != "file_refused" || !strings.Contains(out.Error.Message, tc.says) {
			t.Errorf("%s: %+v, want file_refused saying %q", name, out.Error, tc.says)
		}
	}

	s3c, err := stack.S3.Client()
	if err != nil {
		t.Fatal(err)
	}
	stored := func(key string) bool {
		_, err := s3c.StatObject(context.Background(), stack.S3.Bucket, key, minio.StatObjectOptions{})
		return err == nil
	}
	// The store holds an upload to what was signed: another type, another
	// length, and nothing is kept.
	body := []byte("0123456789")
	up := newUpload(t, ada, room, "notes.txt", len(body), "text/plain")
	if status := up.put(t, body, "text/html"); status != 403 {
		t.Errorf("upload as text/html of a text/plain URL: %d, want 403", status)
	}
	if status := up.put(t, append(body, "more bytes"...), ""); status != 403 {
		t.Errorf("upload of more bytes than signed: %d, want 403", status)
	}
	if stored(eventsv1.FileKey(room, up.ID)) {
		t.Fatal("a refused upload is in the store")
	}

	// Attachments the sender may not send are refused, and no message is.
	bobs := newUpload(t, bob, room, "bobs.txt", len(body), "text/plain")
	if status := bobs.put(t, body, ""); status != 200 {
		t.Fatalf("bob's upload: %d", status)
	}
	elsewhere := newUpload(t, ada, other, "other.txt", len(body), "text/plain")
	if status := elsewhere.put(t, body, ""); status != 200 {
		t.Fatalf("upload to the other room: %d", status)
	}
	for name, ids := range map[string][]string{
		"an upload never made":         {up.ID},
		"another member's upload":      {bobs.ID},
		"an upload to another room":    {elsewhere.ID},
		"a made-up id":                 {uuid.NewString()},
		"one good, one never uploaded": {bobs.ID, uuid.NewString()},
	} {
		fid := uuid.NewString()
		a.write(frame{"type": "send", "id": fid, "room_id": room, "client_msg_id": fid, "text": name, "attachments": ids})
		e := a.expect("error", func(f frame) bool { return f.str("id") == fid })
		if e.str("code") != "file_refused" || e.str("message") == "" {
			t.Errorf("%s: %v, want file_refused with a reason", name, e)
		}
	}
	a.write(frame{"type": "send", "id": "bad", "room_id": room, "client_msg_id": "bad", "text": "x",
		"attachments": []string{"../../secret"}})
	if e := a.expect("error", func(f frame) bool { return f.str("id") == "bad" }); e.str("code") != "bad_frame" {
		t.Errorf("an attachment id that is a path: %v", e)
	}
	if msgs := a.settled(a, room); len(msgs) != 0 {
		t.Errorf("refused sends left %d messages in the room", len(msgs))
	}
}

// A toxic file name hides its message, as toxic text does.
func TestFilesToxicFileNameHidesTheMessage(t *testing.T) {
	ada, bob := newUser(t), newUser(t)
	room := newRoom(t, ada, bob)
	a := dial(t, plat.url, ada)
	b := dial(t, plat.url, bob)
	a.subscribe(room, 0)
	b.subscribe(room, 0)
	body := []byte("hello")
	up := newUpload(t, ada, room, "you are an idiot.txt", len(body), "text/plain")
	if status := up.put(t, body, ""); status != 200 {
		t.Fatalf("upload: %d", status)
	}
	fid := uuid.NewString()
	a.write(frame{"type": "send", "id": fid, "room_id": room, "client_msg_id": fid, "attachments": []string{up.ID}})
	id := a.expect("ack", func(f frame) bool { return f.str("id") == fid }).str("message_id")
	r := b.expectWithin(time.Minute, "redacted", func(f frame) bool { return f.msg().str("id") == id })
	if m := r.msg(); m["attachments"] != nil || m.str("text") != "" {
		t.Errorf("the hidden message still shows %v", m)
	}
	b.write(frame{"type": "history", "id": "h", "room_id": room})
	h := b.expect("history", func(f frame) bool { return f.str("id") == "h" })
	for _, raw := range h["messages"].([]any) {
		if m := frame(raw.(map[string]any)); m.str("id") == id && (m["attachments"] != nil || m["hidden"] != true) {
			t.Errorf("history shows the hidden message's files: %v", m)
		}
	}
}

// A user who has used up the day's upload bytes gets no more upload URLs:
// 429 upload_quota, with Retry-After until the day's quota starts again.
func TestFilesUploadsPastTheDailyQuotaAreRefused(t *testing.T) {
	ada := newUser(t)
	room := newRoom(t, ada)
	newUpload(t, ada, room, "before.txt", 10, "text/plain")

	rdb, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	// More than any quota, today and tomorrow (the test may straddle midnight).
	now := time.Now()
	for _, day := range []time.Time{now, now.Add(24 * time.Hour)} {
		if err := rdb.Set(context.Background(), livev1.UploadBytesKey(ada.id, day), int64(1)<<50, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(map[string]any{"name": "after.txt", "size": 10, "content_type": "text/plain"})
	req, _ := http.NewRequest("POST", plat.url+"/api/v1/rooms/"+room+"/uploads", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ada.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error struct{ Code, Message string }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 429 || out.Error.Code != "upload_quota" || !strings.Contains(out.Error.Message, "left today") {
		t.Fatalf("an upload past the quota: %d %+v, want 429 upload_quota", resp.StatusCode, out.Error)
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 24*60*60 {
		t.Fatalf("Retry-After %q, want the seconds to midnight UTC", resp.Header.Get("Retry-After"))
	}
}
