"""Start the machine's PostgreSQL and Redis when they are installed but stopped, and install Debian's nginx for the
deployment tests when it is missing (used by bootstrap and tests)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(port: int, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if listening(port):
            return True
        time.sleep(0.2)
    return False


def ensure_postgres() -> bool:
    if listening(5432):
        return True
    clusters = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    if clusters and shutil.which("pg_ctlcluster"):
        print("services: starting PostgreSQL", file=sys.stderr)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", clusters[-1], "main", "start"], check=False)
    return wait_for(5432)


def ensure_redis() -> bool:
    if listening(6379):
        return True
    if shutil.which("redis-server"):
        print("services: starting Redis", file=sys.stderr)
        os.makedirs("/var/lib/redis", exist_ok=True)
        os.makedirs("/var/log/redis", exist_ok=True)
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/var/lib/redis",
                "--logfile",
                "/var/log/redis/ci.log",
            ],
            check=False,
        )
    return wait_for(6379)


NGINX_PACKAGES = ("nginx-light", "nginx")  # nginx-light: bookworm's small build; nginx where it has gone


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def ensure_nginx() -> str | None:
    """The path of Debian's nginx, installed with apt-get (as root) when missing. Only the binary is wanted: the
    deployment tests run nginx as a process of their own with their own configuration, never the system service
    (Debian's policy-rc.d in containers keeps the package from starting it)."""
    found = nginx_binary()
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("services: installing Debian's nginx for the deployment tests", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL)
    for package in NGINX_PACKAGES:
        installed = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        if installed.returncode == 0 and (found := nginx_binary()):
            return found
    return None


if __name__ == "__main__":
    ok_pg, ok_redis = ensure_postgres(), ensure_redis()
    if not ensure_nginx():
        print("services: nginx is missing (the deployment tests need it): apt-get install nginx-light", file=sys.stderr)
    if not ok_pg:
        print("services: PostgreSQL is not reachable on 127.0.0.1:5432", file=sys.stderr)
    if not ok_redis:
        print("services: Redis is not reachable on 127.0.0.1:6379", file=sys.stderr)
