package mail

import (
	"context"
	"time"
)

// Enqueue puts msg in the outbox for the worker and returns without waiting
// on SMTP, so a request never waits on mail (and its timing reveals nothing
// about delivery). It reports false, and logs why, when msg is refused: a
// bad address, a message already expired, a full outbox (a slow or dead
// server: dropping beats growing without bound), an outbox that cannot be
// written, or a closed Mailer.
func (m *Mailer) Enqueue(msg Message) bool {
	if err := check(msg); err != nil {
		m.log.Error("mail not queued", "to", msg.To, "subject", msg.Subject, "err", err)
		return false
	}
	now := time.Now()
	if !msg.Expires.IsZero() && !now.Before(msg.Expires) {
		m.log.Error("mail not queued: already expired", "to", msg.To, "subject", msg.Subject, "expires", msg.Expires)
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		m.log.Error("mail not queued: mailer closed", "to", msg.To, "subject", msg.Subject)
		return false
	}
	added, err := m.outbox.AddMail(context.Background(), Stored{
		To: msg.To, ToName: msg.ToName, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML,
		NextAttempt: now, Created: now, Expires: msg.Expires,
	}, m.cfg.QueueSize)
	if err != nil {
		m.log.Error("mail not queued: outbox not writable", "to", msg.To, "subject", msg.Subject, "err", err)
		return false
	}
	if !added {
		m.log.Error("mail dropped: queue full", "to", msg.To, "subject", msg.Subject, "queue_size", m.cfg.QueueSize)
		return false
	}
	select {
	case m.wake <- struct{}{}:
	default: // a nudge is already pending
	}
	return true
}

// Close stops taking messages, lets the worker send what is due now, and
// waits for it. With a persistent outbox, messages waiting for a retry are
// not waited for; with the memory outbox they are. If ctx ends first, the
// send in progress is cut off. What is left stays in a persistent outbox
// for the next start, or is dropped from the memory one, and is logged
// either way: a stop that leaves mail on purpose is not a failure, so Close
// returns nil (a stop must not look like a crash). Close may be called more
// than once.
func (m *Mailer) Close(ctx context.Context) error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.closing)
	}
	m.mu.Unlock()
	select {
	case <-m.done:
	case <-ctx.Done():
		m.abort()
		<-m.done // prompt: every wait in the worker watches wctx
	}
	return nil
}

// work is the single sender; one connection at a time is plenty for reset
// mail and keeps a slow server from being hit by many at once. It takes
// the message whose attempt is due soonest, so mail left by the last run
// goes first, and sleeps until the next is due or Enqueue adds one.
func (m *Mailer) work() {
	defer close(m.done)
	defer m.abort() // releases the context's resources
	// The outbox is local; its calls are not cut off by Close's deadline,
	// so that a cut-off send is never half recorded.
	ctx := context.Background()
	for m.wctx.Err() == nil {
		msg, ok, err := m.outbox.NextMail(ctx)
		if err != nil {
			m.log.Error("mail outbox not readable", "err", err)
			if m.stopping() {
				break
			}
			m.sleepUntil(time.Now().Add(m.cfg.Backoff))
			continue
		}
		if !ok {
			if m.stopping() {
				break
			}
			m.sleepUntil(time.Time{})
			continue
		}
		now := time.Now()
		if !msg.Expires.IsZero() && !now.Before(msg.Expires) {
			m.log.Error("mail dropped: expired before it could be sent", "to", msg.To, "subject", msg.Subject,
				"attempts", msg.Attempts, "expired", msg.Expires)
			m.remove(ctx, msg)
			continue
		}
		if msg.NextAttempt.After(now) {
			if m.stopping() && m.persistent {
				break // the next start tries it again
			}
			m.sleepUntil(msg.NextAttempt)
			continue
		}
		m.attempt(ctx, msg)
	}
	m.reportLeft(ctx)
}

// stopping reports whether Close has been called.
func (m *Mailer) stopping() bool {
	select {
	case <-m.closing:
		return true
	default:
		return false
	}
}

// sleepUntil waits until t (forever when zero), a nudge from Enqueue, Close
// being called, or Close's deadline, whichever comes first.
func (m *Mailer) sleepUntil(t time.Time) {
	var timer <-chan time.Time
	if !t.IsZero() {
		tm := time.NewTimer(time.Until(t))
		defer tm.Stop()
		timer = tm.C
	}
	closing := m.closing
	if m.stopping() {
		closing = nil // already seen: a closed channel would spin
	}
	select {
	case <-timer:
	case <-m.wake:
	case <-closing:
	case <-m.wctx.Done():
	}
}

// attempt makes one try at msg: a success removes it; a failure schedules
// the next try after Backoff, then twice that, and so on, until Retries
// tries have failed. Failures are logged with the recipient and reason
// only: the body holds a secret link.
func (m *Mailer) attempt(ctx context.Context, msg Stored) {
	err := m.Send(m.wctx, Message{To: msg.To, ToName: msg.ToName, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML})
	if err == nil {
		m.count.sent.Add(1)
		m.remove(ctx, msg)
		return
	}
	attempt := msg.Attempts + 1
	if m.wctx.Err() != nil {
		// Cut off by Close: the server is not to blame, so the try is not
		// counted, and the message stays for what reportLeft decides.
		m.log.Error("mail not sent: shutting down", "to", msg.To, "subject", msg.Subject,
			"attempt", attempt, "err", err)
		return
	}
	m.count.failed.Add(1)
	if attempt >= m.cfg.Retries {
		m.log.Error("mail not sent: giving up", "to", msg.To, "subject", msg.Subject,
			"attempts", attempt, "err", err)
		m.count.givenUp.Add(1)
		m.remove(ctx, msg)
		return
	}
	wait := m.cfg.Backoff << (attempt - 1)
	m.log.Warn("mail not sent: will retry", "to", msg.To, "subject", msg.Subject,
		"attempt", attempt, "retry_in", wait, "err", err)
	if err := m.outbox.RetryMail(ctx, msg.ID, attempt, time.Now().Add(wait)); err != nil {
		m.log.Error("mail outbox not writable: retry not recorded", "to", msg.To, "err", err)
		// Without the new time the message would be due again at once.
		m.sleepUntil(time.Now().Add(wait))
	}
}

// remove deletes msg from the outbox once it is sent, expired or given up.
func (m *Mailer) remove(ctx context.Context, msg Stored) {
	if err := m.outbox.DeleteMail(ctx, msg.ID); err != nil {
		m.log.Error("mail outbox not writable: message not removed", "to", msg.To, "subject", msg.Subject, "err", err)
		m.sleepUntil(time.Now().Add(m.cfg.Backoff)) // not a busy loop on a failing disk
	}
}

// reportLeft logs what the stop leaves: a count kept for the next start in
// a persistent outbox, or each message dropped from the memory one.
func (m *Mailer) reportLeft(ctx context.Context) {
	if m.persistent {
		n, err := m.outbox.CountMail(ctx)
		switch {
		case err != nil:
			m.log.Error("mail outbox not readable at stop", "err", err)
		case n > 0:
			m.log.Warn("mail left in the outbox for the next start", "mails", n)
		}
		return
	}
	for {
		msg, ok, _ := m.outbox.NextMail(ctx) // the memory outbox never fails
		if !ok {
			return
		}
		m.log.Error("mail dropped: shutting down", "to", msg.To, "subject", msg.Subject)
		_ = m.outbox.DeleteMail(ctx, msg.ID)
	}
}
