"""The responsibility and authority matrix (5.1 / 5.3) as a controlled Word document: who starts, owns,
acts in and approves each process, each process step by step, and who holds each role."""

import hashlib
from datetime import UTC, datetime

from engine.identity.models import ROLE_LABELS
from engine.records.display import china_time
from engine.reports.docx_layout import (
    Approver,
    approval_block,
    docx_bytes,
    heading,
    new_document,
    paragraph,
    table,
)
from engine.workflow.responsibilities import DUTY_LABELS, ROLES_IN_ORDER, ProcessDuties

TITLE = "碳管理体系职责权限矩阵 Carbon management responsibilities and authorities"


def matrix_fingerprint(processes: list[ProcessDuties], holders: dict[str, list[str]]) -> str:
    """A short fingerprint of what the document states: a new one means the matrix changed."""
    text = repr([(p.key, p.clause, [(s.label, s.duty, sorted(s.roles)) for s in p.steps]) for p in processes])
    return hashlib.sha256((text + repr(sorted(holders.items()))).encode()).hexdigest()[:12]


def _role(role: str) -> str:
    zh, en = ROLE_LABELS.get(role, (role, role))
    return f"{zh}\n{en}"


def responsibilities_docx(
    *,
    processes: list[ProcessDuties],
    holders: dict[str, list[str]],
    organization_name: str,
    exported_by: str,
) -> bytes:
    document = new_document(organization=organization_name, title=TITLE, author=exported_by)
    heading(document, TITLE, level=1)
    fingerprint = matrix_fingerprint(processes, holders)
    paragraph(document, "受控文件 Controlled document", bold_label="文件状态 Status：")
    paragraph(document, f"RM-{fingerprint}", bold_label="版本标识 Version：")
    paragraph(
        document, f"{china_time(datetime.now(UTC))}（北京时间）{exported_by}", bold_label="生成 Generated："
    )
    paragraph(
        document,
        "本矩阵由系统根据现行流程文件与成员角色自动生成；流程或角色变更后，版本标识随之改变，旧版本即失效。"
        " Computed from the workflow files in force and the members' roles; when either changes, the version "
        "changes and this copy is superseded.",
    )
    legend = "；".join(f"{label.zh}（{label.en}）" for label in DUTY_LABELS.values())
    paragraph(document, legend, bold_label="图例 Legend：")
    heading(document, "一、总表 Processes × roles", level=2)
    table(
        document,
        ["条款 Clause", "过程 Process", *(_role(role) for role in ROLES_IN_ORDER)],
        [
            [
                process.clause,
                f"{process.title.zh}\n{process.title.en}",
                *("、".join(DUTY_LABELS[d].zh for d in process.duties_of(role)) for role in ROLES_IN_ORDER),
            ]
            for process in processes
        ],
    )
    heading(document, "二、各过程的步骤与权限 Each process step by step", level=2)
    for process in processes:
        paragraph(document, bold_label=f"{process.clause}　{process.title.zh} {process.title.en}")
        table(
            document,
            ["步骤 Step", "职责 Duty", "从 From → 到 To", "角色 Roles", "签名含义 Signature"],
            [
                [
                    f"{step.label.zh}\n{step.label.en}",
                    DUTY_LABELS[step.duty].zh,
                    "、".join(s.zh for s in step.source) + (f" → {step.dest.zh}" if step.dest else ""),
                    "、".join(ROLE_LABELS.get(r, (r, r))[0] for r in ROLES_IN_ORDER if r in step.roles),
                    step.signature.zh if step.signature else "",
                ]
                for step in process.steps
            ],
            widths_mm=(44, 14, 40, 36, 22),
        )
    heading(document, "三、角色与人员 Who holds each role", level=2)
    table(
        document,
        ["角色 Role", "人员 People"],
        [[_role(role).replace("\n", " "), "、".join(names) or "—"] for role, names in holders.items()],
        widths_mm=(50, 106),
    )
    approval_block(
        document,
        [
            Approver(role="编制 Prepared", name=exported_by),
            Approver(role="审核 Reviewed"),
            Approver(role="批准 Approved"),
        ],
    )
    return docx_bytes(document)
