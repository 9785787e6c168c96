package mail

import (
	"context"
	"sync"
	"time"
)

// Stored is one message waiting in an outbox. Attempts counts the failed
// tries so far; NextAttempt is when the next may start; a zero Expires
// never expires.
type Stored struct {
	ID                              int64
	To, ToName, Subject, Text, HTML string
	Attempts                        int
	NextAttempt, Created, Expires   time.Time
}

// Outbox is where queued mail waits until it is sent. Give Config a
// persistent one (the database) so that mail accepted before a stop or a
// crash is sent after the next start; without one the Mailer keeps mail in
// memory, and a stop drops what is left. Methods are called from the
// Mailer's worker and from Enqueue, concurrently.
type Outbox interface {
	// AddMail stores m (its ID is ignored) unless the outbox already holds
	// max messages, and reports whether it did.
	AddMail(ctx context.Context, m Stored, max int) (bool, error)
	// NextMail returns the message with the earliest NextAttempt (the
	// oldest first among equals); ok is false when the outbox is empty.
	NextMail(ctx context.Context) (m Stored, ok bool, err error)
	// RetryMail records a failed attempt: the new count and when to retry.
	RetryMail(ctx context.Context, id int64, attempts int, next time.Time) error
	// DeleteMail removes a message: sent, expired or given up.
	DeleteMail(ctx context.Context, id int64) error
	// CountMail reports how many messages wait.
	CountMail(ctx context.Context) (int, error)
}

// memoryOutbox is the Outbox of a Mailer given none: a stop loses it.
type memoryOutbox struct {
	mu     sync.Mutex
	lastID int64
	mails  []Stored
}

func (o *memoryOutbox) AddMail(_ context.Context, m Stored, max int) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.mails) >= max {
		return false, nil
	}
	o.lastID++
	m.ID = o.lastID
	o.mails = append(o.mails, m)
	return true, nil
}

func (o *memoryOutbox) NextMail(context.Context) (Stored, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.mails) == 0 {
		return Stored{}, false, nil
	}
	next := o.mails[0]
	for _, m := range o.mails[1:] {
		if m.NextAttempt.Before(next.NextAttempt) {
			next = m
		}
	}
	return next, true, nil
}

func (o *memoryOutbox) RetryMail(_ context.Context, id int64, attempts int, next time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.mails {
		if o.mails[i].ID == id {
			o.mails[i].Attempts, o.mails[i].NextAttempt = attempts, next
		}
	}
	return nil
}

func (o *memoryOutbox) DeleteMail(_ context.Context, id int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.mails {
		if o.mails[i].ID == id {
			o.mails = append(o.mails[:i], o.mails[i+1:]...)
			break
		}
	}
	return nil
}

func (o *memoryOutbox) CountMail(context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.mails), nil
}
