package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the SQLite database at src to dest
// with VACUUM INTO, while a server may be using src: SQLite copies one
// read transaction's view of the file, so sign-ups committed during the
// copy are either wholly in it or wholly not. Nothing is written to src
// and no migration runs. dest must not exist: a backup never overwrites.
func Backup(ctx context.Context, src, dest string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("database %s: %w", src, errors.Unwrap(err))
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("backup %s: the file exists; choose a new name (a backup never overwrites)", dest)
	}
	if st, err := os.Stat(filepath.Dir(dest)); err != nil || !st.IsDir() {
		return fmt.Errorf("backup %s: folder %s does not exist", dest, filepath.Dir(dest))
	}
	q := url.Values{}
	// A running server may hold the write lock for a moment.
	q.Add("_pragma", "busy_timeout(5000)")
	conn, err := sql.Open("sqlite", "file:"+(&url.URL{Path: src}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("database %s: %w", src, err)
	}
	defer conn.Close()
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("database %s: the file is not a readable SQLite database", src)
	}
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		_ = os.Remove(dest)
		return fmt.Errorf("backup %s: %w", dest, err)
	}
	return nil
}
