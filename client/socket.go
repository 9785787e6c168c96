package client

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/fasthttp/websocket"
)

// Socket is an open room connection.
type Socket struct {
	*websocket.Conn
	// Response is the handshake's HTTP response.
	Response *http.Response
}

// Dial opens the socket of room slug with the client's cookies and this
// site's Origin, as a browser on a public room's page would. dialer may
// be nil.
func (c *Client) Dial(slug string, dialer *websocket.Dialer) (*Socket, error) {
	return c.DialPath("/rooms/"+slug+"/ws", dialer)
}

// DialPath is Dial of the socket at path, as a room page's ws-connect
// names it (a private room's carries ?private=1).
func (c *Client) DialPath(path string, dialer *websocket.Dialer) (*Socket, error) {
	if dialer == nil {
		dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	}
	scheme := "ws"
	if c.Base.Scheme == "https" {
		scheme = "wss"
	}
	h := http.Header{}
	h.Set("Origin", c.Base.Scheme+"://"+c.Base.Host)
	if ck := c.CookieHeader(); ck != "" {
		h.Set("Cookie", ck)
	}
	conn, res, err := dialer.Dial(scheme+"://"+c.Base.Host+path, h)
	if err != nil {
		return &Socket{Response: res}, err
	}
	return &Socket{Conn: conn, Response: res}, nil
}

// Frame is what htmx's ws extension sends for the message form.
type Frame struct {
	Message string            `json:"message"`
	CSRF    string            `json:"csrf,omitempty"`
	Headers map[string]string `json:"HEADERS"`
}

// SendMessage sends text the way the browser's message form does.
func (s *Socket) SendMessage(text string) error {
	b, err := json.Marshal(Frame{Message: text, Headers: map[string]string{
		"HX-Request": "true", "HX-Trigger": "message-form", "HX-Target": "message-form",
	}})
	if err != nil {
		return err
	}
	return s.WriteMessage(websocket.TextMessage, b)
}
