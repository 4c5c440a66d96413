"""Everything a person reads in the Chinese UI is Chinese: every page and htmx partial, as every role,
shows labels, names, local dates and China time — never a snake_case key, an English sentence or a raw
ISO timestamp. Documents are checked by their own tests (test_record_exports.py, test_ghg_report.py)."""

import re
from html.parser import HTMLParser

import pytest

from tests.web.conftest import ALL_ROLES
from tests.web.routes import route_rules
from tests.web.test_security import concrete, demo_object_ids

SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
ENGLISH = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,]+[A-Za-z][a-z]+){2,}\b")  # three words or more
ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# Reviewed: codes and names that are not the UI's words.
ALLOWED = (
    "GB/T", "tCO₂e", "tCO2e", "English", "Word", "Excel", "SHA-256", "PDF", "CSV", "xlsx", "API", "Bearer",
)  # fmt: skip
SKIPPED_PATHS = (
    "/healthz", "/readyz", "/metrics", "/ping", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect",
)  # fmt: skip
PAGE_QUERIES = {
    "/emissions": "?year=2025",
    "/emissions/data": "?year=2025",
    "/emissions/production": "?year=2025",
}


class VisibleText(HTMLParser):
    """The text a browser shows: no script, style or template content, no attributes (titles excepted)."""

    HIDDEN = {"script", "style", "template"}

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        mermaid = tag == "pre" and "mermaid" in classes  # Mermaid source: drawn as SVG
        template_code = tag == "code" and "template-code" in classes  # report-template syntax, typed in Word
        if tag in self.HIDDEN or mermaid or template_code:
            self.hidden += 1
        for name, value in attrs:
            if name in ("title", "placeholder", "aria-label") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if (tag in self.HIDDEN or tag in ("pre", "code")) and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.parts


def problems_in(text: str) -> list[str]:
    for allowed in ALLOWED:
        text = text.replace(allowed, "")
    found = [f"key {m}" for m in SNAKE.findall(text)]
    found += [f"English “{m}”" for m in ENGLISH.findall(text)]
    found += [f"timestamp {m}" for m in ISO_INSTANT.findall(text)]
    return found


def pages(web) -> list[str]:
    ids = demo_object_ids(web)
    paths = []
    for rule in route_rules(web.app):
        if (
            rule.method != "GET"
            or rule.is_api
            or rule.path in SKIPPED_PATHS
            or rule.path.startswith("/static")
        ):
            continue
        if rule.path.endswith((".xlsx", ".docx", ".csv")) or "/evidence/" in rule.path:
            continue  # files, checked by their own tests
        path = concrete(rule.path, ids)
        paths.append(path + PAGE_QUERIES.get(path, ""))
    return sorted(set(paths))


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_page_reads_in_chinese(web, role):
    client = web.as_role(role)
    found = {}
    for path in pages(web):
        for htmx in (False, True):
            headers = {"HX-Request": "true"} if htmx else {}
            response = client.get(path, headers=headers)
            if response.status_code in (403, 404, 409) or "text/html" not in response.headers.get(
                "content-type", ""
            ):
                continue
            for part in visible_text(response.text):
                for problem in problems_in(part):
                    found.setdefault(f"{path}{' (htmx)' if htmx else ''}", []).append(
                        f"{problem} in “{part[:80]}”"
                    )
    assert not found, "\n".join(
        f"{page}: {'; '.join(sorted(set(p))[:6])}" for page, p in sorted(found.items())
    )
