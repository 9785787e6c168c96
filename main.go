// Command natter is a self-hosted real-time chat for small teams: one
// binary, one SQLite file. Run it with no settings and open
// http://localhost:8080.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"natter/assets"
	"natter/chat"
	"natter/db"
	"natter/handlers"
	"natter/mail"
	"natter/password"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errHelp) {
			fmt.Fprintln(os.Stderr, "natter:", err)
		}
		os.Exit(1)
	}
}

// shutdownWait bounds the graceful stop: in-flight requests get this long.
const shutdownWait = 10 * time.Second

// run starts Natter and serves until ctx is cancelled, then stops
// gracefully: sockets are told to reconnect (1012), requests in flight
// finish, and the database is closed cleanly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flagHelp) {
			return errHelp
		}
		return err
	}
	log := newLogger(stdout, cfg.logLevel)

	database, err := db.Open(ctx, cfg.dbPath)
	if err != nil {
		return err
	}
	defer database.Close()

	mailer := mail.New(cfg.mailConfig(), log.With("component", "mail"))
	rooms := chat.New(cfg.chatConfig(), handlers.Renderer())
	policy, err := password.NewPolicy()
	if err != nil {
		return err
	}
	static, err := assets.New()
	if err != nil {
		return err
	}
	app, err := handlers.New(handlers.Config{
		BaseURL:        cfg.baseURL,
		TrustedProxies: cfg.trustedProxies(),
	}, handlers.Deps{
		DB:     database,
		Rooms:  rooms,
		Mailer: mailer,
		Hasher: password.NewHasher(password.DefaultParams(), runtime.GOMAXPROCS(0)),
		Policy: policy,
		Assets: static,
		Log:    log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.addr, err)
	}
	log.Info("natter listening", "addr", ln.Addr().String(), "base_url", cfg.baseURL, "db", cfg.dbPath, "smtp", smtpSummary(cfg))
	if cfg.smtpHost == "" {
		log.Info("no SMTP server configured: mail (password reset links included) is printed to this log")
	}

	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()

	select {
	case err = <-served:
		// The listener failed on its own.
	case <-ctx.Done():
		log.Info("shutting down")
		// Sockets first: each gets 1012 so browsers reconnect to the next
		// process; then the HTTP server waits for requests in flight.
		rooms.Close()
		err = app.ShutdownWithTimeout(shutdownWait)
		<-served
	}
	rooms.Close()
	if cerr := app.Close(); err == nil {
		err = cerr
	}
	mctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if merr := mailer.Close(mctx); err == nil {
		err = merr
	}
	log.Info("stopped")
	return err
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func smtpSummary(c config) string {
	if c.smtpHost == "" {
		return "none (mail goes to the log)"
	}
	return fmt.Sprintf("%s:%d (%s)", c.smtpHost, c.smtpPort, c.smtpTLS)
}

func (c config) mailConfig() mail.Config {
	return mail.Config{
		Host:     c.smtpHost,
		Port:     c.smtpPort,
		User:     c.smtpUser,
		Password: c.smtpPassword,
		From:     c.smtpFrom,
		TLS:      c.smtpTLS,
	}
}

func (c config) chatConfig() chat.Config {
	cc := chat.DefaultConfig()
	cc.Grace = c.roomGrace
	cc.History = c.history
	cc.MessageRate = c.messageRate
	cc.MessageBurst = c.messageBurst
	cc.Permanent = []string{"general", "programming"}
	return cc
}
