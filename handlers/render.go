package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"natter/chat"
	"natter/views"
)

// page is the layout data for the current request.
func (s *server) page(c *fiber.Ctx, title string) views.Page {
	return views.Page{
		Title: title,
		User:  currentUser(c),
		CSRF:  csrfToken(c),
		// Say so when the page was opened at an address its forms will
		// not be accepted from.
		WrongAddress: s.wrongAddress(c, ""),
		BaseURL:      s.origin,
		Shared:       s.Shared != nil,
		Assets: views.Assets{
			CSS:  s.Assets.URL("app.css"),
			HTMX: s.Assets.URL("htmx.min.js"),
			WS:   s.Assets.URL("ws.min.js"),
			JS:   s.Assets.URL("natter.js"),
		},
	}
}

// render writes a component as the response with the given status.
func render(c *fiber.Ctx, status int, comp templ.Component) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

// renderBufs are the buffers frames are rendered in (perf): a frame is
// copied out at its size, so one queued to thousands of sockets, or a
// room's cached snapshot, holds no spare capacity, and rendering grows no
// new buffer each time.
var renderBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// renderBytes renders a component to a byte slice.
func renderBytes(comp templ.Component) []byte {
	buf := renderBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			renderBufs.Put(buf)
		}
	}()
	// Rendering our own components into a buffer cannot fail short of a
	// bug; an empty frame is then the safest thing to send.
	if err := comp.Render(context.Background(), buf); err != nil {
		return nil
	}
	return bytes.Clone(buf.Bytes())
}

// frames implements chat.Renderer with the views' components: each event
// is rendered once and the same bytes go to every member.
type frames struct {
	epoch string // this process's name, in every snapshot
}

// Renderer returns the chat.Renderer that the room registry uses. Each call
// (each server process) gets a new epoch, which its snapshots carry so a
// page can tell a restart from a reconnect.
func Renderer() chat.Renderer { return frames{epoch: newEpoch()} }

// newEpoch is 8 random bytes in hex: a name for one server process.
func newEpoch() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func (frames) Message(_ string, m chat.Message) []byte {
	return renderBytes(views.MessageFrame(m))
}

func (frames) MemberJoined(slug string, m chat.Member, count int) []byte {
	return renderBytes(views.MemberJoinedFrame(slug, m, count))
}

func (frames) MemberLeft(_ string, m chat.Member, count int) []byte {
	return renderBytes(views.MemberLeftFrame(m, count))
}

func (f frames) Snapshot(slug string, history []chat.Message, members []chat.Member) []byte {
	return renderBytes(views.SnapshotFrame(f.epoch, slug, history, members))
}

// nextPage is the layout data of a sign-in, sign-up or reset page that
// carries next (already checked by safeNext) through its forms and links.
func (s *server) nextPage(c *fiber.Ctx, title, next string) views.Page {
	p := s.page(c, title)
	p.Next = keepNext(next)
	return p
}

func (frames) Update(_ string, m chat.Message) []byte {
	return renderBytes(views.MessageUpdateFrame(m))
}

func (frames) Reactions(_ string, m chat.Message) []byte {
	return renderBytes(views.ReactionsFrame(m))
}

func (frames) Typing(_ string, names []string) []byte {
	return renderBytes(views.TypingFrame(names))
}

func (frames) Mentioned(_ string, m chat.Message) []byte {
	return renderBytes(views.MentionNoticeFrame(m))
}
