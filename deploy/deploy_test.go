package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/fasthttp/websocket"

	"natter/app"
	"natter/app/apptest"
	"natter/client"
	"natter/internal/testenv"
	"natter/mail/mailtest"
)

// host is the name the proxies serve in these tests; the test's dialer
// resolves it to 127.0.0.1.
const host = "chat.test"

// clientIP is the address the test's browser connects from: not the
// proxy's own 127.0.0.1, so the address Natter logs shows whether the
// proxy forwarded the address it saw.
const clientIP = "127.0.0.2"

// TestNginx runs Natter behind nginx with deploy/nginx.conf, as
// docs/deploy.md installs it, and uses it as a browser would.
func TestNginx(t *testing.T) {
	bin := lookPath("nginx", "/usr/sbin/nginx")
	if bin == "" {
		testenv.Missing(t, "nginx is not installed (apt-get install nginx-light): deploy/nginx.conf is not checked")
	}
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir, host)
	tlsPort, httpPort := freePort(t), freePort(t)
	base := fmt.Sprintf("https://%s:%d", host, tlsPort)
	nat := startNatter(t, "127.0.0.1:0", filepath.Join(dir, "natter.db"), base)

	site := render(t, "nginx.conf", append(nginxTLS(cert, key, tlsPort, httpPort),
		"proxy_pass http://127.0.0.1:8080;", "proxy_pass http://"+nat.srv.Addr()+";")...)
	startNginx(t, bin, dir, site)

	b := newBrowser(t, base, pool)
	waitHealthy(t, b)
	useThroughProxy(t, b, nat)
	restartBehindProxy(t, b, nat, filepath.Join(dir, "natter.db"), base)

	// Plain http is sent to https, on the same name.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/rooms?x=1", httpPort), nil)
	req.Host = fmt.Sprintf("%s:%d", host, httpPort)
	res, err := (&http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "https://" + host + "/rooms?x=1"; res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != want {
		t.Errorf("http: status %d, Location %q; want 301 to %s", res.StatusCode, res.Header.Get("Location"), want)
	}
}

// TestCaddy runs Natter behind Caddy with deploy/Caddyfile. The shipped
// file gets its certificate from an ACME CA; the test gives it its own
// certificate with a tls directive and turns off the admin endpoint and
// the http redirect listener, which would need fixed ports.
func TestCaddy(t *testing.T) {
	bin := lookPath("caddy", "/usr/bin/caddy")
	if bin == "" {
		testenv.Missing(t, "caddy is not installed (apt-get install caddy): deploy/Caddyfile is not checked")
	}
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir, host)
	tlsPort, httpPort := freePort(t), freePort(t)
	base := fmt.Sprintf("https://%s:%d", host, tlsPort)
	nat := startNatter(t, "127.0.0.1:0", filepath.Join(dir, "natter.db"), base)

	site := render(t, "Caddyfile",
		"chat.example.com {", fmt.Sprintf("%s:%d {\n\ttls %s %s", host, tlsPort, cert, key),
		"reverse_proxy 127.0.0.1:8080", "reverse_proxy "+nat.srv.Addr(),
	)
	startCaddy(t, bin, dir, site, httpPort)

	b := newBrowser(t, base, pool)
	waitHealthy(t, b)
	useThroughProxy(t, b, nat)
	restartBehindProxy(t, b, nat, filepath.Join(dir, "natter.db"), base)
}

// nginxTLS are the placeholders of a shipped nginx file that the tests
// replace, and what with: the listen lines (on 127.0.0.1 only), the name
// and the certificate.
func nginxTLS(cert, key string, tlsPort, httpPort int) []string {
	return []string{
		"listen [::]:80;", "",
		"listen [::]:443 ssl;", "",
		"listen 80;", fmt.Sprintf("listen 127.0.0.1:%d;", httpPort),
		"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", tlsPort),
		"server_name chat.example.com;", "server_name " + host + ";",
		"/etc/letsencrypt/live/chat.example.com/fullchain.pem", cert,
		"/etc/letsencrypt/live/chat.example.com/privkey.pem", key,
	}
}

