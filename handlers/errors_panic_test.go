package handlers_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"natter/handlers"
)

// A panic in a handler becomes the friendly 500 page with a reference; the
// panic's text and stack go to the log only, and the process lives on.
func TestPanicBecomesA500Page(t *testing.T) {
	h := newHarness(t)
	errorHandler, middleware := handlers.ErrorChain(h.App)
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler})
	app.Use(middleware...)
	app.Get("/boom", func(*fiber.Ctx) error { panic("secret detail: db password hunter2") })

	for i := 0; i < 2; i++ { // the second request shows the server survived
		res, err := app.Test(httptest.NewRequest("GET", "/boom", nil))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		body := string(b)
		id := res.Header.Get("X-Request-Id")
		if res.StatusCode != 500 || !strings.Contains(body, "Something went wrong on our side") || !strings.Contains(body, "Reference: "+id) {
			t.Fatalf("status %d, request id %q, body:\n%s", res.StatusCode, id, body)
		}
		if strings.Contains(body, "hunter2") || strings.Contains(body, "goroutine") {
			t.Fatalf("the panic reached the page:\n%s", body)
		}
		if log := h.waitLog(2e9, "internal error", "hunter2", "request_id="+id); log == "" {
			t.Fatal("the panic was not logged with its request id")
		}
	}
}
