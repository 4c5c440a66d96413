"""RELIABILITY T32 as deployed (issue 15, item 2): three `tanguan serve` instances and `tanguan scheduler`
on one PostgreSQL database behind Debian's nginx running deploy/nginx/tanguan.conf over TLS, driven with
httpx through the proxy and, where a step must land on a given instance, straight at that instance.

nginx connects from 127.0.0.2 (``proxy_bind``: a proxy on "another machine", named in
TANGUAN_FORWARDED_ALLOW_IPS as the env file says) and the client from 127.0.0.5, so what the app takes for
the client's address can be told from the proxy's and from a forged X-Forwarded-For.

Evidence: in an S3-compatible bucket (moto in server mode, started by the test) that every instance names
in TANGUAN_STORAGE_URL, each instance with a data directory of its own, as instances on several machines
are; TANGUAN_TEST_STORAGE_URL=shared-directory runs them on one shared data directory instead, as
instances on one machine may."""

import hashlib
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench.t25 import wait_for
from demo.seed import DEMO_PASSWORD
from tests.conftest import PostgresDatabase
from tests.deploy.site import DEPLOY, deploy_site
from tests.nginx import nginx_conf, running_nginx, self_signed_certificate, sign_in
from tests.serving import (
    TANGUAN,
    free_port,
    run_tanguan,
    signature_statuses,
    start_serve,
    stop_process,
    tanguan_env,
)
from tests.web.conftest import csrf_of

INSTANCES = 3
PROXY_ADDRESS = "127.0.0.2"
CLIENT_ADDRESS = "127.0.0.5"
FORGED_ADDRESS = "198.51.100.66"
KEY = secrets.token_urlsafe(48)
STAFF = "staff@xiangfeng.example"
SIGNER = "carbon@xiangfeng.example"
PERIOD = "2026-10"
READY_TIMEOUT_S = 600  # generous: six processes start at once on a shared 2-core machine


@dataclass
class Figures:
    cross_instance_refusals: int = 0
    signature_verdicts_differing: int = 0
    failed_downloads: int = 0
    keyless_refusals: int = 0
    posts_through_proxy: int = 0
    posts_across_instances: int = 0
    downloads: int = 0
    notes: list[str] = field(default_factory=list)

    def answered(self, response: httpx.Response, *, across: bool) -> httpx.Response:
        """A form post: a 403 is a refusal of a token or origin another instance issued."""
        if across:
            self.posts_across_instances += 1
        else:
            self.posts_through_proxy += 1
        if response.status_code == 403:
            self.cross_instance_refusals += 1
            self.notes.append(f"403 {response.request.url.path}: {response.text[:200]}")
        return response


@dataclass
class Deployment:
    database_url: str
    proxy: str  # https://127.0.0.1:PORT
    instances: list[str]  # http://127.0.0.1:PORT, straight at each instance
    env: dict[str, str]
    scheduler_log: Path
    scheduler: subprocess.Popen


def instance_env(root: Path, n: int, database_url: str, storage: str | None) -> dict[str, str]:
    """The env file of deploy/tanguan.env.example, as this test's instances need it."""
    data_dir = root / (f"data-{n}" if storage else "data")
    settings = {
        "TANGUAN_DATABASE_URL": database_url,
        "TANGUAN_SECRET_KEY": KEY,
        "TANGUAN_FORWARDED_ALLOW_IPS": PROXY_ADDRESS,
        "TANGUAN_ARGON2_TIME_COST": os.environ.get("TANGUAN_ARGON2_TIME_COST", "3"),
        "TANGUAN_ARGON2_MEMORY_KIB": os.environ.get("TANGUAN_ARGON2_MEMORY_KIB", "65536"),
        "TANGUAN_ARGON2_PARALLELISM": os.environ.get("TANGUAN_ARGON2_PARALLELISM", "4"),
    }
    if storage:
        settings["TANGUAN_STORAGE_URL"] = storage
    return tanguan_env(data_dir, **settings)


@contextmanager
def deployment(root: Path, storage: str | None) -> Iterator[Deployment]:
    database = PostgresDatabase(prefix="t32")
    try:
        with ExitStack() as stack:
            yield _start(root, database.url, storage, stack)
    finally:
        database.drop()