// startNginx runs nginx until the test ends with site, a shipped file
// rendered for the test, as conf.d/natter.conf. The shipped file goes
// inside nginx's http block, as Debian's nginx.conf includes
// conf.d/*.conf; this is that main file, with every path in the test's
// folder and one process that stays in front.
func startNginx(t *testing.T, bin, dir, site string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "natter.conf"), site)
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    include %[1]s/natter.conf;
}
`, dir)
	writeFile(t, filepath.Join(dir, "nginx.conf"), main)
	start(t, exec.Command(bin, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log")),
		filepath.Join(dir, "error.log"))
}

// startCaddy runs Caddy until the test ends with site, a shipped file
// rendered for the test, behind global options that turn off what needs
// fixed ports (the admin endpoint, the http redirect) and keep Caddy's
// files in the test's folder.
func startCaddy(t *testing.T, bin, dir, site string, httpPort int) {
	t.Helper()
	global := fmt.Sprintf("{\n\tadmin off\n\tauto_https disable_redirects\n\tskip_install_trust\n\thttp_port %d\n\tstorage file_system %s\n}\n\n",
		httpPort, filepath.Join(dir, "caddy-data"))
	conf := filepath.Join(dir, "Caddyfile")
	writeFile(t, conf, global+site)
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	start(t, cmd, "")
}

// useThroughProxy does what a person does on a first visit, through the
// proxy, and checks what Natter saw of it: sign up, open a room, talk on
// its socket; and that the client address Natter logs is the one the
// proxy saw, not one the client wrote.
func useThroughProxy(t *testing.T, b *browser, nat *natter) {
	t.Helper()
	if res, err := b.Get("/readyz"); err != nil || res.Status != http.StatusOK {
		t.Errorf("GET /readyz through the proxy: %v %+v; want 200", err, res)
	}
	if err := b.Register("ana", "ana@example.com", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.CookieHeader(), "__Host-") {
		t.Errorf("cookies after sign-up: %q; want __Host- cookies (https)", b.CookieHeader())
	}

	// The page is not told it was opened at another address: the proxy
	// passed on the Host the browser sent, port included.
	page, err := b.Get("/rooms")
	if err != nil {
		t.Fatal(err)
	}
	if page.Status != http.StatusOK || strings.Contains(page.Body, "you opened it at") {
		t.Errorf("GET /rooms: status %d; want 200 without the wrong-address notice; log:\n%s", page.Status, nat.log.String())
	}

	// Natter believed the proxy's X-Forwarded-Proto: https, so a form
	// without a same-origin Referer is refused (a browser always sends one).
	b.ref.off = true
	res, err := b.Submit("/rooms", "/rooms", url.Values{"name": {"deploy-check"}})
	b.ref.off = false
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusForbidden {
		t.Errorf("room form without Referer: status %d; want 403 (Natter must see https)", res.Status)
	}
	res, err = b.Submit("/rooms", "/rooms", url.Values{"name": {"deploy-check"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusSeeOther || res.Location != "/rooms/deploy-check" {
		t.Fatalf("room form: status %d, Location %q; want 303 to /rooms/deploy-check", res.Status, res.Location)
	}

	// The socket, upgraded through the proxy, with the page's Origin.
	s, err := b.Dial("deploy-check", b.wsDialer())
	if err != nil {
		status := 0
		if s.Response != nil {
			status = s.Response.StatusCode
		}
		t.Fatalf("socket through the proxy: %v (status %d)", err, status)
	}
	defer s.Close()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	readUntil(t, s, "the snapshot", `id="members"`)
	if err := s.SendMessage("hello through the proxy"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, s, "the message", "hello through the proxy")

	// A client that writes its own X-Forwarded-For is not believed: the
	// proxy appends (nginx) or replaces (Caddy) with the address it saw.
	req, _ := http.NewRequest(http.MethodGet, b.URL("/forwarded-probe"), nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	if _, err := b.Do(req); err != nil {
		t.Fatal(err)
	}
	if ip := nat.requestIP(t, "/forwarded-probe"); ip != clientIP {
		t.Errorf("Natter logged ip=%s for a request from %s that claimed X-Forwarded-For: 6.6.6.6; want %s", ip, clientIP, clientIP)
	}
	if ip := nat.requestIP(t, "/register"); ip != clientIP {
		t.Errorf("Natter logged ip=%s for the sign-up; want %s", ip, clientIP)
	}
}

// restartBehindProxy does what an upgrade does (section 6 of the guide):
// Natter stops and a new one starts on the same address and database. An
// open socket gets 1012 through the proxy, the proxy answers 502 in the
// gap, and afterwards the same browser, still signed in, opens its socket
// again and gets the snapshot.
func restartBehindProxy(t *testing.T, b *browser, old *natter, dbPath, base string) {
	t.Helper()
	s, err := b.Dial("general", b.wsDialer())
	if err != nil {
		t.Fatalf("socket through the proxy: %v", err)
	}
	defer s.Close()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	readUntil(t, s, "the snapshot", `id="members"`)
	addr := old.srv.Addr()
	old.stop()
	for {
		_, _, err := s.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseServiceRestart) {
			t.Fatalf("socket at the restart: %v; want close 1012 through the proxy", err)
		}
		break
	}
	if res, err := b.Get("/healthz"); err != nil || res.Status != http.StatusBadGateway {
		t.Errorf("GET /healthz while Natter is down: %v %+v; want the proxy's 502", err, res)
	}

	startNatter(t, addr, dbPath, base)
	waitHealthy(t, b)
	s2, err := b.Dial("general", b.wsDialer())
	if err != nil {
		t.Fatalf("socket after the restart: %v", err)
	}
	defer s2.Close()
	s2.SetReadDeadline(time.Now().Add(5 * time.Second))
	readUntil(t, s2, "the snapshot after the restart", `id="members"`)
}

// TestSystemdUnit checks deploy/natter.service with systemd-analyze
// verify (systemd itself does not run in the test's sandbox) and that it
// keeps the settings docs/deploy.md describes.
func TestSystemdUnit(t *testing.T) {
	bin := lookPath("systemd-analyze", "/usr/bin/systemd-analyze")
	if bin == "" {
		testenv.Missing(t, "systemd-analyze is not installed: deploy/natter.service is not checked")
	}
	// verify wants ExecStart to exist; natter is not installed here, so
	// the unit points at this test binary instead.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := render(t, "natter.service", "ExecStart=/usr/local/bin/natter", "ExecStart="+exe)
	path := filepath.Join(t.TempDir(), "natter.service")
	writeFile(t, path, unit)
	out, err := exec.Command(bin, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		// Unknown keys and bad values are only warnings: any output fails.
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(unit, "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{
		"User=natter", "StateDirectory=natter", "WorkingDirectory=/var/lib/natter",
		"Environment=NATTER_DB=/var/lib/natter/natter.db", "Environment=NATTER_ADDR=127.0.0.1:8080",
		"Environment=NATTER_METRICS_ADDR=127.0.0.1:9090", "EnvironmentFile=-/etc/natter/natter.env",
		"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
		"LimitNOFILE=65536", "Restart=on-failure", "TimeoutStopSec=30s",
	} {
		if !lines[want] {
			t.Errorf("deploy/natter.service has no line %q", want)
		}
	}

	// Natter accepts the unit's settings: started with its Environment=
	// lines (the database, listen and metrics addresses moved to the
	// test's), it starts and stops cleanly with the unit's base URL.
	env := map[string]string{}
	for l := range lines {
		if v, ok := strings.CutPrefix(l, "Environment="); ok {
			k, v, _ := strings.Cut(v, "=")
			env[k] = v
		}
	}
	env["NATTER_DB"] = filepath.Join(t.TempDir(), "natter.db")
	env["NATTER_ADDR"], env["NATTER_METRICS_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
	started := run(t, env)
	if started.BaseURL != "https://chat.example.com" {
		t.Errorf("natter with the unit's environment: base_url %q; want https://chat.example.com", started.BaseURL)
	}
}

// TestBackupRestore does what docs/deploy.md says: natter backup of a
// running server's database, the key file copied beside it, the server
// stopped, both files put back in a new place, and the server started on
// them: an account made before the backup signs in.
func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "var-lib-natter", "natter.db")
	backups := filepath.Join(dir, "backups")
	restored := filepath.Join(dir, "restored", "natter.db")
	for _, d := range []string{filepath.Dir(live), backups, filepath.Dir(restored)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	nat := startNatter(t, "127.0.0.1:0", live, "")
	ana, _ := client.New("http://" + nat.srv.Addr())
	if err := ana.Register("ana", "ana@example.com", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}

	// natter backup /backups/natter.db, while the server runs.
	backup := filepath.Join(backups, "natter.db")
	var out, errOut bytes.Buffer
	err := app.Command(context.Background(), []string{"backup", backup},
		func(k string) string {
			if k == "NATTER_DB" {
				return live
			}
			return ""
		}, strings.NewReader(""), &out, &errOut)
	if err != nil {
		t.Fatalf("natter backup: %v (%s)", err, errOut.String())
	}
	if want := "backed up " + live + " to " + backup + "\n"; out.String() != want {
		t.Errorf("natter backup said %q; want %q", out.String(), want)
	}
	copyFile(t, live+"-mailkey", backup+"-mailkey")

	// After the backup: not in it.
	bob, _ := client.New("http://" + nat.srv.Addr())
	if err := bob.Register("bob", "bob@example.com", "staple tuning fork pencil"); err != nil {
		t.Fatal(err)
	}
	nat.stop()

	// Restore: the .db and its -mailkey, and no -wal or -shm from before.
	copyFile(t, backup, restored)
	copyFile(t, backup+"-mailkey", restored+"-mailkey")
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(restored + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s%s exists before the restored server starts", restored, suffix)
		}
	}
	nat2 := startNatter(t, "127.0.0.1:0", restored, "")
	ana2, _ := client.New("http://" + nat2.srv.Addr())
	if err := ana2.Login("ana", "correct horse battery staple"); err != nil {
		t.Errorf("ana, who signed up before the backup, cannot sign in to the restored server: %v", err)
	}
	bob2, _ := client.New("http://" + nat2.srv.Addr())
	if err := bob2.Login("bob", "staple tuning fork pencil"); !errors.Is(err, client.ErrRefused) {
		t.Errorf("bob signed up after the backup; signing in to the restored server gave %v, want a refusal", err)
	}
	if strings.Contains(nat2.log.String(), "mailkey") && strings.Contains(nat2.log.String(), "level=ERROR") {
		t.Errorf("the restored server complained about its key:\n%s", nat2.log.String())
	}
	if a, b := readFile(t, live+"-mailkey"), readFile(t, restored+"-mailkey"); a != b {
		t.Error("the restored server made a new mail key instead of using the one restored")
	}
}

// TestSMTPEnvironmentFile sends mail with deploy/natter.env as shipped:
// STARTTLS on the submission port and then AUTH with the file's user and
// password (and, as a variant, implicit TLS), to a real SMTP server of the
// test's on 127.0.0.1 that refuses anything else. Only the host and port
// are the test's. Natter runs as its own process, as under systemd, with
// the file's variables in its environment and SSL_CERT_FILE trusting the
// test's certificate (Natter verifies the SMTP server's certificate with
// the system's roots). The forgot-password form then sends a real mail.
func TestSMTPEnvironmentFile(t *testing.T) {
	file := map[string]string{}
	for _, line := range strings.Split(readFile(t, "natter.env"), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("deploy/natter.env: %q is not NAME=value", line)
		}
		file[k] = v
	}
	for _, k := range []string{"NATTER_SMTP_HOST", "NATTER_SMTP_PORT", "NATTER_SMTP_TLS", "NATTER_SMTP_USER", "NATTER_SMTP_PASSWORD", "NATTER_SMTP_FROM"} {
		if file[k] == "" {
			t.Fatalf("deploy/natter.env sets no %s", k)
		}
	}
	if file["NATTER_SMTP_TLS"] != "starttls" {
		t.Fatalf("deploy/natter.env: NATTER_SMTP_TLS=%s; the test expects the shipped starttls", file["NATTER_SMTP_TLS"])
	}
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			cert, key, _ := selfSigned(t, dir, "127.0.0.1")
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			srv := startSMTP(t, &tls.Config{Certificates: []tls.Certificate{pair}}, mode == "tls", file["NATTER_SMTP_USER"], file["NATTER_SMTP_PASSWORD"])

			env := map[string]string{}
			for k, v := range file {
				env[k] = v
			}
			env["NATTER_SMTP_HOST"] = "127.0.0.1"
			env["NATTER_SMTP_PORT"] = fmt.Sprint(srv.port)
			env["NATTER_SMTP_TLS"] = mode
			env["NATTER_ADDR"] = "127.0.0.1:0"
			env["NATTER_DB"] = filepath.Join(dir, "natter.db")
			env["SSL_CERT_FILE"] = cert
			started := runProcess(t, env)
			if want := fmt.Sprintf("127.0.0.1:%d (%s)", srv.port, mode); started.SMTP != want {
				t.Errorf("natter listening smtp=%q; want %q", started.SMTP, want)
			}

			ana, _ := client.New("http://" + started.Addr)
			if err := ana.Register("ana", "ana@example.com", "correct horse battery staple"); err != nil {
				t.Fatal(err)
			}
			visitor, _ := client.New("http://" + started.Addr)
			res, err := visitor.Submit("/password/forgot", "/password/forgot", url.Values{"email": {"ana@example.com"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != http.StatusOK {
				t.Fatalf("forgot-password form: status %d", res.Status)
			}
			m := srv.waitFor(t, "ana@example.com", started.logs)
			got, err1 := mail.ParseAddress(m.Header("From"))
			want, err2 := mail.ParseAddress(file["NATTER_SMTP_FROM"])
			if err1 != nil || err2 != nil || *got != *want {
				t.Errorf("From: %q; want %q, natter.env's NATTER_SMTP_FROM", m.Header("From"), file["NATTER_SMTP_FROM"])
			}
			if m.Link("http://") == "" {
				t.Errorf("the mail has no reset link:\n%s", m.TextBody())
			}
		})
	}
}

// smtpServer is a real SMTP server on 127.0.0.1 that takes mail only over
// TLS (STARTTLS, or implicit) and only after AUTH PLAIN with one user and
// password.
type smtpServer struct {
	port     int
	user, pw string
	mu       sync.Mutex
	received []mailtest.Received
}

func startSMTP(t *testing.T, tc *tls.Config, implicit bool, user, pw string) *smtpServer {
	t.Helper()
	s := &smtpServer{user: user, pw: pw}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{server: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = tc
	srv.AllowInsecureAuth = false // AUTH only once the connection is encrypted
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0) // Natter's log says what failed
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	if implicit {
		ln = tls.NewListener(ln, tc)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); _ = ln.Close(); <-done })
	return s
}

// waitFor returns the first mail to rcpt, waiting up to 10 s.
func (s *smtpServer) waitFor(t *testing.T, rcpt string, logs *syncBuffer) mailtest.Received {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s.mu.Lock()
		for _, m := range s.received {
			if len(m.To) == 1 && m.To[0] == rcpt {
				s.mu.Unlock()
				return m
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s within 10 s; Natter's log:\n%s", rcpt, logs.String())
		}
	}
}

// smtpSession is one SMTP connection: it refuses MAIL before an
// encrypted, authenticated session.
type smtpSession struct {
	server *smtpServer
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (c *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (c *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pw string) error {
		if user != c.server.user || pw != c.server.pw {
			return errors.New("wrong user or password")
		}
		c.authed = true
		return nil
	}), nil
}

func (c *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if _, ok := c.conn.TLSConnectionState(); !ok || !c.authed {
		return &smtp.SMTPError{Code: 530, Message: "encryption and authentication required"}
	}
	c.from = from
	return nil
}

func (c *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.to = append(c.to, to)
	return nil
}

func (c *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.server.mu.Lock()
	defer c.server.mu.Unlock()
	c.server.received = append(c.server.received, mailtest.Received{From: c.from, To: c.to, Raw: raw})
	return nil
}

func (c *smtpSession) Reset()        { c.from, c.to = "", nil }
func (c *smtpSession) Logout() error { return nil }

// TestNatterProcess is not a test: runProcess starts this test binary
// with it to run Natter as a process of its own, as main does.
func TestNatterProcess(t *testing.T) {
	if os.Getenv("NATTER_DEPLOY_TEST_PROCESS") != "1" {
		t.Skip("runs only as the process runProcess starts")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, nil, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "natter:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runProcess runs Natter in a process of its own with env (and nothing
// else of NATTER_*) until the test ends, and returns once it listens.
func runProcess(t *testing.T, env map[string]string) listening {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestNatterProcess$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATTER_") && !strings.HasPrefix(kv, "SSL_CERT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "NATTER_DEPLOY_TEST_PROCESS=1", "NATTER_LOG_FORMAT=json")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("natter did not stop within 10 s of SIGTERM")
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, ok := listeningLine(logs); ok {
			l.cmd, l.exited = cmd, exited
			return l
		}
		select {
		case <-exited:
			t.Fatalf("natter exited at start:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("natter did not start within 10 s:\n%s", logs.String())
		}
	}
}

// listeningLine finds the "natter listening" line in a JSON log.
func listeningLine(logs *syncBuffer) (listening, bool) {
	for _, l := range strings.Split(logs.String(), "\n") {
		var line struct {
			Msg, Addr, SMTP string
			BaseURL         string `json:"base_url"`
		}
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "natter listening" {
			return listening{Addr: line.Addr, BaseURL: line.BaseURL, SMTP: line.SMTP, logs: logs}, true
		}
	}
	return listening{}, false
}

// TestGuideQuotesShippedFiles checks that docs/deploy.md shows each
// shipped file exactly as it is, so what the guide says is what the tests
// above run.
func TestGuideQuotesShippedFiles(t *testing.T) {
	guide := readFile(t, filepath.Join("..", "docs", "deploy.md"))
	for _, name := range []string{"natter.service", "natter.env", "Caddyfile", "nginx.conf", "nats.conf", "nginx-nodes.conf", "Caddyfile.nodes"} {
		if !strings.Contains(guide, "\n"+readFile(t, name)+"```\n") {
			t.Errorf("docs/deploy.md does not quote deploy/%s verbatim in a code block", name)
		}
	}
}

