package assets

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestHandler(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	app.Get(Prefix+"*", s.Handler())
	js := s.URL("htmx.min.js")
	etag := `"` + strings.TrimPrefix(js, "/assets/htmx.min.js?v=") + `"`

	tests := []struct {
		name, path, ifNoneMatch string
		status                  int
		cache, contentType      string
	}{
		{"versioned", js, "", 200, "public, max-age=31536000, immutable", "text/javascript; charset=utf-8"},
		{"unversioned", "/assets/htmx.min.js", "", 200, "public, max-age=0, must-revalidate", "text/javascript; charset=utf-8"},
		{"old version", "/assets/htmx.min.js?v=0000000000000000", "", 200, "public, max-age=0, must-revalidate", "text/javascript; charset=utf-8"},
		{"revalidated", "/assets/htmx.min.js", etag, 304, "public, max-age=0, must-revalidate", ""},
		{"unknown", "/assets/nope.js", "", 404, "", "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			if tt.ifNoneMatch != "" {
				req.Header.Set("If-None-Match", tt.ifNoneMatch)
			}
			res, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status || res.Header.Get("Cache-Control") != tt.cache || res.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("status %d, Cache-Control %q, Content-Type %q", res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"))
			}
		})
	}
}

func TestURLPanicsOnUnknownFile(t *testing.T) {
	s, _ := New()
	defer func() {
		if recover() == nil {
			t.Error("URL of a missing file did not panic")
		}
	}()
	s.URL("missing.css")
}
