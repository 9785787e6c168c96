package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"natter/chat"
	"natter/cluster"
	"natter/db"
	"natter/mail"
)

// Config is everything a Natter server needs, read by Run from flags with
// an environment variable behind each one.
type Config struct {
	Addr   string
	DBPath string
	// DatabaseURL, if set (postgres://…), puts the accounts, sessions,
	// reset tokens, invitations, settings and account limits in
	// PostgreSQL, shared by every node that has it; DBPath then holds only
	// this node's mail outbox.
	DatabaseURL string
	// BaseURL is the public URL. Empty (the default) means unset: the
	// server then serves as http://localhost:<port> (or the listen address
	// when that is neither loopback nor unspecified) and accepts the
	// loopback names 127.0.0.1 and [::1] of its port alike.
	BaseURL      string
	SMTPHost     string
	SMTPPort     int
	SMTPUser     string
	SMTPPassword string
	SMTPFrom     string
	SMTPTLS      string
	// SMTPConnectTimeout and SMTPSendTimeout bound each delivery attempt.
	SMTPConnectTimeout, SMTPSendTimeout time.Duration
	RoomGrace                           time.Duration
	History                             int
	MessageRate                         float64
	MessageBurst                        int
	TrustedProxy                        string
	LogLevel                            string
	LogFormat                           string
	// MetricsAddr, if set, is where Prometheus's /metrics is served: a
	// listener of its own, never the public one.
	MetricsAddr string
	// DrainDelay is how long a stopping server keeps serving with /readyz
	// answering 503, so a proxy moves new work elsewhere first.
	DrainDelay time.Duration
	// Node is this node's name in every log line and on every metric;
	// empty means the host name (see nodeName).
	Node string
	// NATSURL, if set (nats://host:4222, JetStream on), connects the node
	// to the other nodes: see package cluster for what travels.
	NATSURL string
}

// setting is one row: a flag, the environment variable behind it, what it
// means, and the field of Config its text goes to.
type setting struct {
	flag, env, usage string
	field            field
}

// field reads a setting's text into one Config field. set returns "" when
// the text is good, else what the setting allows ("want ..."); show is the
// field's value as text, the default -h prints.
type field struct {
	set  func(text string) (problem string)
	show func() string
	// redact, if set, is how a refused text is quoted: without a secret.
	redact func(text string) string
}

// settings binds every setting to its field of c, one row each.
func settings(c *Config) []setting {
	return []setting{
		{"addr", "NATTER_ADDR", "listen address (host:port)", addrField(&c.Addr, false)},
		{"db", "NATTER_DB", "the SQLite database file", nonEmptyField(&c.DBPath)},
		{"database-url", "NATTER_DATABASE_URL", "PostgreSQL URL (postgres://user:password@host/db): accounts, sessions and account limits shared by several nodes; empty: all in the SQLite file", postgresURLField(&c.DatabaseURL)},
		{"base-url", "NATTER_BASE_URL", "public URL: reset links, socket origin check, secure cookies when https; unset: http://localhost:<port>, and 127.0.0.1 and [::1] work alike", baseURLField(&c.BaseURL)},
		{"smtp-host", "NATTER_SMTP_HOST", "SMTP server; empty: mail is printed to the log", textField(&c.SMTPHost, strings.TrimSpace)},
		{"smtp-port", "NATTER_SMTP_PORT", "SMTP port", intField(&c.SMTPPort, 1, 65535)},
		{"smtp-user", "NATTER_SMTP_USER", "SMTP user name (empty: no authentication)", textField(&c.SMTPUser, nil)},
		{"smtp-password", "NATTER_SMTP_PASSWORD", "SMTP password", textField(&c.SMTPPassword, nil)},
		{"smtp-from", "NATTER_SMTP_FROM", "sender address of Natter's mail", nonEmptyField(&c.SMTPFrom)},
		{"smtp-tls", "NATTER_SMTP_TLS", "SMTP encryption: none, starttls or tls", oneOfField(&c.SMTPTLS, mail.TLSNone, mail.TLSStartTLS, mail.TLSImplicit)},
		{"smtp-connect-timeout", "NATTER_SMTP_CONNECT_TIMEOUT", "longest wait for the SMTP server to answer a connection", timeoutField(&c.SMTPConnectTimeout)},
		{"smtp-send-timeout", "NATTER_SMTP_SEND_TIMEOUT", "longest time one mail may take to send", timeoutField(&c.SMTPSendTimeout)},
		{"room-grace", "NATTER_ROOM_GRACE", "how long a member outlives their last connection, so a room dies one grace after its last member leaves (0 allowed)", durationField(&c.RoomGrace)},
		{"history", "NATTER_HISTORY", "messages a room keeps in memory", intField(&c.History, 1, 100000)},
		{"message-rate", "NATTER_MESSAGE_RATE", "messages per second per user", rateField(&c.MessageRate)},
		{"message-burst", "NATTER_MESSAGE_BURST", "burst of messages per user above the rate", intField(&c.MessageBurst, 1, 100000)},
		{"trusted-proxy", "NATTER_TRUSTED_PROXY", "comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-* headers are trusted", textField(&c.TrustedProxy, nil)},
		{"log-level", "NATTER_LOG_LEVEL", "log level: debug, info, warn or error", oneOfField(&c.LogLevel, "debug", "info", "warn", "error")},
		{"log-format", "NATTER_LOG_FORMAT", "log format: text (key=value lines) or json", oneOfField(&c.LogFormat, "text", "json")},
		{"metrics-addr", "NATTER_METRICS_ADDR", "listen address of the Prometheus /metrics endpoint (empty: none); keep it private", addrField(&c.MetricsAddr, true)},
		{"drain-delay", "NATTER_DRAIN_DELAY", "on SIGTERM, how long /readyz answers 503 before the server stops (0 allowed)", durationField(&c.DrainDelay)},
		{"node", "NATTER_NODE", "this node's name in logs and metrics; empty: the host name", nodeField(&c.Node)},
		{"nats-url", "NATTER_NATS_URL", "NATS server URL (nats://host:4222, JetStream on), or several separated by commas: user events and sign-outs reach every node; empty: one node alone", natsURLField(&c.NATSURL)},
	}
}

