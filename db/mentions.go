package db

import (
	"context"
	"strconv"
	"strings"
)

// MaxUsersByNames caps the names UsersByNames looks up in one query.
const MaxUsersByNames = 50

// UsersByNames returns the enabled accounts whose user names are among
// names (any letter case), in no particular order, in one query: the
// users a message mentions. Names past MaxUsersByNames are ignored.
func (d *DB) UsersByNames(ctx context.Context, names []string) ([]User, error) {
	if len(names) > MaxUsersByNames {
		names = names[:MaxUsersByNames]
	}
	if len(names) == 0 {
		return nil, nil
	}
	// $n placeholders, which both engines read (PostgreSQL has no ?).
	args, marks := make([]any, len(names)), make([]string, len(names))
	for i, n := range names {
		args[i], marks[i] = FoldKey(n), "$"+strconv.Itoa(i+1)
	}
	return d.queryUsers(ctx, `SELECT `+userColumns+` FROM users WHERE disabled_at IS NULL AND username_key IN (`+
		strings.Join(marks, ", ")+`)`, args...)
}

// queryUsers runs a query of userColumns and returns its users.
func (d *DB) queryUsers(ctx context.Context, query string, args ...any) ([]User, error) {
	rows, err := d.SQL.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