def _start(root: Path, database_url: str, storage: str | None, stack: ExitStack) -> Deployment:
    envs = [instance_env(root, n, database_url, storage) for n in range(INSTANCES)]
    run_tanguan("demo", env=envs[0])
    servers = [start_serve(env, root / f"instance-{n}.log") for n, env in enumerate(envs)]
    for server in servers:
        stack.callback(server.stop)
    for server in servers:  # readiness by condition: /healthz answers, or the process has exited
        assert server.wait_healthy_or_exit(READY_TIMEOUT_S), f"an instance exited:\n{server.log()}"
    scheduler_log = root / "scheduler.log"
    with scheduler_log.open("w") as log:
        scheduler = subprocess.Popen(
            [TANGUAN, "scheduler"], env=envs[0], stdout=log, stderr=subprocess.STDOUT
        )
    stack.callback(stop_process, scheduler)
    wait_for(
        lambda: "scheduler: this instance leads" in scheduler_log.read_text() or scheduler.poll() is not None,
        seconds=READY_TIMEOUT_S,
        what="the scheduler's lead",
    )
    assert scheduler.poll() is None, scheduler_log.read_text()
    certificate, key = self_signed_certificate(root)
    https_port, http_port = free_port(), free_port()
    site = deploy_site(
        (DEPLOY / "nginx" / "tanguan.conf").read_text(),
        instance_ports=[int(server.base_url.rsplit(":", 1)[1]) for server in servers],
        https_port=https_port,
        http_port=http_port,
        certificate=certificate,
        key=key,
    )
    proxy = f"https://127.0.0.1:{https_port}"
    stack.enter_context(running_nginx(nginx_conf(site, root, proxy_bind=PROXY_ADDRESS), proxy + "/ping"))
    return Deployment(
        database_url, proxy, [server.base_url for server in servers], envs[0], scheduler_log, scheduler
    )


def scalar(database_url: str, sql: str, **params: object) -> object:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def browser(deployed: Deployment) -> httpx.Client:
    """A browser at the proxy, connecting from the client's own address."""
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS, verify=False)
    return httpx.Client(base_url=deployed.proxy, transport=transport, timeout=120)


def direct(base_url: str, session_token: str) -> httpx.Client:
    """Straight at one instance over plain HTTP, with the session the proxy's sign-in started."""
    return httpx.Client(base_url=base_url, cookies={"tanguan_session": session_token}, timeout=120)


def signed_in(client: httpx.Client, deployed: Deployment, email: str) -> str:
    """Sign in through the proxy with a forged X-Forwarded-For; the session token."""
    answer = sign_in(client, deployed.proxy, email, **{"X-Forwarded-For": FORGED_ADDRESS})
    assert answer.status_code == 303, answer.text[:500]
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-tanguan_session=") and "Secure" in cookie
    return answer.cookies["__Host-tanguan_session"]


def post_form(
    client: httpx.Client, figures: Figures | None, page: str, action: str, data: dict, *, to=None
) -> httpx.Response:
    """Fetch the form page with ``client`` and post it with ``to`` (another instance) or through the same;
    counted in ``figures`` unless None (a post meant to be refused)."""
    form = client.get(page)
    assert form.status_code == 200, (page, form.status_code, form.text[:300])
    version = re.search(r'name="version" value="(\d+)"', form.text)
    data = {"csrf_token": csrf_of(form.text), **({"version": version.group(1)} if version else {}), **data}
    poster = to or client
    headers = {"Origin": str(client.base_url).rstrip("/")} if to is None else {}
    answer = poster.post(action, data=data, headers=headers)
    return figures.answered(answer, across=to is not None) if figures else answer


