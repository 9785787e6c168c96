package handlers_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"natter/app/apptest"
)

// Tests of the server's own websocket protocol (socket_conn.go) as a
// client sees it.

// A ping is answered with a pong carrying its payload.
func TestSocketAnswersPings(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	_, as, ar := member(t, s, "alice", "general")
	ar.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	pong := make(chan string, 1)
	as.SetPongHandler(func(p string) error { pong <- p; return nil })
	if err := as.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := as.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case p := <-pong:
		if p != "are you there" {
			t.Errorf("pong %q, want the ping's payload", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong within 5 s")
	}
}

// A message the client sends in several frames arrives whole.
func TestFragmentedMessageIsPosted(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	alice := s.User("alice")
	as, err := alice.Dial("general", &websocket.Dialer{HandshakeTimeout: 5 * time.Second, WriteBufferSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	ar := newReader(t, as)
	text := strings.Repeat("fragment ", 150) // 1,350 bytes: six frames of 256
	if err := as.SendMessage(strings.TrimSpace(text)); err != nil {
		t.Fatal(err)
	}
	got := ar.until("the message", func(a string) bool { return len(texts(a)) == 1 })
	if tx := texts(got)[0]; tx != strings.TrimSpace(text) {
		t.Errorf("posted %d bytes, want %d", len(tx), len(strings.TrimSpace(text)))
	}
}

// An unmasked frame breaks the protocol: the server closes with 1002.
func TestUnmaskedFrameCloses1002(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	_, as, ar := member(t, s, "alice", "general")
	ar.until("snapshot", func(a string) bool { return strings.Contains(a, `id="members"`) })
	frame := append([]byte{0x81, 5}, "hello"...)
	if _, err := as.NetConn().Write(frame); err != nil {
		t.Fatal(err)
	}
	if code := ar.closeCode(); code != websocket.CloseProtocolError {
		t.Errorf("close code %d, want 1002", code)
	}
}

// A frame that follows the handshake request in the same write (before
// the 101) is not lost.
func TestFrameSentWithTheHandshakeIsRead(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t)
	alice := s.User("alice")
	host := strings.TrimPrefix(s.BaseURL(), "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	key := make([]byte, 16)
	rand.Read(key)
	req := "GET /rooms/general/ws HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nOrigin: " + s.BaseURL() +
		"\r\nCookie: " + alice.CookieHeader() + "\r\n\r\n"
	payload, _ := json.Marshal(map[string]string{"message": "early bird"})
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(append([]byte(req), maskedText(payload)...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", res, err)
	}
	var all strings.Builder
	for !strings.Contains(all.String(), "early bird") {
		hdr := make([]byte, 2)
		if _, err := readFull(br, hdr); err != nil {
			t.Fatalf("reading frames: %v; got %q", err, all.String())
		}
		n := int(hdr[1] & 0x7f)
		switch n {
		case 126:
			b := make([]byte, 2)
			readFull(br, b)
			n = int(binary.BigEndian.Uint16(b))
		case 127:
			b := make([]byte, 8)
			readFull(br, b)
			n = int(binary.BigEndian.Uint64(b))
		}
		p := make([]byte, n)
		if _, err := readFull(br, p); err != nil {
			t.Fatal(err)
		}
		all.Write(p)
	}
}

func readFull(br *bufio.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := br.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// maskedText is a client's text frame of p (p under 126 bytes).
func maskedText(p []byte) []byte {
	key := []byte{1, 2, 3, 4}
	b := append([]byte{0x81, 0x80 | byte(len(p))}, key...)
	for i, c := range p {
		b = append(b, c^key[i%4])
	}
	return b
}
