# nginx on a free loopback port, for the tests and the benchmarks.  Source it.

# start_web ROOT PREFIX [ACCESS_LOG]: serve ROOT, with nginx's files under
# PREFIX; requests are logged to ACCESS_LOG when given (benchmarks log
# nothing).  $NGINX_EXTRA, when set, is added to the server block (a test's
# own locations).  Sets WEB (http://127.0.0.1:PORT).
start_web() {
  local root=$1 prefix=$2 log=${3:-off} port
  mkdir -p "$prefix/logs"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$prefix/nginx.conf" <<CONF
worker_processes 2;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log;
$( [ "$(id -u)" -eq 0 ] && echo "user root;" )
events { worker_connections 1024; }
http {
  access_log $log;
  sendfile on;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$port;
    root $root;
    # Files under slow/ trickle, so a test can act while one is in flight.
    location /slow/ { limit_rate 2m; }
    ${NGINX_EXTRA:-}
  }
}
CONF
  nginx -c "$prefix/nginx.conf" -p "$prefix"
  WEB=http://127.0.0.1:$port
  for _ in $(seq 100); do
    curl -s -o /dev/null "$WEB/" && return 0
    sleep 0.05
  done
  echo "nginx did not start" >&2
  return 1
}

stop_web() {
  [ -f "$1/nginx.pid" ] && kill "$(cat "$1/nginx.pid")" 2>/dev/null || true
}