// natter is a server started for one test, with its JSON log.
type natter struct {
	srv  *app.Server
	log  *syncBuffer
	stop func()
}

// startNatter starts Natter on addr with the settings the unit and the
// proxy configurations expect: 127.0.0.1 is the trusted proxy, the log is
// JSON at info level.
func startNatter(t *testing.T, addr, dbPath, baseURL string) *natter {
	t.Helper()
	cfg := app.DefaultConfig()
	cfg.Addr = addr
	cfg.DBPath = dbPath
	cfg.BaseURL = baseURL
	cfg.TrustedProxy = "127.0.0.1"
	cfg.LogLevel = "info"
	cfg.LogFormat = "json"
	logs := &syncBuffer{}
	cheap := apptest.CheapHash()
	srv, err := app.NewTuned(context.Background(), cfg, logs, app.Tuning{Hash: &cheap})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &natter{srv: srv, log: logs, stop: stop}
}

// listening is Natter's "natter listening" log line, and the log; for
// a process of its own (runProcess), the process and when it exited.
type listening struct {
	Addr, BaseURL, SMTP string
	logs                *syncBuffer
	cmd                 *exec.Cmd
	exited              <-chan struct{}
}

// run starts Natter as main does, with env as its environment, until the
// test ends, and returns once it listens.
func run(t *testing.T, env map[string]string) listening {
	t.Helper()
	env["NATTER_LOG_FORMAT"] = "json"
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, nil, func(k string) string { return env[k] }, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("natter: %v", err)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, ok := listeningLine(logs); ok {
			return l
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("natter did not start: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("natter did not start within 5 s:\n%s", logs.String())
		}
	}
}

