// Package deploy holds the files docs/deploy.md ships: the systemd unit
// (natter.service), the Caddy configuration (Caddyfile) and the nginx one
// (nginx.conf), and for three nodes NATS's (nats.conf), nginx's
// (nginx-nodes.conf) and Caddy's (Caddyfile.nodes). Its tests run Natter
// behind the real Caddy and nginx with these very files (three Natter
// processes, NATS and PostgreSQL for the second set), check the unit with
// systemd-analyze, and restore a backup the way the guide says.
package deploy
