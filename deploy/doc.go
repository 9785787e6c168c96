// Package deploy holds the files docs/deploy.md ships: the systemd unit
// (natter.service), the Caddy configuration (Caddyfile) and the nginx one
// (nginx.conf). Its tests run Natter behind the real Caddy and nginx with
// these very files, check the unit with systemd-analyze, and restore a
// backup the way the guide says.
package deploy
