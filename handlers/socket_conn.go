package handlers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
	"unicode/utf8"

	"natter/chat"
)

// wsConn is the server's side of a room socket after the handshake: the
// websocket protocol (RFC 6455) over the connection itself, without the
// per-connection buffers of a websocket package. It reads with no buffer
// of its own (an idle socket holds a few hundred bytes), and leaves every
// write to chat's writer: pongs and the close frames the protocol calls
// for go through the chat.Client, so nothing else ever writes between
// the frames chat writes. With the connection's descriptor at hand it is a
// chat.DirectSocket (directConn): chat's shared writers write it without
// blocking and no goroutine waits on an idle socket's writes.
type wsConn struct {
	conn   net.Conn
	pre    []byte       // bytes that came with the handshake, read first
	client *chat.Client // set before Serve: answers pings and closes
	limit  int64
	onPong func(string) error
	hdr    [8]byte
	wdl    time.Time // deadline of the blocking writes (writePump's)
}

// directConn is a wsConn that chat writes itself, without blocking.
type directConn struct {
	*wsConn
	raw syscall.RawConn
}

// maxMessage bounds a message when no read limit is set.
const maxMessage = 1 << 20

// errProtocol ends a connection whose peer broke the websocket protocol;
// it has been sent close code 1002.
var errProtocol = errors.New("websocket: protocol error")

// peerClosed is the error ReadMessage returns when the peer sent a close
// frame; it has been answered with the same code.
type peerClosed struct{ code int }

func (e peerClosed) Error() string { return fmt.Sprintf("websocket: close %d", e.code) }

// readFull fills p, from the handshake's leftovers first.
func (w *wsConn) readFull(p []byte) error {
	if len(w.pre) > 0 {
		n := copy(p, w.pre)
		w.pre = w.pre[n:]
		if len(w.pre) == 0 {
			w.pre = nil
		}
		p = p[n:]
	}
	if len(p) == 0 {
		return nil
	}
	_, err := io.ReadFull(w.conn, p)
	return err
}

// fail closes the connection with code (through chat's writer) and
// returns err.
func (w *wsConn) fail(code int, err error) (int, []byte, error) {
	if w.client != nil {
		w.client.Close(code, "")
	}
	return 0, nil, err
}

