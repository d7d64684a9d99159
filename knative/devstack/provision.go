package devstack

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// searchDB is the search function's own database and role: it owns that
// database and nothing else, so it can apply its migrations there and
// cannot read auth's tables.
const searchDB = "parley_search"

// ProvisionDatabase makes sure a login role and a database of the same
// name exist, the database owned by the role and closed to everyone else
// (PUBLIC may not connect), and that the role has password. The role gets
// no other privilege: no superuser, no CREATEDB, no CREATEROLE. adminURL
// must be a login that may create roles and databases. It returns the
// role's URL to its database, on adminURL's server.
func ProvisionDatabase(ctx context.Context, adminURL, name, password string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("devstack: provision %s: %w", name, err)
	}
	defer conn.Close(ctx)
	id := pgx.Identifier{name}.Sanitize()
	// Utility statements take no parameters: the password goes in as a
	// quoted literal.
	pw := "'" + strings.ReplaceAll(password, "'", "''") + "'"
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("devstack: provision %s: %w", name, err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	if _, err := conn.Exec(ctx, verb+" ROLE "+id+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD "+pw); err != nil {
		return "", fmt.Errorf("devstack: provision role %s: %w", name, err)
	}
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("devstack: provision %s: %w", name, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+id+" OWNER "+id); err != nil {
			return "", fmt.Errorf("devstack: provision database %s: %w", name, err)
		}
	}
	if _, err := conn.Exec(ctx, "REVOKE ALL ON DATABASE "+id+" FROM PUBLIC"); err != nil {
		return "", fmt.Errorf("devstack: provision database %s: %w", name, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.User = url.UserPassword(name, password)
	u.Path = "/" + name
	return u.String(), nil
}

// provisionSearch gives the search function its database on the server
// at adminURL, with a password kept in the state folder.
func (s *Stack) provisionSearch(ctx context.Context, stateDir, adminURL string) (string, error) {
	password, err := secret(filepath.Join(stateDir, "secrets", "postgres-search-password"))
	if err != nil {
		return "", err
	}
	return ProvisionDatabase(ctx, adminURL, searchDB, password)
}
