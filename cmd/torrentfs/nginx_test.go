package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/torrentfs/torrentfs/internal/testnet"
)

// nginx starts Debian's nginx (nginx-light) on 127.0.0.1, on a config of its own in a temp
// directory, serving root at its top; server holds extra directives for its server block
// (a `location` that answers 404, say). It returns the port. nginx runs in the foreground
// and is stopped when the test ends.
func nginx(t testing.TB, root, server string) int {
	t.Helper()
	port, _ := nginxIn(t, nil, "127.0.0.1", root, server)
	return port
}

// nginxIn is nginx listening on ip, run in host h of a test network (nil: the tests' own
// namespace); it also returns the process, to stop before the test ends.
func nginxIn(t testing.TB, h *testnet.Host, ip, root, server string) (int, *proc) {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			t.Fatal("nginx not installed: run make deps (Debian's nginx-light)")
		}
	}
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
	access_log off;
	log_format ranges '$http_range $status $body_bytes_sent "$request" $http_user_agent';
	log_format fleet '$msec $remote_addr $request_time $status $body_bytes_sent $http_range';
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	default_type application/octet-stream;
	server {
		listen %[5]s;
		root %[3]s;
		%[4]s
	}
}
`, dir, port, root, server, net.JoinHostPort(ip, strconv.Itoa(port)))
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-e", "stderr", "-p", dir, "-c", cf}
	cmd := exec.Command(nginxPath(), args...)
	if h != nil {
		cmd = h.Command(nginxPath(), args...)
	}
	p := startProc(t, "nginx", cmd, nil)
	waitAcceptingAt(t, "nginx", net.JoinHostPort(ip, strconv.Itoa(port)), p.done)
	return port, p
}

func nginxPath() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	return "/usr/sbin/nginx"
}