// requestIP is the ip of Natter's "request" log line for path, waiting
// up to 5 s for it.
func (n *natter) requestIP(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(n.log.String()))
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for sc.Scan() {
			var line struct{ Msg, Path, IP string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "request" && line.Path == path {
				return line.IP
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request line for %s in Natter's log:\n%s", path, n.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a log destination the server writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// browser is a client that reaches https://chat.test:<port> through the
// proxy on 127.0.0.1, from 127.0.0.2, trusting the test's certificate,
// and sends a same-origin Referer on its posts as browsers do.
type browser struct {
	*client.Client
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	tls  *tls.Config
	ref  *referer
}

func newBrowser(t *testing.T, base string, pool *x509.CertPool) *browser {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientIP)}}
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", port))
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: dial, TLSClientConfig: tc, TLSHandshakeTimeout: 5 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	ref := &referer{next: tr}
	c.HTTP.Transport = ref
	c.HTTP.Timeout = 10 * time.Second
	return &browser{Client: c, dial: dial, tls: tc, ref: ref}
}

// wsDialer opens sockets the way the browser's requests go.
func (b *browser) wsDialer() *websocket.Dialer {
	return &websocket.Dialer{NetDialContext: b.dial, TLSClientConfig: b.tls, HandshakeTimeout: 5 * time.Second}
}

