# Sourced by scripts/bench.sh and bench/fhir/read_passthrough.sh: the nginx mutual-TLS reverse
# proxy that the broker's FHIR pass-through is compared with (client certificates required,
# pooled keep-alive TLS to the trust), so both measure the same peer.
# write_nginx_mtls_proxy_conf DIR PKI LISTEN_PORT TRUST_PORT: writes DIR/nginx.conf (and DIR/logs).
write_nginx_mtls_proxy_conf() {
  local dir=$1 pki=$2 listen_port=$3 trust_port=$4
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<EOF_CONF
user root;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp-body;
  proxy_temp_path $dir/tmp-proxy;
  fastcgi_temp_path $dir/tmp-fastcgi;
  uwsgi_temp_path $dir/tmp-uwsgi;
  scgi_temp_path $dir/tmp-scgi;
  keepalive_requests 1000000;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  upstream trust { server 127.0.0.1:$trust_port; keepalive 64; }
  server {
    listen 127.0.0.1:$listen_port ssl;
    ssl_certificate $pki/nginx.crt;
    ssl_certificate_key $pki/nginx.key;
    ssl_client_certificate $pki/ca.crt;
    ssl_verify_client on;
    location /fhir/ {
      proxy_pass https://trust;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_certificate $pki/nginx.crt;
      proxy_ssl_certificate_key $pki/nginx.key;
      proxy_ssl_trusted_certificate $pki/ca.crt;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
    }
  }
}
EOF_CONF
}
