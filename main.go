// Command natter is a self-hosted real-time chat for small teams: one
// binary, one SQLite file. Run it with no settings and open
// http://localhost:8080.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"natter/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, app.ErrHelp) {
			fmt.Fprintln(os.Stderr, "natter:", err)
		}
		os.Exit(1)
	}
}

// run starts Natter and serves until ctx is cancelled, or runs one of its
// commands (natter backup, natter user, natter version). Tests call it with
// their own arguments, environment, input and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && app.IsCommand(args[0]) {
		return app.Command(ctx, args, getenv, stdin, stdout, stderr)
	}
	return app.Run(ctx, args, getenv, stdout, stderr)
}
