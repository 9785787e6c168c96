// Package mail sends Natter's email (password reset links, notices) over
// SMTP, off the request path from an outbox that can outlive the process
// (see Outbox), or prints it to the log when no SMTP server is configured so
// that a first run still shows the reset link.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"sync"
	"time"
)

// TLS modes for Config.TLS.
const (
	TLSNone     = "none"     // plain SMTP, for a relay on the same host
	TLSStartTLS = "starttls" // upgrade on the submission port; required, never skipped
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// Defaults for zero Config fields.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultSendTimeout    = 30 * time.Second
	DefaultRetries        = 3
	DefaultBackoff        = time.Second
	DefaultQueueSize      = 100
)

// ErrBadAddress means an address or display name is not one plain RFC 5322
// mailbox, or holds CR or LF that could smuggle in extra headers.
var ErrBadAddress = errors.New("mail: bad address")

// ErrBadHeader means the subject holds CR or LF.
var ErrBadHeader = errors.New("mail: subject holds a line break")

// Message is one email to one person. Text is required; HTML is an
// alternative rendering of the same content. Expires, when set, is when a
// queued message stops being worth sending (the link it carries no longer
// works): it is dropped then, not sent late.
type Message struct {
	To, ToName, Subject, Text, HTML string
	Expires                         time.Time
}

// Config says how to reach the SMTP server. With Host empty nothing is sent:
// each message is logged instead. Zero durations and counts take the
// Default* values; a zero Port takes the usual port for the TLS mode.
type Config struct {
	Host           string
	Port           int
	User, Password string // AUTH is used only when User is set
	From           string // "Natter <natter@example.org>" or a bare address
	TLS            string // TLSNone, TLSStartTLS (the default) or TLSImplicit
	ConnectTimeout time.Duration
	SendTimeout    time.Duration
	Retries        int           // attempts per queued message, the first included
	Backoff        time.Duration // wait before the second attempt; doubles after
	QueueSize      int           // most messages waiting in the outbox, the one being sent included
	// Outbox keeps queued mail; nil keeps it in memory, lost at a stop.
	Outbox Outbox
}

// Validate reports the first setting that cannot work, in words for the
// operator; main calls it at start. A Config without Host is always valid.
func (c Config) Validate() error {
	if c.Host == "" {
		return nil
	}
	switch c.TLS {
	case "", TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return fmt.Errorf("mail: TLS mode %q: want none, starttls or tls", c.TLS)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("mail: port %d is not a TCP port", c.Port)
	}
	if _, err := parseFrom(c.From); err != nil {
		return fmt.Errorf("mail: From %q: %w", c.From, err)
	}
	return nil
}

// DefaultConfig is the configuration Natter starts with: STARTTLS on the
// submission port, a local sender address, and the Default* limits.
func DefaultConfig() Config {
	return Config{From: "Natter <natter@localhost>"}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	if c.Port == 0 {
		c.Port = map[string]int{TLSNone: 25, TLSStartTLS: 587, TLSImplicit: 465}[c.TLS]
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.Retries <= 0 {
		c.Retries = DefaultRetries
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	return c
}

// Mailer sends messages now (Send) or later from its outbox (Enqueue).
// Build it with New and stop it with Close. It is safe for concurrent use.
type Mailer struct {
	cfg        Config
	log        *slog.Logger
	outbox     Outbox
	persistent bool // the outbox outlives the process
	count      counters

	mu      sync.RWMutex // guards closed against Enqueue adding after Close
	closed  bool
	closing chan struct{} // closed by Close: send what is due, then stop
	wake    chan struct{} // Enqueue's nudge to the worker; holds at most one

	abort context.CancelFunc // ends the worker's in-flight send at Close's deadline
	wctx  context.Context
	done  chan struct{} // closed when the worker has returned
}

// New returns a Mailer and starts its one worker goroutine, which begins
// with whatever a persistent outbox still holds from the last run. Call
// Close to stop it. A nil log discards records.
func New(cfg Config, log *slog.Logger) *Mailer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	wctx, abort := context.WithCancel(context.Background())
	m := &Mailer{
		cfg:        cfg,
		log:        log,
		outbox:     cfg.Outbox,
		persistent: cfg.Outbox != nil,
		closing:    make(chan struct{}),
		wake:       make(chan struct{}, 1),
		abort:      abort,
		wctx:       wctx,
		done:       make(chan struct{}),
	}
	if m.outbox == nil {
		m.outbox = &memoryOutbox{}
	}
	go m.work()
	return m
}

// Send delivers msg now, or logs it when no SMTP server is configured. It
// refuses bad addresses before connecting, and gives up when ctx ends or
// when the connect or send timeout passes.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	if err := check(msg); err != nil {
		return err
	}
	if m.cfg.Host == "" {
		// On purpose the whole text, secret link included: with no SMTP
		// server the log is the only way the operator can get a reset link.
		m.log.InfoContext(ctx, "mail not sent: no SMTP server configured; printing it instead",
			"to", msg.To, "subject", msg.Subject, "text", msg.Text)
		return nil
	}
	return m.transmit(ctx, msg)
}

// check refuses anything that could add or split a header. go-simple-mail
// writes the subject and names into headers unescaped when they are ASCII.
func check(msg Message) error {
	if strings.ContainsAny(msg.To+msg.ToName, "\r\n") {
		return fmt.Errorf("%w: line break in recipient", ErrBadAddress)
	}
	a, err := netmail.ParseAddress(msg.To)
	if err != nil || a.Address != msg.To || a.Name != "" {
		// Only a bare addr-spec: a display name or comment belongs in ToName.
		return fmt.Errorf("%w: %q is not a plain email address", ErrBadAddress, msg.To)
	}
	if strings.ContainsAny(msg.Subject, "\r\n") {
		return ErrBadHeader
	}
	return nil
}

// parseFrom accepts "Name <addr>" or "addr" without line breaks.
func parseFrom(from string) (*netmail.Address, error) {
	if strings.ContainsAny(from, "\r\n") {
		return nil, fmt.Errorf("%w: line break in From", ErrBadAddress)
	}
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	return a, nil
}