// referer adds the Referer a browser sends on a same-origin form post
// (the page the form is on posts to itself here), unless off.
type referer struct {
	next http.RoundTripper
	off  bool
}

func (r *referer) RoundTrip(req *http.Request) (*http.Response, error) {
	if !r.off && req.Method == http.MethodPost && req.Header.Get("Referer") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Referer", req.URL.String())
	}
	return r.next.RoundTrip(req)
}

// waitHealthy polls /healthz through the proxy until it answers 200.
func waitHealthy(t *testing.T, b *browser) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := b.Get("/healthz")
		if err == nil && res.Status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d: %s", res.Status, res.Body)
			}
			t.Fatalf("GET /healthz through the proxy: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readUntil reads socket frames until one contains want.
func readUntil(t *testing.T, s *client.Socket, what, want string) {
	t.Helper()
	var got []string
	for {
		_, b, err := s.ReadMessage()
		if err != nil {
			t.Fatalf("reading %s from the socket: %v; frames so far: %q", what, err, got)
		}
		if strings.Contains(string(b), want) {
			return
		}
		got = append(got, string(b))
	}
}

// start runs a proxy until the test ends. Its output, and the file
// errLog if given, are shown when the test fails.
func start(t *testing.T, cmd *exec.Cmd, errLog string) {
	t.Helper()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), out.String())
			if errLog != "" {
				b, _ := os.ReadFile(errLog)
				t.Logf("%s:\n%s", errLog, b)
			}
		}
	})
}

// render is the shipped file name with each placeholder replaced, in
// order; a placeholder the file no longer holds fails the test, so the
// test keeps checking the file as shipped.
func render(t *testing.T, name string, pairs ...string) string {
	t.Helper()
	s := readFile(t, name)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("deploy/%s no longer contains %q, which the test replaces", name, pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// selfSigned writes a certificate for name (a host name or an IP
// address) and its key to dir, and returns their paths and a pool that
// trusts it.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// freePort is a loopback port nobody listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lookPath finds a program on PATH or at its usual place (/usr/sbin is
// not on every PATH).
func lookPath(name, usual string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if st, err := os.Stat(usual); err == nil && !st.IsDir() {
		return usual
	}
	return ""
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	writeFile(t, to, readFile(t, from))
}
