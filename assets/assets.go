// Package assets embeds Natter's static files (the built CSS, the vendored
// htmx scripts and the page script) and serves them under /assets with
// content-hashed URLs, so browsers cache each version for a year.
package assets

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

//go:embed static
var files embed.FS

// Prefix is the URL path the files are served under.
const Prefix = "/assets/"

// file is one embedded asset, ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// Server serves the embedded files and knows their versioned URLs.
type Server struct {
	files map[string]file
}

// New reads every embedded file once and hashes it.
func New() (*Server, error) {
	s := &Server{files: map[string]file{}}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		s.files[strings.TrimPrefix(p, "static/")] = file{body: b, contentType: ct, etag: hex.EncodeToString(sum[:8])}
		return nil
	})
	return s, err
}

// URL is the versioned URL of the named file, such as
// "/assets/app.css?v=1a2b3c4d5e6f7a8b". It panics on a name that is not
// embedded: that is a programming error caught by the first test.
func (s *Server) URL(name string) string {
	f, ok := s.files[name]
	if !ok {
		panic("assets: no file " + name)
	}
	return Prefix + name + "?v=" + f.etag
}

// Handler serves GET /assets/*: a versioned request is cached for a year,
// and every response carries an ETag so revalidation is cheap.
func (s *Server) Handler() fiber.Handler {
	return func(c *fiber.Ctx) error {
		f, ok := s.files[c.Params("*")]
		if !ok {
			return fiber.ErrNotFound
		}
		etag := `"` + f.etag + `"`
		c.Set(fiber.HeaderETag, etag)
		if c.Query("v") == f.etag {
			c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		} else {
			c.Set(fiber.HeaderCacheControl, "public, max-age=0, must-revalidate")
		}
		if c.Get(fiber.HeaderIfNoneMatch) == etag {
			return c.SendStatus(fiber.StatusNotModified)
		}
		c.Set(fiber.HeaderContentType, f.contentType)
		return c.Send(f.body)
	}
}
