#!/usr/bin/env bash
# Start the local services the test suite talks to, if they are not running. Never fails the build:
# tests that need a missing service are skipped with a clear reason.
set -u
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! up 5432; then
  echo "PostgreSQL is down; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql 2>/dev/null | head -1)" main start 2>&1 || true
fi
if ! up 6379; then
  echo "Redis is down; starting it"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log 2>&1 || true
fi
if ! up 3306; then
  echo "MariaDB is down; starting it"
  (service mariadb start || service mysql start || (mysqld_safe --user=mysql >/dev/null 2>&1 &)) 2>&1 || true
  for _ in $(seq 1 30); do up 3306 && break; sleep 1; done
fi
if ! up 5672; then
  echo "RabbitMQ is down; starting it"
  (service rabbitmq-server start) 2>&1 || true
  for _ in $(seq 1 60); do up 5672 && break; sleep 1; done
fi
if ! up 4222; then
  echo "NATS is down; starting it (JetStream on)"
  command -v nats-server >/dev/null 2>&1 || (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q nats-server \
    >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nats-server >/dev/null 2>&1)) || true
  mkdir -p /var/lib/nats-server
  (setsid nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log \
    </dev/null >/dev/null 2>&1 &) || true
  for _ in $(seq 1 30); do up 4222 && break; sleep 1; done
fi
# The console's browser test drives Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1; then
  echo "chromium is missing; installing Debian's package"
  (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium >/dev/null 2>&1 \
    || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) || true
  command -v chromium >/dev/null 2>&1 && chromium --version || echo "chromium could not be installed"
fi
exit 0
