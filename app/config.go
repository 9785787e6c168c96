package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"natter/chat"
	"natter/mail"
	"natter/password"
)

// Config is everything a Natter server needs, read by Run from flags with
// an environment variable behind each one.
type Config struct {
	Addr   string
	DBPath string
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
	// FastHashing lowers the password hashing cost; only tests set it.
	FastHashing bool
}

// setting is one flag and the environment variable behind it.
type setting struct {
	flag, env, def, usage string
}

var settings = []setting{
	{"addr", "NATTER_ADDR", "localhost:8080", "listen address (host:port)"},
	{"db", "NATTER_DB", "natter.db", "the SQLite database file"},
	{"base-url", "NATTER_BASE_URL", "", "public URL: reset links, socket origin check, secure cookies when https; unset: http://localhost:<port>, and 127.0.0.1 and [::1] work alike"},
	{"smtp-host", "NATTER_SMTP_HOST", "", "SMTP server; empty: mail is printed to the log"},
	{"smtp-port", "NATTER_SMTP_PORT", "587", "SMTP port"},
	{"smtp-user", "NATTER_SMTP_USER", "", "SMTP user name (empty: no authentication)"},
	{"smtp-password", "NATTER_SMTP_PASSWORD", "", "SMTP password"},
	{"smtp-from", "NATTER_SMTP_FROM", "Natter <natter@localhost>", "sender address of Natter's mail"},
	{"smtp-tls", "NATTER_SMTP_TLS", "starttls", "SMTP encryption: none, starttls or tls"},
	{"smtp-connect-timeout", "NATTER_SMTP_CONNECT_TIMEOUT", "10s", "longest wait for the SMTP server to answer a connection"},
	{"smtp-send-timeout", "NATTER_SMTP_SEND_TIMEOUT", "30s", "longest time one mail may take to send"},
	{"room-grace", "NATTER_ROOM_GRACE", "10s", "how long an empty room lives before it is destroyed (0 allowed)"},
	{"history", "NATTER_HISTORY", "200", "messages a room keeps in memory"},
	{"message-rate", "NATTER_MESSAGE_RATE", "10", "messages per second per user"},
	{"message-burst", "NATTER_MESSAGE_BURST", "20", "burst of messages per user above the rate"},
	{"trusted-proxy", "NATTER_TRUSTED_PROXY", "", "comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-* headers are trusted"},
	{"log-level", "NATTER_LOG_LEVEL", "info", "log level: debug, info, warn or error"},
	{"log-format", "NATTER_LOG_FORMAT", "text", "log format: text (key=value lines) or json"},
	{"metrics-addr", "NATTER_METRICS_ADDR", "", "listen address of the Prometheus /metrics endpoint (empty: none); keep it private"},
	{"drain-delay", "NATTER_DRAIN_DELAY", "0s", "on SIGTERM, how long /readyz answers 503 before the server stops (0 allowed)"},
}

// DefaultConfig is the configuration of a Natter started with no settings.
func DefaultConfig() Config {
	c, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		panic(err) // the defaults are ours; a test checks they parse
	}
	return c
}

// parseConfig reads flags (which win) and environment variables, and checks
// every value, naming the setting and what it allows when one is wrong.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("natter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	raw := make(map[string]*string, len(settings))
	for _, s := range settings {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		raw[s.flag] = fs.String(s.flag, def, s.usage+" ($"+s.env+")")
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
	p := parser{raw: raw}
	c := Config{
		Addr:               p.addr("addr"),
		DBPath:             p.nonEmpty("db"),
		BaseURL:            p.baseURL("base-url"),
		SMTPHost:           strings.TrimSpace(*raw["smtp-host"]),
		SMTPPort:           p.intRange("smtp-port", 1, 65535),
		SMTPUser:           *raw["smtp-user"],
		SMTPPassword:       *raw["smtp-password"],
		SMTPFrom:           p.nonEmpty("smtp-from"),
		SMTPTLS:            p.oneOf("smtp-tls", "none", "starttls", "tls"),
		SMTPConnectTimeout: p.positiveDuration("smtp-connect-timeout"),
		SMTPSendTimeout:    p.positiveDuration("smtp-send-timeout"),
		RoomGrace:          p.duration("room-grace"),
		History:            p.intRange("history", 1, 100000),
		MessageRate:        p.positiveFloat("message-rate"),
		MessageBurst:       p.intRange("message-burst", 1, 100000),
		TrustedProxy:       *raw["trusted-proxy"],
		LogLevel:           p.oneOf("log-level", "debug", "info", "warn", "error"),
		LogFormat:          p.oneOf("log-format", "text", "json"),
		DrainDelay:         p.duration("drain-delay"),
		MetricsAddr:        p.optionalAddr("metrics-addr"),
	}
	return c, p.err
}

// parser collects the first bad value.
type parser struct {
	raw map[string]*string
	err error
}

func (p *parser) fail(name, format string, args ...any) {
	if p.err == nil {
		env := ""
		for _, s := range settings {
			if s.flag == name {
				env = s.env
			}
		}
		p.err = fmt.Errorf("invalid -%s ($%s) %q: %s", name, env, *p.raw[name], fmt.Sprintf(format, args...))
	}
}

func (p *parser) nonEmpty(name string) string {
	v := strings.TrimSpace(*p.raw[name])
	if v == "" {
		p.fail(name, "must not be empty")
	}
	return v
}

func (p *parser) addr(name string) string {
	v := *p.raw[name]
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		p.fail(name, "want host:port, such as localhost:8080 or :8080")
		return v
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail(name, "the port must be a number from 0 to 65535")
	}
	return v
}

func (p *parser) optionalAddr(name string) string {
	if strings.TrimSpace(*p.raw[name]) == "" {
		return ""
	}
	return p.addr(name)
}

// baseURL reads the public URL; empty means unset (see Config.BaseURL).
func (p *parser) baseURL(name string) string {
	v := strings.TrimRight(strings.TrimSpace(*p.raw[name]), "/")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		p.fail(name, "want an absolute http or https URL such as https://chat.example.com")
	}
	return v
}

func (p *parser) intRange(name string, lo, hi int) int {
	n, err := strconv.Atoi(strings.TrimSpace(*p.raw[name]))
	if err != nil || n < lo || n > hi {
		p.fail(name, "want a whole number from %d to %d", lo, hi)
	}
	return n
}

func (p *parser) positiveFloat(name string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(*p.raw[name]), 64)
	if err != nil || f <= 0 || f > 1e6 {
		p.fail(name, "want a number above 0, such as 10 or 0.5")
	}
	return f
}

func (p *parser) duration(name string) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(*p.raw[name]))
	if err != nil || d < 0 || d > 24*time.Hour {
		p.fail(name, "want a duration from 0s to 24h, such as 10s or 2m")
	}
	return d
}

func (p *parser) positiveDuration(name string) time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(*p.raw[name]))
	if err != nil || d <= 0 || d > time.Hour {
		p.fail(name, "want a duration above 0s and at most 1h, such as 10s")
	}
	return d
}

func (p *parser) oneOf(name string, allowed ...string) string {
	v := strings.ToLower(strings.TrimSpace(*p.raw[name]))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, "want one of %s", strings.Join(allowed, ", "))
	return v
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

// hashParams are the argon2id parameters: OWASP's, or cheap ones that
// only tests ask for.
func (c Config) hashParams() password.Params {
	p := password.DefaultParams()
	if c.FastHashing {
		p.Memory, p.Iterations = 64, 1
	}
	return p
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
