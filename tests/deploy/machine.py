"""A Debian machine under one directory, for following docs/production.md without touching this one.

The guide's `sh` blocks run in one bash session with every absolute path of the guide moved under the
directory (``Machine.on_machine``) and stand-ins first on the PATH for what needs root or the network:
`apt-get` and `useradd` (nothing to do), `runuser -u postgres -- psql` (psql on the test server as its
admin), `runuser -u tanguan` (the command itself, as this user), `install -o/-g` (without the owner),
`git clone` (a copy of this working tree, its deploy/ files moved under the directory too), `systemctl`
(`daemon-reload` runs `systemd-analyze verify` on the installed units; `start` runs a unit's own ExecStart
with its EnvironmentFile and WorkingDirectory, `stop` sends its KillSignal) and `nginx` (the sites
enabled under the directory, run by Debian's nginx on free ports).

Each stand-in is ``python -m tests.deploy.machine NAME ARGS…``; the machine's description travels in the
MACHINE environment variable as JSON."""

import configparser
import contextlib
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.deploy.site import deploy_site
from tests.nginx import nginx_conf

MOVED = (
    "/etc/tanguan", "/opt/tanguan", "/var/lib/tanguan", "/var/backups/tanguan", "/etc/systemd/system",
    "/etc/nginx", "/usr/local/bin", "/etc/ssl/certs/carbon.example.com.pem",
    "/etc/ssl/private/carbon.example.com.key",
)  # fmt: skip
STAND_INS = ("apt-get", "useradd", "runuser", "install", "git", "systemctl", "nginx")
GUIDE_PORTS = ("8001", "8002", "8003")
STOP_TIMEOUT_S = 60
FOLDERS = (
    "usr/local/bin", "etc/systemd/system", "etc/nginx/sites-available", "etc/nginx/sites-enabled",
    "etc/ssl/certs", "etc/ssl/private", "var/backups",
)  # fmt: skip


@dataclass(frozen=True)
class Machine:
    root: str
    repo: str  # the working tree `git clone` copies
    ports: list[int]  # the instances' ports, standing for 8001, 8002, 8003
    http_port: int
    https_port: int
    postgres_admin: str  # libpq URL of the test server's admin
    postgres_address: str  # host:port of the test server, standing for 127.0.0.1:5432

    @classmethod
    def from_env(cls) -> "Machine":
        return cls(**json.loads(os.environ["MACHINE"]))

    def env(self) -> dict[str, str]:
        shims = Path(self.root, "stand-ins")
        path = f"{shims}:{self.root}/usr/local/bin:{os.environ.get('PATH', '/usr/bin:/bin')}"
        return {**os.environ, "MACHINE": json.dumps(asdict(self)), "PATH": path}

    def on_machine(self, text: str) -> str:
        for path in MOVED:
            text = text.replace(path, self.root + path)
        for guide_port, port in zip(GUIDE_PORTS, self.ports, strict=True):
            text = re.sub(rf"\b{guide_port}\b", str(port), text)
        return text.replace("127.0.0.1:5432", self.postgres_address)

    def prepare(self) -> None:
        """The folders a Debian machine with nginx has, and the stand-ins."""
        for folder in FOLDERS:
            Path(self.root, folder).mkdir(parents=True, exist_ok=True)
        shims = Path(self.root, "stand-ins")
        shims.mkdir(parents=True, exist_ok=True)
        repo = Path(__file__).parents[2]
        for name in STAND_INS:
            shim = shims / name
            shim.write_text(
                f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(repo))} exec {shlex.quote(sys.executable)} "
                f'-m tests.deploy.machine {name} "$@"\n'
            )
            shim.chmod(0o755)

    def stop_all(self) -> None:
        for pid_file in sorted(Path(self.root, "run").glob("*.pid")):
            _stop(self, pid_file.stem)


def main(name: str, args: list[str]) -> int:
    machine = Machine.from_env()
    if name in ("apt-get", "useradd"):
        print(f"[machine] {name} {' '.join(args)}: done by the administrator, not in a test", file=sys.stderr)
        return 0
    if name == "runuser":
        return _as_user(machine, args)
    if name == "install":
        return _install(args)
    if name == "git":
        return _git(machine, args)
    if name == "systemctl":
        return _systemctl(machine, args)
    if name == "nginx":
        return _nginx(machine, args)
    raise SystemExit(f"[machine] no stand-in for {name}")