def test_three_instances_and_the_scheduler_behind_nginx_agree(tmp_path, capsys, s3_bucket):
    figures = Figures()
    storage = None if os.environ.get("TANGUAN_TEST_STORAGE_URL") == "shared-directory" else s3_bucket.url
    with (
        deployment(tmp_path, storage) as deployed,
        browser(deployed) as staff_browser,
        browser(deployed) as signer,
    ):
        # Sign-in through the proxy: the app sees the client's address, not the forged one nor the proxy's.
        staff_token = signed_in(staff_browser, deployed, STAFF)
        last_ip = "SELECT ip FROM login_attempt ORDER BY id DESC LIMIT 1"
        assert scalar(deployed.database_url, last_ip) == CLIENT_ADDRESS
        assert staff_browser.get("/").headers["strict-transport-security"].startswith("max-age=31536000")

        # A form fetched from instance 0 and submitted to instance 1 (CSRF valid across instances), and the
        # same through the proxy, which spreads consecutive requests over the instances.
        a, b, c = (direct(url, staff_token) for url in deployed.instances)
        opened = post_form(
            a, figures, "/records/carbon_data_batch/new", "/records/carbon_data_batch",
            {"title": "T32 跨实例批次", "period": PERIOD}, to=b,
        )  # fmt: skip
        assert opened.status_code == 303, opened.text[:500]
        for n in range(INSTANCES):
            through = post_form(
                staff_browser, figures, "/records/carbon_data_batch/new", "/records/carbon_data_batch",
                {"title": f"T32 代理批次 {n + 1}", "period": PERIOD},
            )  # fmt: skip
            assert through.status_code == 303, through.text[:500]
        batch_id = int(opened.headers["location"].rsplit("/", 1)[1])

        # A transition with an e-signature through the proxy: a wrong password is refused, the right one
        # (re-authentication) signs.
        signer_token = signed_in(signer, deployed, SIGNER)
        verify = f"/r/{batch_id}/transition/verify"
        checks = {"checks": ["completeness", "meter_calibration", "cross_check"], "result": "passed"}
        wrong = post_form(signer, None, verify, verify, {**checks, "signature_password": "not-it-2026"})
        assert wrong.status_code == 403 and "签名密码不正确" in wrong.text
        signed = post_form(signer, figures, verify, verify, {**checks, "signature_password": DEMO_PASSWORD})
        assert signed.status_code == 303, signed.text[:500]
        state = "SELECT state FROM record WHERE id = :id"
        assert scalar(deployed.database_url, state, id=batch_id) == "verified"

        # The same signatures verified on each instance: every instance reads every seal alike.
        signed_ids = [batch_id, *_demo_signed_records(deployed.database_url)]
        verdicts = []
        for url in deployed.instances:
            with direct(url, signer_token) as on_instance:
                verdicts.append(signature_statuses(on_instance, url, signed_ids))
        assert verdicts[0] and "valid" in verdicts[0]
        figures.signature_verdicts_differing = sum(
            1 for on_each in zip(*verdicts, strict=True) if len(set(on_each)) > 1
        )

        # Evidence uploaded on instance 0, downloaded from the others and through the proxy, hash equal.
        content = b"%PDF-1.4\n% T32 " + secrets.token_hex(16).encode() + b"\n%%EOF\n"
        page = a.get("/emissions/production?year=2026")
        upload = a.post(
            "/emissions/production",
            data={"csrf_token": csrf_of(page.text), "product_id": str(_product_id(deployed.database_url)),
                  "period": "2026-02", "quantity": "120000", "output_value_10k_cny": "4100"},
            files={"evidence": ("二月产量统计表.pdf", content)},
        )  # fmt: skip
        assert figures.answered(upload, across=False).status_code == 303, upload.text[:500]
        sha = hashlib.sha256(content).hexdigest()
        evidence_id = scalar(deployed.database_url, "SELECT id FROM evidence_file WHERE sha256 = :s", s=sha)
        if storage:  # in the shared bucket, on no instance's disk
            assert s3_bucket.client().head_object(Bucket=s3_bucket.name, Key=s3_bucket.key(sha))[
                "ContentLength"
            ]
            assert not list(tmp_path.glob(f"data-*/evidence/*/{sha}"))
        assert evidence_id is not None
        for client in (b, c, staff_browser, staff_browser, staff_browser):
            download = client.get(f"/evidence/{evidence_id}")
            figures.downloads += 1
            if download.status_code != 200 or hashlib.sha256(download.content).hexdigest() != sha:
                figures.failed_downloads += 1
                figures.notes.append(f"download {download.request.url}: {download.status_code}")

        # An instance started without the installation key, outside the demo, refuses with one line.
        keyless = {k: v for k, v in deployed.env.items() if k != "TANGUAN_SECRET_KEY"}
        refused = start_serve(keyless, tmp_path / "keyless.log")
        try:
            assert not refused.wait_healthy_or_exit(READY_TIMEOUT_S), "an instance without the key started"
        finally:
            refused.stop()
        lines = [line for line in refused.log().splitlines() if line.strip()]
        if refused.process.returncode == 2 and len(lines) == 1 and "TANGUAN_SECRET_KEY" in lines[0]:
            figures.keyless_refusals += 1
        else:
            figures.notes.append(f"keyless: exit {refused.process.returncode}: {lines}")

        assert deployed.scheduler.poll() is None, deployed.scheduler_log.read_text()
        assert "scheduler: this instance leads" in deployed.scheduler_log.read_text()
        for client in (a, b, c):
            client.close()

    with capsys.disabled():
        print(
            f"\nT32 instances: {INSTANCES}, form posts through the proxy: {figures.posts_through_proxy},"
            f" across instances: {figures.posts_across_instances}, signatures compared:"
            f" {len(verdicts[0])} × {INSTANCES}, downloads: {figures.downloads}"
            f"\ncross_instance_refusals: {figures.cross_instance_refusals}"
            f"\nsignature_verdicts_differing: {figures.signature_verdicts_differing}"
            f"\nfailed_downloads: {figures.failed_downloads}"
            f"\nkeyless_instance_refused_with_one_line: {figures.keyless_refusals}/1"
        )
    assert figures.cross_instance_refusals == 0, figures.notes
    assert figures.signature_verdicts_differing == 0, verdicts
    assert figures.failed_downloads == 0, figures.notes
    assert figures.keyless_refusals == 1, figures.notes


def _demo_signed_records(database_url: str) -> list[int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT DISTINCT record_id FROM signature ORDER BY record_id"))
            return [row[0] for row in rows][:8]
    finally:
        engine.dispose()


def _product_id(database_url: str) -> int:
    product = scalar(database_url, "SELECT id FROM product WHERE code = 'CLK' ORDER BY id LIMIT 1")
    assert isinstance(product, int)
    return product
