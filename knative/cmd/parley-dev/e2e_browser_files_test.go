package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
)

// pasteOrDrop builds an image (a canvas, as a screenshot tool's) or a text
// file in the page and hands it to the composer as a paste, or drops it on
// the room, as a browser does: the same events, with a DataTransfer.
func pasteOrDrop(event, name, kind string) string {
	return `(async () => {
  let file;
  if ("` + kind + `" === "image") {
    const c = document.createElement("canvas"); c.width = 400; c.height = 200;
    const g = c.getContext("2d"); g.fillStyle = "#c33"; g.fillRect(0, 0, 400, 200); g.fillStyle = "#fff"; g.fillRect(50, 50, 100, 100);
    const blob = await new Promise((r) => c.toBlob(r, "image/png"));
    file = new File([blob], "` + name + `", { type: "image/png" });
  } else {
    file = new File(["agenda: files\n"], "` + name + `", { type: "text/plain" });
  }
  const dt = new DataTransfer();
  dt.items.add(file);
  const target = document.querySelector("#composer");
  const e = "` + event + `" === "paste"
    ? new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true })
    : new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true });
  target.dispatchEvent(e);
  return true;
})()`
}

// testBrowserFiles shares files as people do: from the file picker on a
// desktop, by pasting an image, and by dropping a file on the room on a
// phone; the other person sees the images inline by their thumbnails (made
// by the thumbnail function) and other files as download chips, live and
// after a reload; a file the server refuses says why, and nothing is sent.
func (s *runningStack) testBrowserFiles(t *testing.T) {
	root, shots := screenshotDir(t)
	bctx := browser(t)
	suffix := strings.ReplaceAll(uuid.NewString()[:6], "-", "")
	adaName, benName, room := "fia"+suffix, "gus"+suffix, "files-"+suffix
	ada, ben := newPerson(t, bctx, shots), newPerson(t, bctx, shots)
	ada.logErrors()
	ada.run("desktop width", chromedp.EmulateViewport(1280, 800))
	ada.signUp(s.url, adaName)
	ben.signUp(s.url, benName)
	ada.run("create a room",
		chromedp.SendKeys(`#new-room`, room), chromedp.Click(`//button[.="Create room"]`),
		chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(`#composer`))
	ada.run("invite ben", chromedp.SendKeys(`#invite`, benName), chromedp.Click(`//button[.="Invite"]`))
	ben.run("phone width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	ben.run("open the room", chromedp.Reload(), chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(`#composer`))

	// The picker: an image and a PDF, uploaded as soon as they are chosen.
	dir := t.TempDir()
	photo, pdf, page := filepath.Join(dir, "beach photo.png"), filepath.Join(dir, "minutes.pdf"), filepath.Join(dir, "page.html")
	writePNG(t, photo, 800, 500)
	os.WriteFile(pdf, []byte("%PDF-1.4\n% minutes of the meeting\n"), 0o644)
	os.WriteFile(page, []byte("<script>alert(1)</script>"), 0o644)
	ada.run("choose two files", chromedp.SetUploadFiles(`#attach`, []string{photo, pdf}))
	ada.until("both uploaded", `document.querySelectorAll('[data-testid="chosen-file"][data-state="ready"]').length === 2`)
	ada.shot("60-files-chosen")
	ada.run("send them with a caption", chromedp.SendKeys(`#composer`, "holiday photos"), chromedp.Click(`//button[.="Send"]`))
	row := `//li[@data-testid="message"][contains(., "holiday photos")]`
	thumbLoaded := func(alt string) string {
		return `(() => { const i = document.querySelector('img[data-testid="thumbnail"][alt="` + alt + `"]');
			return !!i && i.complete && i.naturalWidth > 0 && i.naturalWidth <= 320 && i.naturalHeight <= 320 })()`
	}
	ben.until("ben sees the photo's thumbnail live", thumbLoaded("beach photo.png"))
	ben.waitText("and the PDF as a download", row+`//button[@data-testid="file-chip"][contains(., "minutes.pdf")]`)
	ada.until("ada sees the thumbnail too", thumbLoaded("beach photo.png"))
	ada.shot("61-desktop-files")
	ada.axe(root, "room with files, desktop")

	// A file the server refuses (HTML) says why, and nothing is sent.
	ada.run("choose an HTML page", chromedp.SetUploadFiles(`#attach`, []string{page}))
	ada.waitText("the refusal is shown", `//li[@data-testid="chosen-file"][@data-state="error"][contains(., "not allowed")]`)
	ada.shot("62-file-refused")
	ada.axe(root, "a refused file")
	ada.run("remove it", chromedp.Click(`//button[@aria-label="Remove page.html"]`))
	if n := ada.count(`document.querySelectorAll('[data-testid="chosen-file"]').length`); n != 0 {
		t.Errorf("%d chosen files left after removing the refused one", n)
	}

	// Paste a screenshot: sent without a caption.
	if !evalJS[bool](ada, pasteOrDrop("paste", "pasted.png", "image")) {
		t.Fatal("paste failed")
	}
	ada.until("the pasted image is uploaded", `document.querySelectorAll('[data-testid="chosen-file"][data-state="ready"]').length === 1`)
	ada.run("send it", chromedp.Click(`//button[.="Send"]`))
	ben.until("ben sees the pasted image", thumbLoaded("pasted.png"))

	// Drop a file on the room, on a phone.
	if !evalJS[bool](ben, pasteOrDrop("drop", "agenda.txt", "text")) {
		t.Fatal("drop failed")
	}
	ben.until("the dropped file is uploaded", `document.querySelectorAll('[data-testid="chosen-file"][data-state="ready"]').length === 1`)
	ben.run("send it", chromedp.SendKeys(`#composer`, "the agenda"), chromedp.Click(`//button[.="Send"]`))
	ada.waitText("ada sees the dropped file", `//li[@data-testid="message"][contains(., "the agenda")]//button[@data-testid="file-chip"][contains(., "agenda.txt")]`)
	ben.until("ben's phone shows the photo", thumbLoaded("beach photo.png"))
	ben.noSideScroll("phone room with files")
	ben.shot("63-phone-files")
	ben.axe(root, "room with files, phone")

	// After a reload, history shows the same.
	ben.run("reload", chromedp.Navigate(s.url), chromedp.Click(`//nav//button[contains(., "`+room+`")]`), chromedp.WaitVisible(`#composer`))
	ben.until("the thumbnails come back from history", thumbLoaded("pasted.png"))
	ben.waitText("and the PDF", `//button[@data-testid="file-chip"][contains(., "minutes.pdf")]`)
}

func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x / 4), uint8(y / 3), 180, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