def _real(name: str) -> str:
    """The machine's own command, not its stand-in."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not p.endswith("stand-ins"))
    found = shutil.which(name, path=path)
    assert found, f"{name} is not installed"
    return found


def _as_user(machine: Machine, args: list[str]) -> int:
    user = args[args.index("-u") + 1] if "-u" in args else "root"
    command = args[args.index("-u") + 2 :] if "-u" in args else args
    if command and command[0] == "--":
        command = command[1:]
    if user == "postgres" and command[0] == "psql":
        command = ["psql", machine.postgres_admin, *command[1:]]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # the stand-in's own
    return subprocess.call(command, env=env)


def _install(args: list[str]) -> int:
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-o", "-g"):
            skip = True  # the owner and group exist only on the real machine
        else:
            kept.append(arg)
    return subprocess.call([_real("install"), *kept])


def _git(machine: Machine, args: list[str]) -> int:
    if args[0] == "clone":
        destination = Path(args[-1])
        listed = subprocess.run(
            [_real("git"), "-C", machine.repo, "ls-files", "-co", "--exclude-standard", "-z"],
            capture_output=True, check=True,
        ).stdout.decode().split("\0")  # fmt: skip
        for relative in filter(None, listed):
            source = Path(machine.repo, relative)
            if not source.is_file():
                continue  # deleted in the working tree
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            data = source.read_bytes()
            if relative.startswith("deploy/"):
                data = _deploy_file(machine, relative, data.decode()).encode()
            target.write_bytes(data)
            target.chmod(source.stat().st_mode & 0o777)
        return 0
    print(f"[machine] git {' '.join(args)}: the copy of the working tree is already current", file=sys.stderr)
    return 0


def _deploy_file(machine: Machine, relative: str, text: str) -> str:
    if relative == "deploy/nginx/tanguan.conf":  # the certificate's paths stay: moved below with the rest
        text = deploy_site(
            text, instance_ports=list(machine.ports), https_port=machine.https_port,
            http_port=machine.http_port, certificate=Path(MOVED[-2]), key=Path(MOVED[-1]),
        )  # fmt: skip
    return machine.on_machine(text)


def _systemctl(machine: Machine, args: list[str]) -> int:
    verb, units = args[0], [arg for arg in args[1:] if not arg.startswith("--")]
    if verb == "daemon-reload":
        return _verify_units(machine)
    if verb in ("stop", "restart"):
        running = [path.stem for path in Path(machine.root, "run").glob("*.pid")]
        for unit in units:
            for name in fnmatch.filter(running, unit.removesuffix(".service")):
                _stop(machine, name)
    if verb in ("start", "restart") or (verb == "enable" and "--now" in args):
        for unit in units:
            _start(machine, unit.removesuffix(".service"))
    if verb == "reload" and units == ["nginx"]:
        return _nginx(machine, ["-s", "reload"])
    return 0


def _verify_units(machine: Machine) -> int:
    """What systemd would say of the installed units (`systemd-analyze verify`): any word fails."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("[machine] systemd-analyze is not installed: units not verified", file=sys.stderr)
        return 0
    folder = Path(machine.root, "run", "units")
    folder.mkdir(parents=True, exist_ok=True)
    for unit in Path(machine.root, "etc/systemd/system").glob("*.service"):
        name = unit.name.replace("@.service", f"@{machine.ports[0]}.service")  # a template's instance
        (folder / name).write_text(unit.read_text())
    verified = subprocess.run(
        [analyze, "verify", *sorted(map(str, folder.glob("*.service")))], capture_output=True, text=True
    )
    said = (verified.stdout + verified.stderr).strip()
    if verified.returncode or said:
        print(f"[machine] systemd-analyze verify: {said}", file=sys.stderr)
        return 1
    return 0


def _unit(machine: Machine, name: str) -> tuple[configparser.SectionProxy, str]:
    template, _, instance = name.partition("@")
    file = Path(machine.root, "etc/systemd/system", f"{template}@.service" if instance else f"{name}.service")
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(file.read_text())
    return parser["Service"], instance


def _start(machine: Machine, name: str) -> None:
    if name == "nginx":
        _nginx(machine, [])
        return
    service, instance = _unit(machine, name)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # systemd's clean environment, plus the file
    for line in Path(service["EnvironmentFile"]).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    argv = shlex.split(service["ExecStart"].replace("%i", instance))
    run = Path(machine.root, "run")
    run.mkdir(exist_ok=True)
    with (run / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            argv, cwd=service.get("WorkingDirectory", "/"), env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    (run / f"{name}.pid").write_text(f"{process.pid} {service.get('KillSignal', 'SIGTERM')}")


def _stop(machine: Machine, name: str) -> None:
    pid_file = Path(machine.root, "run", f"{name}.pid")
    pid, kill_signal = pid_file.read_text().split()
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(pid), getattr(signal, kill_signal))
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(int(pid)):
        if time.monotonic() > deadline:
            os.kill(int(pid), signal.SIGKILL)
            deadline = time.monotonic() + STOP_TIMEOUT_S
        time.sleep(0.1)
    pid_file.unlink()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended; its parent stand-in is gone


def _nginx(machine: Machine, args: list[str]) -> int:
    """`nginx -t`, `nginx -s reload` and `systemctl reload nginx` with the sites enabled on the machine."""
    prefix = Path(machine.root, "nginx-prefix")
    prefix.mkdir(exist_ok=True)
    enabled = sorted(Path(machine.root, "etc/nginx/sites-enabled").iterdir())
    conf = nginx_conf("".join(site.read_text() for site in enabled), prefix)
    base = [_real("nginx"), "-p", str(prefix), "-c", str(conf)]
    if "-t" in args:
        return subprocess.call([*base, "-t"])
    pid_file = Path(machine.root, "run", "nginx.pid")
    pid_file.parent.mkdir(exist_ok=True)
    if pid_file.exists():
        return subprocess.call([*base, "-s", "reload"])
    with Path(machine.root, "run", "nginx.log").open("ab") as log:
        process = subprocess.Popen(
            base, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    pid_file.write_text(f"{process.pid} SIGTERM")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
