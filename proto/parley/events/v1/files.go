package eventsv1

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Files. A member uploads a file straight to the object store (S3) with a
// presigned URL the connector hands out; the message that attaches it
// carries only its Attachment. No file bytes ever pass through Kafka.
const (
	// TypeFileUploaded: a message with an image attachment was sent; the
	// thumbnail function makes its thumbnail. Emitted by the connector.
	TypeFileUploaded = "parley.file.uploaded" // partitionkey: room id
	// TypeFileThumbnailed: an image's thumbnail is in the store; persist
	// notes it on the message and the room sees it live. Emitted by the
	// thumbnail function.
	TypeFileThumbnailed = "parley.file.thumbnailed" // partitionkey: room id

	SourceThumbnail = "parley/thumbnail"
)

func init() {
	emitters[TypeFileUploaded] = SourceConnector
	emitters[TypeFileThumbnailed] = SourceThumbnail
}

// Limits of files, which the connector enforces when it hands out an
// upload URL (and the store again, on the signed length and type), when a
// message attaches a file, and each consumer again on the events.
const (
	MaxFileBytes  = 25 << 20 // any file
	MaxImageBytes = 10 << 20 // an image, which the thumbnail function decodes
	// MaxAttachments per message.
	MaxAttachments = 4
	// MaxFileNameBytes bounds a file's name, as most file systems do.
	MaxFileNameBytes = 255
	// MaxImagePixels refuses decompression bombs: a small file that would
	// decode to a huge bitmap. Checked from the header before decoding.
	MaxImagePixels = 40_000_000
	// ThumbnailSize is the longest side of a thumbnail, in pixels.
	ThumbnailSize = 320
)

// allowedTypes are the content types a file may have, and whether each is
// an image (shown inline, thumbnailed). Nothing a browser would run or
// render as a page: no HTML, SVG (scripts) or JavaScript.
var allowedTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"application/pdf": false, "text/plain": false, "application/zip": false,
	"application/json": false, "text/csv": false, "audio/mpeg": false, "video/mp4": false,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   false,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         false,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": false,
}

// Image reports whether a content type is one of the images Parley shows
// inline and thumbnails.
func Image(contentType string) bool { return allowedTypes[contentType] }

// ErrFileTooLarge and ErrFileType are what CheckFile's errors match
// (errors.Is) when a file is over its size limit or of a type not allowed,
// so a caller answers each its own way (HTTP 413 and 415) without reading
// the message, which is for people.
var (
	ErrFileTooLarge = errors.New("file too large")
	ErrFileType     = errors.New("file type not allowed")
)

// fileError is a message for people that matches one of the errors above.
type fileError struct {
	is  error
	msg string
}

func (e fileError) Error() string { return e.msg }
func (e fileError) Unwrap() error { return e.is }

// CheckFile validates a file's name, size and content type against the
// limits above; the error says which, for people.
func CheckFile(name string, size int64, contentType string) error {
	if err := ValidFileName(name); err != nil {
		return err
	}
	image, ok := allowedTypes[contentType]
	if !ok {
		return fileError{ErrFileType, fmt.Sprintf("files of type %q are not allowed", contentType)}
	}
	limit := int64(MaxFileBytes)
	if image {
		limit = MaxImageBytes
	}
	switch {
	case size <= 0:
		return fmt.Errorf("the file is empty")
	case size > limit:
		return fileError{ErrFileTooLarge, fmt.Sprintf("the file is %s; %s files may be at most %s", HumanBytes(size), kindOf(image), HumanBytes(limit))}
	}
	return nil
}

// ContentTypeOK reports whether the store's content type of an object is
// the one its upload was signed for (S3 may add parameters).
func ContentTypeOK(stored, want string) bool {
	mt, _, err := mime.ParseMediaType(stored)
	return err == nil && mt == want
}

func kindOf(image bool) string {
	if image {
		return "image"
	}
	return "other"
}

// HumanBytes is n for people: "1.5 GB", "25.0 MB", "12 KB".
func HumanBytes(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	}
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KB", (n+1023)/1024)
}

// ValidFileName checks a file's name: 1 to MaxFileNameBytes of UTF-8, no
// path and no control characters (it is shown, and sent as a download's
// file name).
func ValidFileName(name string) error {
	switch {
	case name == "" || strings.TrimSpace(name) == "":
		return fmt.Errorf("the file needs a name")
	case len(name) > MaxFileNameBytes || !utf8.ValidString(name):
		return fmt.Errorf("a file name is 1 to %d bytes of UTF-8", MaxFileNameBytes)
	case strings.ContainsAny(name, `/\`) || name == "." || name == "..":
		return fmt.Errorf("a file name may not contain a path")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '"' {
			return fmt.Errorf("a file name may not contain control characters or quotes")
		}
	}
	return nil
}

// FileKey is where a file lives in the bucket, ThumbnailKey its
// thumbnail. The room in the key lets a download check membership of the
// room named in the URL against the object it reads.
func FileKey(roomID, fileID string) string { return "rooms/" + roomID + "/" + fileID }
func ThumbnailKey(roomID, fileID string) string {
	return "rooms/" + roomID + "/" + fileID + ".thumb.jpg"
}

// ValidFileID checks an upload id: a UUID (it becomes part of an object key).
func ValidFileID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%q is not a file id", id)
	}
	return nil
}

// The object metadata an upload is signed with, so the store itself
// records who uploaded a file and what it is called.
const (
	MetaOwner = "X-Amz-Meta-Owner"
	MetaName  = "X-Amz-Meta-Name" // URL-escaped: metadata is ASCII
)

// Attachment is a file a message carries, as clients see it.
type Attachment struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	// Thumbnail is set once the image's thumbnail is made, with its size.
	Thumbnail *Thumbnail `json:"thumbnail,omitempty" ts:"Thumbnail"`
}

// Thumbnail is the size of an image's thumbnail.
type Thumbnail struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Check validates an attachment of a message, whoever sent it.
func (a Attachment) Check() error {
	if err := ValidFileID(a.ID); err != nil {
		return err
	}
	return CheckFile(a.Name, a.Size, a.ContentType)
}

// CheckAttachments validates a message's attachments: at most
// MaxAttachments, each valid, none twice.
func CheckAttachments(as []Attachment) error {
	if len(as) > MaxAttachments {
		return fmt.Errorf("a message carries at most %d files", MaxAttachments)
	}
	seen := map[string]bool{}
	for _, a := range as {
		if err := a.Check(); err != nil {
			return err
		}
		if seen[a.ID] {
			return fmt.Errorf("file %s is attached twice", a.ID)
		}
		seen[a.ID] = true
	}
	return nil
}

// FileUploaded is the data of parley.file.uploaded: one image attachment
// of a message.
type FileUploaded struct {
	RoomID    string     `json:"room_id"`
	MessageID string     `json:"message_id"`
	Seq       int64      `json:"seq"`
	UserID    string     `json:"user_id"`
	File      Attachment `json:"file"`
	At        time.Time  `json:"at"`
}

// FileThumbnailed is the data of parley.file.thumbnailed.
type FileThumbnailed struct {
	RoomID    string    `json:"room_id"`
	MessageID string    `json:"message_id"`
	Seq       int64     `json:"seq"`
	FileID    string    `json:"file_id"`
	Thumbnail Thumbnail `json:"thumbnail"`
	At        time.Time `json:"at"`
}
