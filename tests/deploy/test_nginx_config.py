"""deploy/nginx.conf is the configuration the README shows and the deployment test runs, and nginx accepts it for
any number of workers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from scripts import services
from tests.support.cluster import NGINX_SITE, ROOT, nginx_site, write_nginx_conf


def test_the_readme_shows_the_configuration_the_test_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```nginx\n(.*?)```", readme, re.S)
    assert blocks == [NGINX_SITE.read_text()]


def test_each_worker_gets_its_line_in_every_group_and_nginx_accepts_it(tmp_path: Path) -> None:
    workers = [("w1", 41001), ("w2", 41002), ("w3", 41003)]
    site = nginx_site(40999, workers)
    assert "listen 127.0.0.1:40999;" in site
    for name, port in workers:
        # Two upstreams (balanced, sockets) and two pin maps (requests, sockets).
        assert site.count(f"127.0.0.1:{port}") == 4, site
        assert site.count(f"    {name} 127.0.0.1:{port};") == 2, site
    directives = "\n".join(line for line in site.splitlines() if not line.lstrip().startswith("#"))
    assert "8081" not in directives and "8082" not in directives
    binary = services.ensure_nginx()
    assert binary, "nginx is not installed and could not be installed"
    main = write_nginx_conf(tmp_path, 40999, workers)
    checked = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr
