package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"natter/handlers"
)

// metrics is what an operator watches, served by Prometheus's client on a
// listener of its own (NATTER_METRICS_ADDR), never on the public one.
// Counters that the parts keep themselves (the room registry's) are read
// at scrape time, so the hot paths carry no Prometheus calls.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "natter_http_requests_total",
		Help: "HTTP requests by route pattern, method and status.",
	}, []string{"route", "method", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "natter_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern and method (a socket's whole life for /ws).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
	// Every series names its node, so one Prometheus tells the nodes apart
	// even when they are scraped through one address.
	labelled := prometheus.WrapRegistererWith(prometheus.Labels{"node": s.cfg.nodeName()}, m.reg)
	labelled.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(s.db.SQL, "natter"),
		m.requests, m.latency,
		roomCollector{s},
		partsCollector{s},
	)
	if s.nats != nil {
		labelled.MustRegister(natsCollector{s})
	}
	return m
}

// observe is the handlers' RequestObserver.
func (m *metrics) observe(route, method string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(took.Seconds())
}

var _ handlers.RequestObserver = (*metrics)(nil).observe

// roomCollector reads the room registry's counts at each scrape.
type roomCollector struct{ s *Server }

var (
	descSockets = prometheus.NewDesc("natter_sockets_open", "Room sockets open on this node.", nil, nil)
	descRooms   = prometheus.NewDesc("natter_rooms_live", "Live user rooms (the permanent rooms are not counted).", nil, nil)
	descMembers = prometheus.NewDesc("natter_room_members", "Members of all rooms, those inside their grace period included.", nil, nil)
	descPending = prometheus.NewDesc("natter_room_members_pending", "Members whose last connection closed, waiting out the grace period.", nil, nil)
	descQueued  = prometheus.NewDesc("natter_socket_queued_bytes", "Bytes waiting to be written to sockets (a frame queued to several counted for each).", nil, nil)
	descPosted  = prometheus.NewDesc("natter_messages_posted_total", "Chat messages posted (notices not counted).", nil, nil)
	descDeliv   = prometheus.NewDesc("natter_deliveries_total", "Frames queued to sockets: one per socket per room event.", nil, nil)
	descSnap    = prometheus.NewDesc("natter_snapshot_bytes_total", "Bytes of snapshots (history and members) sent to joining sockets.", nil, nil)
	descEvict   = prometheus.NewDesc("natter_socket_evictions_total", "Sockets closed as too slow (1013), by the limit they passed.", []string{"limit"}, nil)
	descEnded   = prometheus.NewDesc("natter_sockets_closed_total", "Sockets ended, by reason (evicted, ping timeout, signed out, client closed, ...).", []string{"reason"}, nil)
)

func (roomCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSockets, descRooms, descMembers, descPending, descQueued, descPosted, descDeliv, descSnap, descEvict, descEnded} {
		ch <- d
	}
}

func (c roomCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.rooms.Stats()
	ch <- prometheus.MustNewConstMetric(descSockets, prometheus.GaugeValue, float64(st.Connections))
	ch <- prometheus.MustNewConstMetric(descRooms, prometheus.GaugeValue, float64(st.Rooms))
	ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(st.Members))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(c.s.rooms.QueuedBytes()))
	k := c.s.rooms.Counters()
	ch <- prometheus.MustNewConstMetric(descPosted, prometheus.CounterValue, float64(k.Posted))
	ch <- prometheus.MustNewConstMetric(descDeliv, prometheus.CounterValue, float64(k.Deliveries))
	ch <- prometheus.MustNewConstMetric(descSnap, prometheus.CounterValue, float64(k.SnapshotBytes))
	for limit, n := range k.Evictions {
		ch <- prometheus.MustNewConstMetric(descEvict, prometheus.CounterValue, float64(n), limit)
	}
	for reason, n := range k.Ended {
		ch <- prometheus.MustNewConstMetric(descEnded, prometheus.CounterValue, float64(n), reason)
	}
}