// DefaultConfig is the configuration of a Natter started with no settings:
// the room and mail defaults are the chat and mail packages' own.
func DefaultConfig() Config {
	room, m := chat.DefaultConfig(), mail.DefaultConfig()
	return Config{
		Addr:               "localhost:8080",
		DBPath:             "natter.db",
		SMTPPort:           m.Port,
		SMTPFrom:           m.From,
		SMTPTLS:            m.TLS,
		SMTPConnectTimeout: m.ConnectTimeout,
		SMTPSendTimeout:    m.SendTimeout,
		RoomGrace:          room.Grace,
		History:            room.History,
		MessageRate:        room.MessageRate,
		MessageBurst:       room.MessageBurst,
		LogLevel:           "info",
		LogFormat:          "text",
	}
}

// parseConfig reads flags (which win) and environment variables over the
// defaults, and checks every value given, naming the setting and what it
// allows when one is wrong.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c := DefaultConfig()
	rows := settings(&c)
	fs := flag.NewFlagSet("natter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	given := make([]flagText, len(rows))
	for i, s := range rows {
		// -h shows the value the flag would replace: the variable's, or the default.
		given[i].def = s.field.show()
		if v := getenv(s.env); v != "" {
			given[i].def = v
		}
		fs.Var(&given[i], s.flag, s.usage+" ($"+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, ErrHelp
		}
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (settings are flags such as -addr, or NATTER_* variables)", fs.Arg(0))
	}
	for i, s := range rows {
		text, ok := given[i].text, given[i].set
		if !ok {
			text = getenv(s.env)
			ok = text != ""
		}
		if !ok {
			continue
		}
		if problem := s.field.set(text); problem != "" {
			if s.field.redact != nil {
				text = s.field.redact(text)
			}
			return Config{}, fmt.Errorf("invalid -%s ($%s) %q: %s", s.flag, s.env, text, problem)
		}
	}
	return c, nil
}

// flagText keeps a flag's text as given; parseConfig checks it after
// parsing, so a bad value gets the one-line error that names its variable
// too, not the flag package's usage dump.
type flagText struct {
	def, text string
	set       bool
}

func (f *flagText) String() string {
	if f == nil {
		return ""
	}
	return f.def
}

func (f *flagText) Set(v string) error {
	f.text, f.set = v, true
	return nil
}

// textField stores the text, cleaned by clean when it is not nil.
func textField(p *string, clean func(string) string) field {
	return field{
		set: func(v string) string {
			if clean != nil {
				v = clean(v)
			}
			*p = v
			return ""
		},
		show: func() string { return *p },
	}
}

func nonEmptyField(p *string) field {
	return field{
		set: func(v string) string {
			if *p = strings.TrimSpace(v); *p == "" {
				return "must not be empty"
			}
			return ""
		},
		show: func() string { return *p },
	}
}

// addrField reads host:port; optional allows empty (meaning none).
func addrField(p *string, optional bool) field {
	return field{
		set: func(v string) string {
			if optional && strings.TrimSpace(v) == "" {
				*p = ""
				return ""
			}
			*p = v
			_, port, err := net.SplitHostPort(v)
			if err != nil {
				return "want host:port, such as localhost:8080 or :8080"
			}
			if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				return "the port must be a number from 0 to 65535"
			}
			return ""
		},
		show: func() string { return *p },
	}
}

// baseURLField reads the public URL; empty means unset (see Config.BaseURL).
func baseURLField(p *string) field {
	return field{
		set: func(v string) string {
			*p = strings.TrimRight(strings.TrimSpace(v), "/")
			if *p == "" {
				return ""
			}
			u, err := url.Parse(*p)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				return "want an absolute http or https URL such as https://chat.example.com"
			}
			return ""
		},
		show: func() string { return *p },
	}
}

