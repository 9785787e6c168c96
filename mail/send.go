package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	simplemail "github.com/xhit/go-simple-mail/v2"
)

// ErrNoStartTLS means the server did not offer STARTTLS although the config
// requires it; nothing, credentials included, was sent in clear text.
var ErrNoStartTLS = errors.New("mail: SMTP server did not offer STARTTLS")

// transmit sends msg over one fresh connection.
//
// The connection is dialled here and handed to go-simple-mail as CustomConn,
// and the timeouts are enforced as deadlines on it. go-simple-mail's own
// ConnectTimeout and SendTimeout run the work in a goroutine and stop
// waiting for it; the goroutine stays blocked on a dead server (a leak), and
// after a send timeout its Quit waits on a lock that goroutine holds. With
// deadlines every call returns by itself, so ours are set to zero there.
func (m *Mailer) transmit(ctx context.Context, msg Message) error {
	from, err := parseFrom(m.cfg.From)
	if err != nil {
		return err
	}
	email := compose(msg, from)
	if email.Error != nil {
		return fmt.Errorf("%w: %v", ErrBadAddress, email.Error)
	}

	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	d := net.Dialer{Timeout: m.cfg.ConnectTimeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: connecting to %s: %w", addr, err)
	}
	defer raw.Close()
	// A cancelled ctx (Close's deadline, a caller giving up) unblocks I/O:
	// a deadline in the past fails every pending and later read and write.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tlsConfig := &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}
	guard := &startTLSGuard{Conn: raw, required: m.cfg.TLS == TLSStartTLS}
	var conn net.Conn = guard
	encryption := simplemail.EncryptionNone
	switch m.cfg.TLS {
	case TLSStartTLS:
		encryption = simplemail.EncryptionSTARTTLS
	case TLSImplicit:
		// The handshake happens on the first read, under the deadline below.
		encryption, conn = simplemail.EncryptionSSLTLS, tls.Client(raw, tlsConfig)
	}

	server := simplemail.NewSMTPClient()
	server.Host, server.Port = m.cfg.Host, m.cfg.Port
	server.Encryption, server.TLSConfig, server.CustomConn = encryption, tlsConfig, conn
	server.ConnectTimeout, server.SendTimeout, server.KeepAlive = 0, 0, false
	server.Authentication = simplemail.AuthNone
	if m.cfg.User != "" {
		server.Authentication = simplemail.AuthAuto
		server.Username, server.Password = m.cfg.User, m.cfg.Password
	}

	if err := deadline(ctx, raw, m.cfg.ConnectTimeout); err != nil {
		return err
	}
	client, err := server.Connect()
	if err != nil {
		return failure(ctx, guard, fmt.Errorf("mail: greeting %s: %w", addr, err))
	}
	if err := deadline(ctx, raw, m.cfg.SendTimeout); err != nil {
		return err
	}
	if err := email.Send(client); err != nil {
		return failure(ctx, guard, fmt.Errorf("mail: sending to %s via %s: %w", msg.To, addr, err))
	}
	_ = client.Quit() // the message is accepted; a failed goodbye changes nothing
	return nil
}

// failure picks the most telling error: the caller's ctx, the refused
// clear-text session, or what the SMTP exchange reported.
func failure(ctx context.Context, guard *startTLSGuard, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if guard.refusedClearText() {
		return ErrNoStartTLS
	}
	return err
}

// deadline gives the next phase d to finish. It checks ctx after setting the
// deadline, because a cancel that ran before would have been overwritten.
func deadline(ctx context.Context, conn net.Conn, d time.Duration) error {
	if err := conn.SetDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	return ctx.Err()
}

// compose builds the MIME message: text/plain first, then text/html, in a
// multipart/alternative, so clients show the last one they can render.
func compose(msg Message, from *netmail.Address) *simplemail.Email {
	to := (&netmail.Address{Name: msg.ToName, Address: msg.To}).String()
	email := simplemail.NewMSG()
	email.SetFrom(from.String()).AddTo(to).SetSubject(msg.Subject)
	email.AddHeader("Message-ID", messageID(from.Address))
	email.SetBody(simplemail.TextPlain, msg.Text)
	if msg.HTML != "" {
		email.AddAlternative(simplemail.TextHTML, msg.HTML)
	}
	return email
}

// messageID makes a unique Message-ID on the sender's domain; go-simple-mail
// sets none, and mail without one scores as spam.
func messageID(from string) string {
	_, domain, _ := strings.Cut(from, "@")
	return "<" + hex.EncodeToString(randomBytes(16)) + "@" + domain + ">"
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return b
}

// startTLSGuard sits under go-simple-mail when STARTTLS is required. That
// library skips STARTTLS silently when the server does not advertise it and
// then sends AUTH (the password) and the message in clear text: exactly what
// an attacker on the path gets by deleting the advertisement. Until the
// client has sent STARTTLS, the guard lets through only the greeting and
// QUIT; any other command fails before it reaches the network.
type startTLSGuard struct {
	net.Conn
	required bool

	mu      sync.Mutex
	started bool // STARTTLS was sent; the rest is TLS records
	refused bool
}

func (g *startTLSGuard) Write(p []byte) (int, error) {
	if !g.required {
		return g.Conn.Write(p)
	}
	g.mu.Lock()
	if !g.started {
		cmd := bytes.ToUpper(p[:min(len(p), 8)])
		switch {
		case bytes.HasPrefix(cmd, []byte("STARTTLS")):
			g.started = true
		case bytes.HasPrefix(cmd, []byte("EHLO ")), bytes.HasPrefix(cmd, []byte("HELO ")),
			bytes.HasPrefix(cmd, []byte("QUIT")):
		default:
			g.refused = true
			g.mu.Unlock()
			return 0, ErrNoStartTLS
		}
	}
	g.mu.Unlock()
	return g.Conn.Write(p)
}

func (g *startTLSGuard) refusedClearText() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}
