package cluster

import "github.com/nats-io/nats.go"

// Tap calls f with the subject and body of every user event, as they
// cross NATS, until stop is called.
func Tap(c *Conn, f func(subject string, data []byte)) (stop func()) {
	sub, err := c.nc.Subscribe("natter.user.>", func(m *nats.Msg) { f(m.Subject, m.Data) })
	if err != nil {
		panic(err)
	}
	if err := c.nc.Flush(); err != nil {
		panic(err)
	}
	return func() { _ = sub.Unsubscribe() }
}

// Kill closes c's connection at once, as a node killed with SIGKILL
// would: nothing is flushed, released or drained.
func Kill(c *Conn) { c.nc.Close() }
