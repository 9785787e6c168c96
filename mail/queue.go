package mail

import (
	"context"
	"time"
)

// Enqueue hands msg to the worker and returns at once, so a request never
// waits on SMTP (and its timing reveals nothing about delivery). It reports
// false, and logs why, when msg is refused: a bad address, a full queue (a
// slow or dead server: dropping beats holding memory without bound), or a
// closed Mailer.
func (m *Mailer) Enqueue(msg Message) bool {
	if err := check(msg); err != nil {
		m.log.Error("mail not queued", "to", msg.To, "subject", msg.Subject, "err", err)
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		m.log.Error("mail not queued: mailer closed", "to", msg.To, "subject", msg.Subject)
		return false
	}
	select {
	case m.queue <- msg:
		return true
	default:
		m.log.Error("mail dropped: queue full", "to", msg.To, "subject", msg.Subject, "queue_size", cap(m.queue))
		return false
	}
}

// Close stops taking messages, lets the worker send what is queued, and
// waits for it. If ctx ends first, the send in progress is cut off, the rest
// are logged as dropped, and ctx's error is returned once the worker is gone.
// Close may be called more than once.
func (m *Mailer) Close(ctx context.Context) error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.queue) // the worker drains it, then returns
	}
	m.mu.Unlock()
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		m.abort()
		<-m.done // prompt: every wait in the worker watches wctx
		return ctx.Err()
	}
}

// work is the single sender; one connection at a time is plenty for reset
// mail and keeps a slow server from being hit by many at once.
func (m *Mailer) work() {
	defer close(m.done)
	defer m.abort() // releases the context's resources
	for msg := range m.queue {
		m.deliver(msg)
	}
}

// deliver makes up to cfg.Retries attempts, waiting Backoff, then twice
// that, and so on between them. Failures are logged with the recipient and
// reason only: the body holds a secret link.
func (m *Mailer) deliver(msg Message) {
	wait := m.cfg.Backoff
	for attempt := 1; ; attempt++ {
		if m.wctx.Err() != nil {
			m.log.Error("mail dropped: shutting down", "to", msg.To, "subject", msg.Subject)
			return
		}
		err := m.Send(m.wctx, msg)
		if err == nil {
			return
		}
		if m.wctx.Err() != nil {
			m.log.Error("mail not sent: shutting down", "to", msg.To, "subject", msg.Subject,
				"attempt", attempt, "err", err)
			return
		}
		if attempt >= m.cfg.Retries {
			m.log.Error("mail not sent: giving up", "to", msg.To, "subject", msg.Subject,
				"attempts", attempt, "err", err)
			return
		}
		m.log.Warn("mail not sent: will retry", "to", msg.To, "subject", msg.Subject,
			"attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-m.wctx.Done():
			t.Stop()
		}
		wait *= 2
	}
}