// postgresURLField reads a postgres:// URL; empty means none. Its password
// is never shown (-h prints the value the flag would replace).
func postgresURLField(p *string) field {
	return field{
		set: func(v string) string {
			*p = strings.TrimSpace(v)
			if *p == "" {
				return ""
			}
			if u, err := url.Parse(*p); err != nil || !db.IsPostgresURL(*p) || u.Host == "" && u.Query().Get("host") == "" {
				*p = ""
				return "want a URL such as postgres://natter:PASSWORD@db.example.com/natter"
			}
			return ""
		},
		show: func() string {
			if *p == "" {
				return ""
			}
			return db.RedactURL(*p)
		},
		redact: db.RedactURL,
	}
}

// nodeField reads a node name: printable text of at most 64 bytes, as it
// goes into log lines, a metric label and the NATS connection's name.
func nodeField(p *string) field {
	return field{
		set: func(v string) string {
			v = strings.TrimSpace(v)
			if len(v) > 64 || strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
				return "want a name of at most 64 characters without spaces, such as natter-1"
			}
			*p = v
			return ""
		},
		show: func() string { return *p },
	}
}

// natsURLField reads one NATS URL or several separated by commas (the
// servers of one NATS cluster); empty means none. Passwords and tokens in
// them are never shown.
func natsURLField(p *string) field {
	return field{
		set: func(v string) string {
			*p = strings.TrimSpace(v)
			if *p == "" {
				return ""
			}
			for _, one := range strings.Split(*p, ",") {
				u, err := url.Parse(strings.TrimSpace(one))
				if err != nil || u.Host == "" || u.Hostname() == "" || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, u.Scheme) {
					*p = ""
					return "want a URL such as nats://nats.example.com:4222 (schemes nats, tls, ws, wss; several separated by commas)"
				}
			}
			return ""
		},
		show:   func() string { return cluster.Redact(*p) },
		redact: cluster.Redact,
	}
}

func intField(p *int, lo, hi int) field {
	return field{
		set: func(v string) string {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < lo || n > hi {
				return fmt.Sprintf("want a whole number from %d to %d", lo, hi)
			}
			*p = n
			return ""
		},
		show: func() string { return strconv.Itoa(*p) },
	}
}

func rateField(p *float64) field {
	return field{
		set: func(v string) string {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f <= 0 || f > 1e6 {
				return "want a number above 0, such as 10 or 0.5"
			}
			*p = f
			return ""
		},
		show: func() string { return strconv.FormatFloat(*p, 'g', -1, 64) },
	}
}

// durationField reads a duration from 0 to 24h.
func durationField(p *time.Duration) field {
	return field{
		set: func(v string) string {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d < 0 || d > 24*time.Hour {
				return "want a duration from 0s to 24h, such as 10s or 2m"
			}
			*p = d
			return ""
		},
		show: func() string { return p.String() },
	}
}

// timeoutField reads a duration above 0 and at most 1h.
func timeoutField(p *time.Duration) field {
	return field{
		set: func(v string) string {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d <= 0 || d > time.Hour {
				return "want a duration above 0s and at most 1h, such as 10s"
			}
			*p = d
			return ""
		},
		show: func() string { return p.String() },
	}
}

// oneOfField reads one of allowed, in any case.
func oneOfField(p *string, allowed ...string) field {
	return field{
		set: func(v string) string {
			v = strings.ToLower(strings.TrimSpace(v))
			for _, a := range allowed {
				if v == a {
					*p = v
					return ""
				}
			}
			return "want one of " + strings.Join(allowed, ", ")
		},
		show: func() string { return *p },
	}
}

// trustedProxies splits the -trusted-proxy list.
func (c Config) trustedProxies() []string {
	var out []string
	for _, p := range strings.Split(c.TrustedProxy, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c Config) smtpSummary() string {
	if c.SMTPHost == "" {
		return "none (mail goes to the log)"
	}
	return fmt.Sprintf("%s:%d (%s)", c.SMTPHost, c.SMTPPort, c.SMTPTLS)
}

func (c Config) mailConfig() mail.Config {
	return mail.Config{
		Host:     c.SMTPHost,
		Port:     c.SMTPPort,
		User:     c.SMTPUser,
		Password: c.SMTPPassword,
		From:     c.SMTPFrom,
		TLS:      c.SMTPTLS,

		ConnectTimeout: c.SMTPConnectTimeout,
		SendTimeout:    c.SMTPSendTimeout,
	}
}

func (c Config) chatConfig() chat.Config {
	cc := chat.DefaultConfig()
	cc.Grace = c.RoomGrace
	cc.History = c.History
	cc.MessageRate = c.MessageRate
	cc.MessageBurst = c.MessageBurst
	return cc
}

// nodeName is the node's name: Node, or the host name when it is empty
// ("natter" if even that cannot be read).
func (c Config) nodeName() string {
	if c.Node != "" {
		return c.Node
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "natter"
}

// defaultBaseURL is the base URL of a server started without one, from the
// address it listens on: http://localhost:<port> on a loopback or
// unspecified address (the names 127.0.0.1 and [::1] work too), else
// http://<address>.
func defaultBaseURL(listen net.Addr) string {
	host, port, err := net.SplitHostPort(listen.String())
	if err != nil {
		return "http://" + listen.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		return "http://localhost:" + port
	}
	return "http://" + listen.String()
}
