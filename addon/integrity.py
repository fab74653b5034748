"""Subresource Integrity for the payment pages' own scripts (PCI DSS 4.0.1 6.4.3: every script on a payment page
is authorised, listed, and its integrity assured).

A payment page loads one module of ours (``patient.js``, ``pay_link.js``), which imports others. The entry's
``<script>`` carries ``integrity``; the modules it imports, however deep, are listed with theirs in an import map
(``{"integrity": {url: hash}}``), which the browser checks each import against. The import map is an inline script,
so the page's Content-Security-Policy allows exactly it, by its own hash (:meth:`Scripts.csp_source`), and nothing
else inline. Stripe.js is the one script that is not ours: Stripe does not support SRI for it (it changes without
notice), so the policy names its origin only (see ``widget/patient.py``).

Hashes are taken from the files the app serves, once per process: a deploy ships new files and a new process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

from aiohttp import web
from markupsafe import Markup, escape

# Static imports (``import … from "…"``, ``export … from "…"``, ``import "…"``) and dynamic ``import("…")``.
_IMPORTS = re.compile(
    r"""(?:\b(?:import|export)\b[^;"'`]*?\bfrom\s*|\bimport\s*\(?\s*)(["'])(?P<url>[^"'\s]+\.m?js)\1""", re.S
)


class Scripts:
    """Where the app's static URL prefixes live on disk, and the integrity of the scripts under them."""

    def __init__(self) -> None:
        self.folders: dict[str, Path] = {}
        self._digests: dict[str, str] = {}
        self._maps: dict[str, str] = {}

    def serve(self, prefix: str, folder: Path) -> None:
        """``prefix`` (``/widget/static/``) serves the files of ``folder``."""
        self.folders[prefix] = folder

    def serves(self, path: str) -> bool:
        """Whether ``path`` is under one of the static prefixes."""
        return path.startswith(tuple(self.folders))

    def path_of(self, url: str) -> Path:
        for prefix, folder in self.folders.items():
            if url.startswith(prefix):
                path = (folder / url.removeprefix(prefix)).resolve()
                if path.is_file() and path.is_relative_to(folder.resolve()):
                    return path
        raise LookupError(f"no static file is served at {url}")

    def digest(self, url: str) -> str:
        """``sha384-…`` of the file served at ``url``, as an ``integrity`` attribute takes it."""
        found = self._digests.get(url)
        if found is None:
            found = sri(self.path_of(url).read_bytes())
            self._digests[url] = found
        return found

    def graph(self, entry: str) -> list[str]:
        """``entry`` and every module it imports, directly or not, in the order first met."""
        seen: dict[str, None] = {}
        stack = [entry]
        while stack:
            url = stack.pop()
            if url in seen:
                continue
            seen[url] = None
            stack.extend(reversed(list(_imports_of(url, self.path_of(url).read_text(encoding="utf-8")))))
        return list(seen)

    def import_map(self, entry: str) -> str:
        """The import map's text: the integrity of every module ``entry`` imports."""
        found = self._maps.get(entry)
        if found is None:
            found = json.dumps({"integrity": {url: self.digest(url) for url in self.graph(entry)[1:]}}, sort_keys=True)
            # Safe inside <script>: no markup characters at all, whatever a file's name holds.
            found = found.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            self._maps[entry] = found
        return found

    def csp_source(self, entry: str) -> str:
        """The ``script-src`` source that allows ``entry``'s import map, and only it, inline."""
        text = self.import_map(entry)
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    def tags(self, entry: str) -> Markup:
        """The import map and the entry's ``<script type="module">``, integrity-checked."""
        # The import map is our own JSON with every markup character escaped (see import_map), so it is safe raw.
        return Markup(  # noqa: S704
            f'<script type="importmap">{self.import_map(entry)}</script>\n'
            f'<script type="module" src="{escape(entry)}" integrity="{escape(self.digest(entry))}"></script>'
        )


def _imports_of(url: str, source: str) -> Iterator[str]:
    for match in _IMPORTS.finditer(source):
        yield urljoin(url, match.group("url"))


def sri(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


SCRIPTS = web.AppKey("scripts", Scripts)
