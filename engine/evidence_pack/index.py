"""What a person reads first in an evidence pack: the index (clause → records → evidence, as html and
docx) and the README with the steps to check the pack with standard tools."""

from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from engine.clauses.library import Clause
from engine.records.display import china_time
from engine.reports.docx_layout import docx_bytes, heading, new_document, paragraph, table
from engine.workflow.loader import Workflow
from engine.workflow.models import Record

if TYPE_CHECKING:
    from engine.evidence_pack.build import PackRequest


@dataclass(frozen=True)
class IndexRow:
    number: str
    title: str
    process: str
    state: str
    period: str
    evidence: tuple[tuple[str, str], ...]  # (file name, path in the pack)


@dataclass
class PackIndex:
    organization: str
    request: "PackRequest"
    clauses: tuple[Clause, ...]
    exported_by: str
    rows: dict[str, list[IndexRow]] = field(default_factory=dict)  # clause number → rows
    pdfs: set[str] = field(default_factory=set)

    def add(
        self, *, record: Record, workflow: Workflow, clauses: list[str], evidence: list[dict[str, Any]]
    ) -> None:
        state = workflow.spec.states.get(record.state)
        closed = china_time(record.closed_at)[:10] if record.closed_at else "至今 ongoing"
        row = IndexRow(
            number=record.number,
            title=record.title,
            process=f"{workflow.spec.title.zh} / {workflow.spec.title.en}",
            state=f"{state.label.zh} / {state.label.en}" if state else record.state,
            period=f"{china_time(record.created_at)[:10]} – {closed}",
            evidence=tuple((item["filename"], item["path"]) for item in evidence),
        )
        for number in clauses:
            self.rows.setdefault(number, []).append(row)

    @property
    def scope(self) -> str:
        clause = f"条款 {self.request.clause}" if self.request.clause else "全部条款 all clauses"
        return f"{clause}，{self.request.date_from} 至 {self.request.date_to}"


def index_html(index: PackIndex) -> str:
    parts = [
        "<!doctype html><html lang='zh-CN'><meta charset='utf-8'>",
        f"<title>证据包 Evidence pack — {escape(index.organization)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #999;padding:4px;text-align:left;vertical-align:top}</style>",
        f"<h1>证据包 Evidence pack</h1><p>{escape(index.organization)} — {escape(index.scope)}</p>",
        f"<p>导出 Exported by {escape(index.exported_by)}. 校验 Verify: <code>python3 verify/verify_pack.py "
        "THIS.zip</code> (README.md)</p>",
    ]
    for clause in index.clauses:
        rows = index.rows.get(clause.number, [])
        parts.append(
            f"<h2>{escape(clause.number)} {escape(clause.title.zh)} / {escape(clause.title.en)}</h2>"
        )
        if not rows:
            parts.append("<p>本期间无记录 / no records in the period</p>")
            continue
        parts.append(
            "<table><tr><th>编号 Number</th><th>标题 Title</th><th>流程 Process</th><th>状态 State</th>"
            "<th>期间 Period</th><th>文件 Files</th></tr>"
        )
        for row in rows:
            links = [f"<a href='records/{escape(row.number)}.docx'>docx</a>"]
            if row.number in index.pdfs:
                links.append(f"<a href='records/{escape(row.number)}.pdf'>pdf</a>")
            links += [f"<a href='{escape(path)}'>{escape(name)}</a>" for name, path in row.evidence]
            parts.append(
                f"<tr><td>{escape(row.number)}</td><td>{escape(row.title)}</td><td>{escape(row.process)}</td>"
                f"<td>{escape(row.state)}</td><td>{escape(row.period)}</td><td>{' · '.join(links)}</td></tr>"
            )
        parts.append("</table>")
    return "\n".join(parts) + "\n</html>\n"


def index_docx(index: PackIndex) -> bytes:
    document = new_document(
        organization=index.organization, title="证据包索引 Evidence pack index", author=index.exported_by
    )
    heading(document, "证据包索引 Evidence pack index", level=1)
    paragraph(document, index.scope)
    for clause in index.clauses:
        heading(document, f"{clause.number} {clause.title.zh} / {clause.title.en}", level=2)
        rows = index.rows.get(clause.number, [])
        if not rows:
            paragraph(document, "本期间无记录 / no records in the period")
            continue
        table(
            document,
            ["编号 Number", "标题 Title", "状态 State", "期间 Period", "证据 Evidence"],
            [
                [
                    row.number,
                    row.title,
                    row.state,
                    row.period,
                    "\n".join(name for name, _ in row.evidence) or "—",
                ]
                for row in rows
            ],
            widths_mm=(28, 44, 26, 30, 28),
        )
    return docx_bytes(document)


def readme(index: PackIndex, *, public_key: str) -> str:
    return f"""# 证据包 / Evidence pack — {index.organization}

范围 Scope: {index.scope}

## 内容 / Contents
- `index.html`, `index.docx` — 条款 → 记录 → 证据 / clause → records → evidence
- `records/` — 每条记录的 docx、PDF（如已安装 LibreOffice）与 JSON（与数据库逐字段一致）/ each record as
  docx, PDF (where LibreOffice was installed) and JSON (the database's fields)
- `evidence/` — 证据文件，文件名以其 SHA-256 开头 / the evidence files, named after their SHA-256
- `audit/events.jsonl` — 审计追踪的连续片段，含校验哈希链所需的一切 / a contiguous slice of the audit trail,
  with everything needed to recompute its hash chain: `hash = sha256(prev_hash + payload)`
- `audit/checkpoints.jsonl` — 以 Ed25519 签名的链头检查点 / the chain heads signed with Ed25519
- `manifest.json` + `manifest.sig` — 每个文件的 SHA-256 与大小，及其 Ed25519 签名 / every file's SHA-256 and
  size, and the manifest's Ed25519 signature
- `SHA256SUMS` — 供 `sha256sum -c` 使用 / for `sha256sum -c`
- `verify/` — 仅用 Python 标准库的校验脚本 / the verification script, Python standard library only

## 校验步骤 / How to verify
1. 向企业索取其公钥（`tanguan audit public-key`），与此处比对 / obtain the enterprise's public key
   (`tanguan audit public-key`) by another channel and compare it with this pack's:
   `{public_key}`
2. 完整校验（Python 3.9+，离线）/ the full check (Python 3.9+, offline):
   `unzip -q PACK.zip -d pack && python3 pack/verify/verify_pack.py PACK.zip --public-key {public_key}`
3. 仅用标准工具检查文件哈希 / the file hashes alone with standard tools:
   `cd pack && sha256sum -c SHA256SUMS`
4. 任一字节被改动，第 2 步会指出对应的文件或审计事件并以状态 1 退出 / a changed byte anywhere makes step 2
   name the file or the audit event and exit with status 1.
"""
