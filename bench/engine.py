"""Workflow-engine benchmark: the nonconformity lifecycle through Tanguan's service API, against two peers.

python -m bench.engine [--cases N] [--rounds R] [--dir PATH] [--profile FILE]

N cases (default 200) each go through the six user steps of the nonconformity process (assess, analyse,
plan, start, complete, verify_effective), one committed transaction per step, on a fresh SQLite file in
WAL mode with ``synchronous=FULL`` and ``BEGIN IMMEDIATE`` write transactions:

    tanguan           ``engine.workflow.lifecycle.fire_transition`` in ``Database.unit_of_work``: form
                      validation, roles, separation of duties, guards, signature, audit chain, tasks
    spiffworkflow     SpiffWorkflow 3 (BPMN, six sequential user tasks): complete the ready task with the
                      same form data, run the engine steps, serialize the workflow with
                      ``BpmnWorkflowSerializer`` and UPDATE its row
    bare-transitions  the ``transitions`` library and SQLAlchemy Core: read the row, fire the trigger,
                      UPDATE state and JSON data, INSERT one history row

Case creation is setup and is not in the transition figures (Tanguan's is reported separately). Prints:

    tanguan: N transitions/s
    spiffworkflow: N transitions/s
    bare-transitions: N transitions/s
    tanguan_vs_spiffworkflow: X x
    tanguan_vs_bare: X x
    tanguan_create: N records/s

With ``--rounds R`` every round runs the three on fresh files, in the same order, and the best round of
each counts (the machine is shared). Diagnostics go to standard error, among them the CPU time per step
of each peer (the least of the rounds): wall time is mostly fsync, and fsync latency on a shared disk
varies from round to round far more than the CPU time does. ``--profile FILE`` writes cProfile stats of
Tanguan's transition loop in the first round (``python -m pstats FILE``).
"""