// serveMetrics answers /metrics on ln until ctx ends.
func (m *metrics) serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// partsCollector reads the mailer's and the password hasher's counts.
type partsCollector struct{ s *Server }

var (
	descMailSent    = prometheus.NewDesc("natter_mail_sent_total", "Mails the SMTP server accepted (printed to the log when none is configured).", nil, nil)
	descMailFailed  = prometheus.NewDesc("natter_mail_failed_attempts_total", "Attempts to send a mail that failed (it is retried with backoff).", nil, nil)
	descMailGivenUp = prometheus.NewDesc("natter_mail_given_up_total", "Mails dropped after their last retry failed.", nil, nil)
	descHashWait    = prometheus.NewDesc("natter_password_hash_wait_seconds_total", "Time password hashes waited for a hashing slot, summed.", nil, nil)
	descHashes      = prometheus.NewDesc("natter_password_hashes_total", "Password hashes that got a hashing slot.", nil, nil)
	descHashBusy    = prometheus.NewDesc("natter_password_hash_busy_total", "Password hashes refused after the longest wait (answered 503).", nil, nil)
	descHashLongest = prometheus.NewDesc("natter_password_hash_wait_longest_seconds", "The longest wait of one password hash for a slot since the start.", nil, nil)
)

func (partsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMailSent, descMailFailed, descMailGivenUp, descHashWait, descHashes, descHashBusy, descHashLongest} {
		ch <- d
	}
}

func (c partsCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.s.mailer.Stats()
	ch <- prometheus.MustNewConstMetric(descMailSent, prometheus.CounterValue, float64(m.Sent))
	ch <- prometheus.MustNewConstMetric(descMailFailed, prometheus.CounterValue, float64(m.Failed))
	ch <- prometheus.MustNewConstMetric(descMailGivenUp, prometheus.CounterValue, float64(m.GivenUp))
	h := c.s.hasher.WaitStats()
	ch <- prometheus.MustNewConstMetric(descHashWait, prometheus.CounterValue, h.TotalWait.Seconds())
	ch <- prometheus.MustNewConstMetric(descHashes, prometheus.CounterValue, float64(h.Acquired))
	ch <- prometheus.MustNewConstMetric(descHashBusy, prometheus.CounterValue, float64(h.Busy))
	ch <- prometheus.MustNewConstMetric(descHashLongest, prometheus.GaugeValue, h.LongestWait.Seconds())
}

// natsCollector reads the NATS connection's counts, when there is one.
type natsCollector struct{ s *Server }

var (
	descNATSUp         = prometheus.NewDesc("natter_nats_connected", "1 while the node is connected to NATS, else 0 (then /readyz answers 503).", nil, nil)
	descNATSReconnects = prometheus.NewDesc("natter_nats_reconnects_total", "Times the node reconnected to NATS after losing it.", nil, nil)
	descNATSMsgs       = prometheus.NewDesc("natter_nats_messages_total", "NATS messages received (in) and published (out) by the node.", []string{"direction"}, nil)
	descNATSBytes      = prometheus.NewDesc("natter_nats_bytes_total", "Bytes of NATS messages received (in) and published (out) by the node.", []string{"direction"}, nil)
)

func (natsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNATSUp, descNATSReconnects, descNATSMsgs, descNATSBytes} {
		ch <- d
	}
}

func (c natsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.nats.Stats()
	up := 0.0
	if st.Connected {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descNATSUp, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descNATSReconnects, prometheus.CounterValue, float64(st.Reconnects))
	ch <- prometheus.MustNewConstMetric(descNATSMsgs, prometheus.CounterValue, float64(st.MsgsIn), "in")
	ch <- prometheus.MustNewConstMetric(descNATSMsgs, prometheus.CounterValue, float64(st.MsgsOut), "out")
	ch <- prometheus.MustNewConstMetric(descNATSBytes, prometheus.CounterValue, float64(st.BytesIn), "in")
	ch <- prometheus.MustNewConstMetric(descNATSBytes, prometheus.CounterValue, float64(st.BytesOut), "out")
}
