package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders of the allowed image types
	"image/jpeg"
	_ "image/png"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

type function struct {
	store *store
	log   *slog.Logger
}

// Handle makes the thumbnail of one uploaded image. Retrying is safe: the
// same image gives the same thumbnail at the same key, and the same reply
// id, which persist applies once.
func (f *function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	if err := ksvc.CheckEvent("thumbnail", e); err != nil {
		return nil, err
	}
	if e.Type() != eventsv1.TypeFileUploaded {
		return nil, ksvc.Permanent(fmt.Errorf("thumbnail: unexpected event type %q", e.Type()))
	}
	up, err := ksvc.DecodeEvent("thumbnail", e, func(u *eventsv1.FileUploaded) bool {
		return u.RoomID != "" && u.MessageID != "" && u.Seq > 0
	})
	if err != nil {
		return nil, err
	}
	// The connector checked the file against the store; the limits hold
	// here again, whoever sent the event.
	if err := up.File.Check(); err != nil || !eventsv1.Image(up.File.ContentType) {
		return nil, ksvc.Permanent(fmt.Errorf("thumbnail: file %s: not an image within the limits (%v)", up.File.ID, err))
	}
	original, thumbKey := eventsv1.FileKey(up.RoomID, up.File.ID), eventsv1.ThumbnailKey(up.RoomID, up.File.ID)
	src, err := f.store.read(ctx, original, eventsv1.MaxImageBytes)
	if errors.Is(err, errNoObject) {
		// Its message was deleted, perhaps while an earlier delivery made
		// the thumbnail and then failed to remove it: remove it now.
		if err := f.store.remove(ctx, thumbKey); err != nil {
			return nil, err
		}
		return nil, ksvc.Permanent(fmt.Errorf("thumbnail: file %s is not in the store (its message was deleted?)", up.File.ID))
	}
	if err != nil {
		return nil, err
	}
	thumb, size, err := makeThumbnail(src)
	if err != nil {
		// An image that does not decode never will: say so, do not retry.
		f.log.Warn("no thumbnail", "room", up.RoomID, "file", up.File.ID, "error", err)
		return nil, ksvc.Permanent(fmt.Errorf("thumbnail: file %s: %w", up.File.ID, err))
	}
	err = f.store.writeBeside(ctx, original, thumbKey, thumb)
	if errors.Is(err, errNoObject) {
		// Its message was deleted meanwhile: nothing left to show it on.
		f.log.Info("file deleted while its thumbnail was made", "room", up.RoomID, "file", up.File.ID)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := eventsv1.New("thumbnailed-"+up.File.ID, eventsv1.TypeFileThumbnailed, eventsv1.SourceThumbnail, up.RoomID,
		time.Now().UTC(), eventsv1.FileThumbnailed{RoomID: up.RoomID, MessageID: up.MessageID, Seq: up.Seq,
			FileID: up.File.ID, Thumbnail: size, At: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// errTooManyPixels is an image whose header promises more pixels than
// eventsv1.MaxImagePixels: refused before it is decoded.
var errTooManyPixels = errors.New("image is too large to decode")

// makeThumbnail returns a JPEG of src scaled to fit a ThumbnailSize
// square (never enlarged), and its size. Only the header is read before
// the size is checked, so a decompression bomb costs nothing.
func makeThumbnail(src []byte) ([]byte, eventsv1.Thumbnail, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(src))
	if err != nil {
		return nil, eventsv1.Thumbnail{}, fmt.Errorf("read image header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > eventsv1.MaxImagePixels {
		return nil, eventsv1.Thumbnail{}, fmt.Errorf("%w: %d×%d pixels (at most %d)", errTooManyPixels, cfg.Width, cfg.Height, eventsv1.MaxImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, eventsv1.Thumbnail{}, fmt.Errorf("decode image: %w", err)
	}
	w, h := fit(img.Bounds().Dx(), img.Bounds().Dy(), eventsv1.ThumbnailSize)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// White under transparent pixels: JPEG has no alpha.
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Over, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 80}); err != nil {
		return nil, eventsv1.Thumbnail{}, fmt.Errorf("encode thumbnail: %w", err)
	}
	return out.Bytes(), eventsv1.Thumbnail{Width: w, Height: h}, nil
}

// fit scales w×h down to fit a side×side square, keeping its shape.
func fit(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, max(1, h*side/w)
	}
	return max(1, w*side/h), side
}