import argparse
import contextlib
import cProfile
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Password hashing is setup, not what is measured: cheap Argon2 before any engine module reads settings.
os.environ.setdefault("TANGUAN_ARGON2_TIME_COST", "1")
os.environ.setdefault("TANGUAN_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("TANGUAN_ARGON2_PARALLELISM", "1")

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from transitions import Machine

SECRET = "bench-installation-key"
PASSWORD = "Signing-Pass-2026"
STATES = [
    "reported",
    "assessed",
    "root_cause",
    "actions_planned",
    "implementing",
    "effectiveness_review",
    "closed",
]
TRIGGERS = ["assess", "analyse", "plan", "start", "complete", "verify_effective"]
PEOPLE = {
    "reporter": ["staff"],
    "quality": ["quality_manager"],
    "owner": ["process_owner"],
    "auditor": ["internal_auditor"],
}
REPORT = {
    "title": "窑尾烟气在线监测数据缺失",
    "source": "monitoring",
    "description": "3 月 5 日 2 小时数据缺失",
    "found_on": "2026-03-05",
    "clause": "8.6",
}


def actions(owner_id: int, status: str) -> list[dict[str, str]]:
    return [
        {"description": "更换分析仪采样探头", "owner": str(owner_id), "due": "2026-04-30", "status": status}
    ]


def lifecycle(owner_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(trigger, person, form data) for the six steps; every peer gets the same data."""
    return [
        ("assess", "quality", {"severity": "major", "containment": "人工取样补测"}),
        ("analyse", "quality", {"method": "five_why", "cause": "探头积灰未定期清理"}),
        ("plan", "owner", {"actions": actions(owner_id, "open")}),
        ("start", "owner", {}),
        ("complete", "owner", {"actions": actions(owner_id, "done")}),
        (
            "verify_effective",
            "auditor",
            {
                "criteria": "连续 30 天数据完整率 100%",
                "evidence": "在线监测平台导出记录",
                "result": "effective",
            },
        ),
    ]


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


CPU_MS: dict[str, float] = {}  # the least CPU milliseconds per step seen for each peer


class Timer:
    """Wall and CPU time of a block; the CPU share shows how much of a step is waiting for fsync."""

    def __enter__(self) -> "Timer":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def report(self, name: str, steps: int) -> float:
        note(
            f"{name}: {steps / self.wall:.0f} /s wall, {1000 * self.wall / steps:.2f} ms/step wall, "
            f"{1000 * self.cpu / steps:.2f} ms/step CPU"
        )
        CPU_MS[name] = min(CPU_MS.get(name, float("inf")), 1000 * self.cpu / steps)
        return steps / self.wall


# --- Tanguan -----------------------------------------------------------------------------------------


def run_tanguan(path: Path, cases: int, profile: Path | None = None) -> tuple[float, float]:
    """(transitions/s, records created/s); with ``profile``, cProfile stats of the transition loop."""
    from engine.audit import SYSTEM, verify_chain
    from engine.db import Database
    from engine.identity.models import OrganizationCreate
    from engine.identity.organizations import create_organization
    from engine.identity.users import create_user, grant_membership
    from engine.migrate import upgrade
    from engine.workflow.access import ActorRef
    from engine.workflow.catalog import WorkflowCatalog
    from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext, create_record, fire_transition

    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    catalog = WorkflowCatalog.load()
    # Re-authentication is Argon2 verification before the transaction, which is not the engine: the bench
    # fires the signing step as if the password had been checked.
    db.session_info[PROCESS_CONTEXT] = ProcessContext(catalog, SECRET)
    people: dict[str, ActorRef] = {}
    with db.unit_of_work(all_orgs=True) as uow:
        org_id = create_organization(
            uow.session, data=OrganizationCreate(slug="bench", name="湘丰水泥"), actor=SYSTEM
        ).id
        for name, roles in PEOPLE.items():
            user = create_user(
                uow.session, email=f"{name}@bench.example", display_name=name, password=PASSWORD
            )
            grant_membership(uow.session, org_id=org_id, user=user, roles=roles, actor=SYSTEM)
            people[name] = ActorRef(id=user.id, name=name, roles=frozenset(roles))
        catalog.register(uow.session)
    workflow = catalog.get("nonconformity")

    record_ids = []
    with Timer() as timer:
        for i in range(cases):
            with db.unit_of_work(org_id=org_id) as uow:
                record = create_record(
                    uow.session,
                    workflow=workflow,
                    org_id=org_id,
                    actor=people["reporter"],
                    form_data={**REPORT, "title": f"{REPORT['title']} #{i}"},
                )
                record_ids.append(record.id)
    created = timer.report("tanguan_create", cases)

    steps = lifecycle(people["owner"].id)

    profiler = cProfile.Profile() if profile else None
    with Timer() as timer, profiler or contextlib.nullcontext():
        for record_id in record_ids:
            version = 1  # what the form showed; the engine refuses a stale one
            for trigger, person, form in steps:
                with db.unit_of_work(org_id=org_id) as uow:
                    fire_transition(
                        uow.session,
                        record_id=record_id,
                        trigger=trigger,
                        actor=people[person],
                        form_data=form,
                        expected_version=version,
                        password_verified=trigger == "verify_effective",
                    )
                version += 1
    rate = timer.report("tanguan", 6 * cases)
    if profiler:
        profiler.dump_stats(profile)
        note(
            f"tanguan: profile of the transition loop written to {profile} (the figures include its overhead)"
        )

    with db.engine.connect() as connection:
        closed = connection.execute(
            text("SELECT count(*) FROM record WHERE state = 'closed' AND version = 7")
        ).scalar()
        signatures = connection.execute(text("SELECT count(*) FROM signature")).scalar()
        chain = verify_chain(connection, org_id=org_id)
    assert closed == cases and signatures == cases and chain.ok, (closed, signatures, chain)
    note(f"tanguan: {cases} closed, {chain.events_checked} audit events, {path.stat().st_size:,} bytes")
    db.dispose()
    return rate, created


# --- Shared SQLite setup for the peers (the same pragmas and BEGIN IMMEDIATE as engine.db) --------------


def sqlite_engine(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 15})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


# --- SpiffWorkflow -----------------------------------------------------------------------------------

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def nonconformity_bpmn() -> str:
    """A start event, the six user tasks in sequence, an end event."""
    nodes = ["start_event", *TRIGGERS, "end_event"]
    tasks = "\n    ".join(f'<bpmn:userTask id="{trigger}" name="{trigger}" />' for trigger in TRIGGERS)
    flows = "\n    ".join(
        f'<bpmn:sequenceFlow id="flow_{i}" sourceRef="{source}" targetRef="{target}" />'
        for i, (source, target) in enumerate(zip(nodes, nodes[1:], strict=False))
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" id="definitions" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="nonconformity" isExecutable="true">
    <bpmn:startEvent id="start_event" />
    {tasks}
    <bpmn:endEvent id="end_event" />
    {flows}
  </bpmn:process>
</bpmn:definitions>
"""


def run_spiff(path: Path, cases: int, *, in_memory: bool = False) -> float:
    """Each step reads the instance's JSON, deserializes it, completes the ready task, runs the engine
    steps, serializes and writes it back, in one transaction: what a request of a SpiffWorkflow-based
    system of record does. ``in_memory`` keeps every workflow object between steps and only writes."""
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from SpiffWorkflow.util.task import TaskState

    parser = SpiffBpmnParser()
    parser.add_bpmn_str(nonconformity_bpmn().encode(), filename="nonconformity.bpmn")
    spec = parser.get_spec("nonconformity")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    name = "spiffworkflow-in-memory" if in_memory else "spiffworkflow"

    engine = sqlite_engine(path)
    metadata = MetaData()
    instances = Table(
        "workflow_instance",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("serialization", Text, nullable=False),
        Column("updated_at", String(32), nullable=False),
    )
    metadata.create_all(engine)

    workflows: dict[int, BpmnWorkflow] = {}
    with engine.begin() as connection:
        for i in range(1, cases + 1):
            workflow = BpmnWorkflow(spec)
            workflow.do_engine_steps()  # start event → the first user task is ready
            connection.execute(
                insert(instances).values(
                    id=i, serialization=serializer.serialize_json(workflow), updated_at=now_iso()
                )
            )
            workflows[i] = workflow

    load = select(instances.c.serialization).where(instances.c.id == bindparam("instance_id"))
    steps = lifecycle(3)  # no users here: the owner's id only sizes the data
    with Timer() as timer:
        for instance_id in range(1, cases + 1):
            for trigger, _person, form in steps:
                with engine.begin() as connection:
                    if in_memory:
                        workflow = workflows[instance_id]
                    else:
                        stored = connection.execute(load, {"instance_id": instance_id}).scalar_one()
                        workflow = workflows[instance_id] = serializer.deserialize_json(stored)
                    task = workflow.get_next_task(state=TaskState.READY, manual=True)
                    if task is None or task.task_spec.name != trigger:
                        raise AssertionError(f"case {instance_id}: {trigger} is not the ready task ({task})")
                    task.data.update(form)
                    task.run()
                    workflow.do_engine_steps()
                    connection.execute(
                        update(instances)
                        .where(instances.c.id == instance_id)
                        .values(serialization=serializer.serialize_json(workflow), updated_at=now_iso())
                    )
    rate = timer.report(name, 6 * cases)

    assert all(workflow.is_completed() for workflow in workflows.values())
    with engine.connect() as connection:
        size = connection.execute(select(func.avg(func.length(instances.c.serialization)))).scalar()
    note(f"{name}: {cases} completed, {size:,.0f} chars of JSON per instance")
    engine.dispose()
    return rate


def run_spiff_in_memory(path: Path, cases: int) -> float:
    return run_spiff(path, cases, in_memory=True)


# --- transitions + SQLAlchemy Core -------------------------------------------------------------------


class Case:
    """The model transitions drives: bound once, its state set from the row at every step."""

    def __init__(self, state: str) -> None:
        self.state = state


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def run_bare(path: Path, cases: int) -> float:
    machine = Machine(
        model=None,
        states=STATES,
        transitions=[
            {"trigger": trigger, "source": source, "dest": dest}
            for trigger, source, dest in zip(TRIGGERS, STATES, STATES[1:], strict=False)
        ],
        initial="reported",
        auto_transitions=False,
    )
    engine = sqlite_engine(path)
    metadata = MetaData()
    records = Table(
        "record",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("state", String(40), nullable=False),
        Column("data", JSON, nullable=False),
        Column("version", Integer, nullable=False),
        Column("updated_at", String(32), nullable=False),
    )
    history = Table(
        "history",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("record_id", Integer, ForeignKey("record.id"), nullable=False, index=True),
        Column("trigger", String(40), nullable=False),
        Column("from_state", String(40), nullable=False),
        Column("to_state", String(40), nullable=False),
        Column("actor", String(40), nullable=False),
        Column("at", String(32), nullable=False),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(records),
            [
                {"id": i, "state": "reported", "data": REPORT, "version": 1, "updated_at": now_iso()}
                for i in range(1, cases + 1)
            ],
        )

    steps = lifecycle(3)
    case = Case("reported")
    machine.add_model(case, initial="reported")
    with Timer() as timer:
        for record_id in range(1, cases + 1):
            for trigger, person, form in steps:
                with engine.begin() as connection:
                    row = connection.execute(
                        select(records.c.state, records.c.data, records.c.version).where(
                            records.c.id == record_id
                        )
                    ).one()
                    case.state = row.state  # one bound model, as Tanguan keeps one per thread
                    case.trigger(trigger)
                    at = now_iso()
                    connection.execute(
                        update(records)
                        .where(records.c.id == record_id, records.c.version == row.version)
                        .values(
                            state=case.state,
                            data={**row.data, **form},
                            version=row.version + 1,
                            updated_at=at,
                        )
                    )
                    connection.execute(
                        insert(history).values(
                            record_id=record_id,
                            trigger=trigger,
                            from_state=row.state,
                            to_state=case.state,
                            actor=person,
                            at=at,
                        )
                    )
    rate = timer.report("bare-transitions", 6 * cases)

    with engine.connect() as connection:
        closed = connection.execute(
            select(func.count()).select_from(records).where(records.c.state == "closed")
        ).scalar()
        steps_logged = connection.execute(select(func.count()).select_from(history)).scalar()
    assert closed == cases and steps_logged == 6 * cases, (closed, steps_logged)
    note(f"bare-transitions: {cases} closed, {steps_logged} history rows")
    engine.dispose()
    return rate


# --- main ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="nonconformities taken through the lifecycle")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run all three this often; the best round counts"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="write cProfile stats of Tanguan's transition loop here"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the SQLite files go (default: temp)")
    args = parser.parse_args()
    if args.cases < 1 or args.rounds < 1:
        parser.error("--cases and --rounds must be at least 1")

    from SpiffWorkflow.version import __version__ as spiff_version

    note(f"cases={args.cases} rounds={args.rounds} SpiffWorkflow={spiff_version}")
    best: dict[str, float] = {}
    peers: list[tuple[str, Callable[[Path, int], Any]]] = [
        ("tanguan", run_tanguan),
        ("spiffworkflow", run_spiff),
        ("spiffworkflow-in-memory", run_spiff_in_memory),
        ("bare-transitions", run_bare),
    ]
    with tempfile.TemporaryDirectory(prefix="tanguan-bench-", dir=args.dir) as tmp:
        for round_no in range(1, args.rounds + 1):
            for name, run in peers:
                path = Path(tmp) / f"{name}-{round_no}.sqlite3"
                if name == "tanguan" and args.profile and round_no == 1:
                    result = run_tanguan(path, args.cases, profile=args.profile)
                else:
                    result = run(path, args.cases)
                if name == "tanguan":
                    result, created = result
                    best["tanguan_create"] = max(best.get("tanguan_create", 0.0), created)
                best[name] = max(best.get(name, 0.0), result)
                note(f"round {round_no}: {name} {result:.0f} transitions/s")

    note(
        "least CPU per step: "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in CPU_MS.items())
        + f"; tanguan_vs_spiffworkflow {CPU_MS['spiffworkflow'] / CPU_MS['tanguan']:.2f} x, "
        f"tanguan_vs_bare {CPU_MS['bare-transitions'] / CPU_MS['tanguan']:.2f} x (by CPU)"
    )
    for name in ("tanguan", "spiffworkflow", "spiffworkflow-in-memory", "bare-transitions"):
        print(f"{name}: {best[name]:.0f} transitions/s")
    print(f"tanguan_vs_spiffworkflow: {best['tanguan'] / best['spiffworkflow']:.2f} x")
    print(f"tanguan_vs_spiffworkflow_in_memory: {best['tanguan'] / best['spiffworkflow-in-memory']:.2f} x")
    print(f"tanguan_vs_bare: {best['tanguan'] / best['bare-transitions']:.2f} x")
    print(f"tanguan_create: {best['tanguan_create']:.0f} records/s")


if __name__ == "__main__":
    main()
