package mail

import "sync/atomic"

// Stats counts what the Mailer has done since it started, for metrics.
type Stats struct {
	Sent    int64 // mails the SMTP server accepted (or printed, with no server)
	Failed  int64 // attempts that failed; a mail may fail and then be sent
	GivenUp int64 // mails dropped after their last retry
}

// counters are the Mailer's Stats as they are counted.
type counters struct {
	sent, failed, givenUp atomic.Int64
}

// Stats returns the counts so far.
func (m *Mailer) Stats() Stats {
	return Stats{Sent: m.count.sent.Load(), Failed: m.count.failed.Load(), GivenUp: m.count.givenUp.Load()}
}