// ReadMessage returns the next text or binary message, answering pings
// and pongs on the way. A message over the read limit is refused with
// 1009 (chat.ErrReadLimit), a broken frame with 1002, and a close frame
// is answered with its code.
func (w *wsConn) ReadMessage() (int, []byte, error) {
	var msg []byte
	kind := 0
	for {
		if err := w.readFull(w.hdr[:2]); err != nil {
			return 0, nil, err
		}
		b0, b1 := w.hdr[0], w.hdr[1]
		fin, op := b0&0x80 != 0, int(b0&0x0f)
		if b0&0x70 != 0 || b1&0x80 == 0 {
			return w.fail(1002, errProtocol) // extensions are not negotiated; clients mask
		}
		n := uint64(b1 & 0x7f)
		switch n {
		case 126:
			if err := w.readFull(w.hdr[:2]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(w.hdr[:2]))
		case 127:
			if err := w.readFull(w.hdr[:8]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(w.hdr[:8])
		}
		var key [4]byte
		if err := w.readFull(key[:]); err != nil {
			return 0, nil, err
		}
		if op >= 8 { // control frames: whole, at most 125 bytes
			if !fin || n > 125 {
				return w.fail(1002, errProtocol)
			}
			var buf [125]byte
			p := buf[:n]
			if err := w.readFull(p); err != nil {
				return 0, nil, err
			}
			mask(key, 0, p)
			switch op {
			case chat.CloseMessage:
				return w.closed(p)
			case chat.PingMessage:
				if w.client != nil {
					w.client.Pong(p)
				}
			case chat.PongMessage:
				if w.onPong != nil {
					if err := w.onPong(string(p)); err != nil {
						return 0, nil, err
					}
				}
			default:
				return w.fail(1002, errProtocol)
			}
			continue
		}
		switch {
		case op == 0 && kind != 0:
		case (op == 1 || op == 2) && kind == 0:
			kind = op
		default: // a continuation of nothing, a message inside one, reserved
			return w.fail(1002, errProtocol)
		}
		if limit := uint64(w.limit); (limit > 0 && uint64(len(msg))+n > limit) || n > maxMessage {
			return w.fail(1009, chat.ErrReadLimit)
		}
		start := len(msg)
		msg = append(msg, make([]byte, n)...)
		if err := w.readFull(msg[start:]); err != nil {
			return 0, nil, err
		}
		mask(key, 0, msg[start:])
		if fin {
			return kind, msg, nil
		}
	}
}

// closed answers the peer's close frame p with its code (1000 if it gave
// none) and returns the error that ends the reader.
func (w *wsConn) closed(p []byte) (int, []byte, error) {
	code := 1005
	switch {
	case len(p) == 1:
		return w.fail(1002, errProtocol)
	case len(p) >= 2:
		code = int(binary.BigEndian.Uint16(p))
		if !validCloseCode(code) || !utf8.Valid(p[2:]) {
			return w.fail(1002, errProtocol)
		}
	}
	echo := code
	if code == 1005 {
		echo = chat.CloseNormal
	}
	return w.fail(echo, peerClosed{code})
}

// validCloseCode reports whether a peer may send code (RFC 6455, 7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// mask XORs p with the masking key, p starting at offset pos of the
// payload.
func mask(key [4]byte, pos int, p []byte) {
	for i := range p {
		p[i] ^= key[(pos+i)&3]
	}
}

func (w *wsConn) SetReadDeadline(t time.Time) error        { return w.conn.SetReadDeadline(t) }
func (w *wsConn) SetReadLimit(limit int64)                 { w.limit = limit }
func (w *wsConn) SetPongHandler(h func(string) error)      { w.onPong = h }
func (w *wsConn) SetWriteDeadline(t time.Time) error       { w.wdl = t; return nil }
func (w *wsConn) WriteMessage(kind int, data []byte) error { return w.writeFrame(kind, data, w.wdl) }

// WriteControl writes a control frame by deadline.
func (w *wsConn) WriteControl(kind int, data []byte, deadline time.Time) error {
	return w.writeFrame(kind, data, deadline)
}

// writeFrame writes one whole frame, blocking until deadline: the writes
// of a connection without a descriptor (written by chat's writePump) and
// the refusal of a join, before chat takes over.
func (w *wsConn) writeFrame(kind int, data []byte, deadline time.Time) error {
	b := make([]byte, 0, 10+len(data))
	b = append(b, 0x80|byte(kind))
	switch n := len(data); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
	b = append(b, data...)
	if err := w.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := w.conn.Write(b)
	return err
}

// TryWrite writes what the connection's send buffer takes now.
func (d directConn) TryWrite(b []byte) (n int, err error) {
	rerr := d.raw.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			m, e := syscall.Write(int(fd), b)
			if m > 0 {
				n += m
				b = b[m:]
			}
			switch {
			case e == syscall.EINTR:
			case e == syscall.EAGAIN:
				return true // the window is full
			case e != nil:
				err = e
				return true
			case m <= 0:
				err = io.ErrShortWrite
				return true
			}
		}
		return true // never wait here: the caller does, with a deadline
	})
	if err == nil {
		err = rerr
	}
	return n, err
}

// WriteAll writes b, waiting until deadline at most, and leaves the
// connection without a write deadline for the next TryWrite.
func (d directConn) WriteAll(b []byte, deadline time.Time) error {
	if err := d.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := d.conn.Write(b)
	if err == nil {
		err = d.conn.SetWriteDeadline(time.Time{})
	}
	return err
}
