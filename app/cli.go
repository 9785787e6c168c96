package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"natter/db"
	"natter/handlers"
	"natter/password"
)

// Commands are what `natter NAME ...` runs instead of the server. Each
// prints one line saying what it did, or fails with one line (main adds
// "natter: " and exits 1).
var commands = map[string]string{
	"admin":   "natter admin NAME             make a user an admin",
	"backup":  "natter backup FILE            consistent copy of the database while the server runs",
	"user":    "natter user create NAME EMAIL  new account (password on standard input)\n  natter user password NAME      set a password (on standard input); ends the user's sessions",
	"version": "natter version                version, commit and Go version",
}

// IsCommand reports whether name is one of natter's commands rather than
// the start of the server's flags.
func IsCommand(name string) bool {
	_, ok := commands[name]
	return ok
}

// Command runs one of natter's commands: args[0] names it; -db (or
// NATTER_DB) chooses the database, as for the server.
func Command(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	name := args[0]
	fs := flag.NewFlagSet("natter "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "usage:\n  %s\n", commands[name]) }
	dbDefault := "natter.db"
	if v := getenv("NATTER_DB"); v != "" {
		dbDefault = v
	}
	dbPath := fs.String("db", dbDefault, "the SQLite database file ($NATTER_DB)")
	// With PostgreSQL the accounts are there, and the commands act on them.
	pgURL := getenv("NATTER_DATABASE_URL")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return err
	}
	rest := fs.Args()
	switch name {
	case "version":
		fmt.Fprintln(stdout, versionLine())
		return nil
	case "backup":
		if pgURL != "" {
			return errors.New("the accounts are in PostgreSQL (NATTER_DATABASE_URL is set): back them up with pg_dump, not natter backup")
		}
		if len(rest) != 1 {
			return errors.New("backup needs one argument, the file to write: natter backup FILE")
		}
		if err := db.Backup(ctx, *dbPath, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "backed up %s to %s\n", *dbPath, rest[0])
		return nil
	case "user":
		return userCommand(ctx, accounts{*dbPath, pgURL, getenv("NATTER_NATS_URL"), getenv("NATTER_NODE")}, rest, stdin, stdout)
	case "admin":
		return adminCommand(ctx, accounts{*dbPath, pgURL, getenv("NATTER_NATS_URL"), getenv("NATTER_NODE")}, rest, stdout)
	}
	return fmt.Errorf("unknown command %q", name)
}

// userCommand runs `natter user create NAME EMAIL` and `natter user
// password NAME`. The password is the first line of stdin and goes through
// the same policy as the web forms.
func userCommand(ctx context.Context, where accounts, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("user needs a subcommand: natter user create NAME EMAIL, or natter user password NAME")
	}
	switch {
	case args[0] == "create" && len(args) == 3:
	case args[0] == "password" && len(args) == 2:
	case args[0] == "create":
		return errors.New("usage: natter user create NAME EMAIL (the password is read from standard input)")
	case args[0] == "password":
		return errors.New("usage: natter user password NAME (the password is read from standard input)")
	default:
		return fmt.Errorf("unknown user subcommand %q: use create or password", args[0])
	}
	pw, err := readPassword(stdin)
	if err != nil {
		return err
	}
	d, err := where.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	policy, err := password.NewPolicy()
	if err != nil {
		return err
	}
	hasher := password.NewHasher(password.DefaultParams(), 1)

	if args[0] == "create" {
		name, email := strings.TrimSpace(args[1]), strings.TrimSpace(args[2])
		if p := handlers.AccountProblem(name, email); p != "" {
			return errors.New(p)
		}
		if err := checkPolicy(policy, pw, name, email); err != nil {
			return err
		}
		hash, err := hasher.Hash(ctx, pw)
		if err != nil {
			return err
		}
		u, err := d.CreateUser(ctx, name, email, hash)
		switch {
		case errors.Is(err, db.ErrUsernameTaken):
			return fmt.Errorf("the user name %s is taken", name)
		case errors.Is(err, db.ErrEmailTaken):
			return fmt.Errorf("an account with the address %s already exists", email)
		case err != nil:
			return err
		}
		fmt.Fprintf(stdout, "created user %s (id %d, %s)\n", u.Username, u.ID, u.Email)
		return nil
	}

	u, err := d.UserByLogin(ctx, db.FoldKey(args[1]))
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("no account is named %s", args[1])
	} else if err != nil {
		return err
	}
	if err := checkPolicy(policy, pw, u.Username, u.Email); err != nil {
		return err
	}
	hash, err := hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	if _, err := d.ChangePassword(ctx, u.ID, hash); err != nil {
		return err
	}
	// The new credential version already refuses the old sessions; deleting
	// their rows also closes their open sockets within the server's check,
	// and at once on every node when they share NATS.
	if err := d.EndSessions(ctx, u.ID, ""); err != nil {
		return err
	}
	if where.nats != "" && where.url != "" {
		node := Config{Node: where.node}.nodeName() + "-cli"
		if err := closeEverywhere(ctx, where.nats, node, u.ID, "Your password was changed."); err != nil {
			return fmt.Errorf("password changed for %s and their sessions have ended, but their open sockets are not closed yet (%v): the servers close them within their session check (30 s)", u.Username, err)
		}
	}
	fmt.Fprintf(stdout, "password changed for %s; their sessions have ended\n", u.Username)
	return nil
}

// adminCommand runs `natter admin NAME`: the account named NAME (or with
// that address) gets the admin's rights.
func adminCommand(ctx context.Context, where accounts, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("admin needs one argument, the user's name: natter admin NAME")
	}
	d, err := where.open(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	u, err := d.UserByLogin(ctx, args[0])
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("no account is named %s", args[0])
	} else if err != nil {
		return err
	}
	if u.IsAdmin {
		fmt.Fprintf(stdout, "%s is already an admin\n", u.Username)
		return nil
	}
	if err := d.SetAdmin(ctx, u.ID, true); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s is now an admin\n", u.Username)
	return nil
}

// accounts says where the commands find the accounts: PostgreSQL when
// its URL is set, else the SQLite file.
// accounts says where the accounts are: the SQLite file at path, or the
// PostgreSQL at url; nats, if set, is NATTER_NATS_URL, which the servers
// that use them are connected to, and node NATTER_NODE.
type accounts struct{ path, url, nats, node string }

func (a accounts) open(ctx context.Context) (*db.DB, error) {
	if a.url != "" {
		return db.OpenPostgres(ctx, a.url)
	}
	return db.Open(ctx, a.path)
}

// readPassword reads the first line of stdin.
func readPassword(stdin io.Reader) (string, error) {
	if stdin == nil {
		return "", errors.New("the password is read from standard input, and there is none")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on standard input (type it, or: echo 'the password' | natter user ...)")
	}
	return pw, nil
}

// checkPolicy applies the web forms' password policy.
func checkPolicy(p *password.Policy, pw, username, email string) error {
	probs := p.Check(pw, username, email)
	if len(probs) == 0 {
		return nil
	}
	msgs := make([]string, len(probs))
	for i, pr := range probs {
		msgs[i] = pr.Message
	}
	return errors.New("password refused: " + strings.Join(msgs, " "))
}

// versionLine says which Natter this is: module version, VCS commit (with
// "+changes" when built from a modified tree) and Go version.
func versionLine() string {
	version, commit, modified := "(devel)", "unknown", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if modified {
		commit += "+changes"
	}
	return fmt.Sprintf("natter %s, commit %s, %s %s/%s", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
