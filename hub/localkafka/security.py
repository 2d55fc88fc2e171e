"""Authentication and ACLs of the local broker, and the tool that applies ACLs anywhere.

The local broker (``mchub kafka up``, ``mchub demo``) listens with SASL/SCRAM-SHA-512
only and authorises every request with KRaft's ``StandardAuthorizer``
(``allow.everyone.if.no.acl.found=false``): a client without a principal can do nothing.
Its principals' passwords are random, kept in ``credentials.json`` of the cluster
directory (mode 0600; what :meth:`hub.settings.Settings.kafka_security` reads), and
survive restarts with the broker's metadata, which holds the SCRAM credentials and ACLs.

Kafka's Python client has no API for SCRAM credentials or ACLs, so both go through
Kafka's own Java Admin client: ``SecurityAdmin.java`` (package data), compiled once
against the broker's jars into the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from hub.authz import IssuerRegistry
from hub.errors import ConfigurationError
from hub.resources import package_path
from hub.settings import (
    ADMIN_PRINCIPAL,
    CONTROLLER_PRINCIPAL,
    GATEWAY_PRINCIPAL,
    HUB_PRINCIPAL,
    KAFKA_VERSION,
    Settings,
    read_kafka_credentials,
)

MECHANISM: Final = "SCRAM-SHA-512"
#: the principals every authenticated local cluster has from its first start
BUILT_IN: Final = (CONTROLLER_PRINCIPAL, ADMIN_PRINCIPAL, HUB_PRINCIPAL, GATEWAY_PRINCIPAL)
_SCRAM_LOGIN: Final = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PLAIN_LOGIN: Final = "org.apache.kafka.common.security.plain.PlainLoginModule"


# -- the credentials file --------------------------------------------------------------


def write_credentials(path: Path, data: dict[str, Any]) -> None:
    """Replace the credentials file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
    os.chmod(temp, 0o600)
    os.replace(temp, path)


def ensure_passwords(path: Path, bootstrap: str, principals: Iterable[str]) -> dict[str, str]:
    """The passwords of ``principals`` (new random ones for those without), the file
    updated to name ``bootstrap``; returns every password the file holds."""
    data = read_kafka_credentials(path)
    passwords: dict[str, str] = dict(data.get("passwords") or {})
    changed = data.get("bootstrap") != bootstrap or data.get("mechanism") != MECHANISM
    for principal in principals:
        if principal not in passwords:
            passwords[principal] = secrets.token_urlsafe(24)
            changed = True
    if changed:
        write_credentials(path, {"bootstrap": bootstrap, "mechanism": MECHANISM,
                                 "passwords": passwords})
    return passwords


# -- the broker's configuration ---------------------------------------------------------


def listener_properties(
    port: int, controller_port: int, passwords: dict[str, str]
) -> dict[str, str]:
    """``server.properties`` entries of an authenticated node: SASL/SCRAM for clients and
    between brokers, SASL/PLAIN (a password only the broker knows) for the controllers."""
    admin = passwords[ADMIN_PRINCIPAL]
    controller = passwords[CONTROLLER_PRINCIPAL]
    return {
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config":
            f'{_SCRAM_LOGIN} required username="{ADMIN_PRINCIPAL}" password="{admin}";',
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config":
            f'{_PLAIN_LOGIN} required username="{CONTROLLER_PRINCIPAL}" password="{controller}" '
            f'user_{CONTROLLER_PRINCIPAL}="{controller}";',
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_PRINCIPAL};User:{CONTROLLER_PRINCIPAL}",
    }


def format_scram_arguments(passwords: dict[str, str]) -> list[str]:
    """``kafka-storage format`` arguments that create the built-in SCRAM principals with
    the metadata (KIP-900), so the broker can authenticate before any admin call."""
    return [
        f"--add-scram={MECHANISM}=[name={name},password={passwords[name]}]"
        for name in (ADMIN_PRINCIPAL, HUB_PRINCIPAL, GATEWAY_PRINCIPAL)
    ]


def client_security(passwords: dict[str, str], user: str = ADMIN_PRINCIPAL) -> dict[str, Any]:
    """aiokafka keyword arguments of a client of the local broker authenticated as ``user``."""
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": MECHANISM,
            "sasl_plain_username": user, "sasl_plain_password": passwords[user]}


# -- Kafka's own Admin client -------------------------------------------------------------


def _tool_classes(libs: Path) -> Path:
    """The compiled ``SecurityAdmin`` class beside the broker's jars (compiled on first use)."""
    source = package_path("hub.localkafka", "SecurityAdmin.java")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    classes = libs.parent / "mchub-tools" / digest
    if (classes / "SecurityAdmin.class").exists():
        return classes
    if shutil.which("javac") is None:
        raise ConfigurationError("javac not found on PATH: install a Java 17+ JDK")
    staging = classes.with_name(digest + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    done = subprocess.run(["javac", "-nowarn", "-cp", f"{libs}/*", "-d", str(staging), str(source)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigurationError(f"compiling the Kafka security tool failed: {done.stderr[-800:]}")
    shutil.rmtree(classes, ignore_errors=True)
    staging.rename(classes)
    return classes


def java_client_properties(settings: Settings) -> dict[str, str]:
    """Java Admin client properties equivalent to ``settings``' Kafka clients."""
    security = settings.kafka_security()
    props = {"bootstrap.servers": settings.bootstrap,
             "security.protocol": security["security_protocol"],
             "request.timeout.ms": "20000", "default.api.timeout.ms": "30000"}
    if "sasl_mechanism" in security:
        module = _PLAIN_LOGIN if security["sasl_mechanism"] == "PLAIN" else _SCRAM_LOGIN
        props["sasl.mechanism"] = security["sasl_mechanism"]
        props["sasl.jaas.config"] = (
            f'{module} required username="{security["sasl_plain_username"]}" '
            f'password="{security["sasl_plain_password"]}";')
    if settings.kafka.ssl_cafile is not None:
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = str(settings.kafka.ssl_cafile)
    return props


@contextlib.contextmanager
def _properties_file(props: dict[str, str]) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix="mchub-admin-", suffix=".properties")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for key, value in props.items():
                out.write(f"{key}={value}\n")
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def run_security_tool(settings: Settings, commands: Iterable[str], *,
                      libs: Path | None = None) -> list[str]:
    """Run ``commands`` (``scram``, ``acl`` … ``apply``, ``list``, ``users``) with Kafka's
    Admin client as ``settings``' principal; returns the tool's answer lines."""
    from hub.localkafka import kafka_command_files, resolve_distribution

    libs = libs or resolve_distribution(KAFKA_VERSION, settings.cache_dir)
    classes = _tool_classes(libs)
    log_file = Path(tempfile.gettempdir()) / "mchub-security-admin.log"
    with _properties_file(java_client_properties(settings)) as props:
        done = subprocess.run(
            ["java", "-Xmx256m", f"-Dlog4j2.configurationFile={kafka_command_files()[1]}",
             f"-Dmchub.log.file={log_file}", "-cp", f"{libs}/*:{classes}", "SecurityAdmin",
             str(props)],
            input="".join(f"{c}\n" for c in commands), capture_output=True, text=True,
            check=False, timeout=180)
    lines = done.stdout.splitlines()
    errors = [line for line in lines if line.startswith("error ")]
    if done.returncode != 0 or errors:
        detail = errors[0][6:] if errors else (done.stderr.strip()[-500:] or "no output")
        raise ConfigurationError(f"Kafka refused the security change: {detail}")
    return lines


def apply_principals(settings: Settings, passwords: dict[str, str],
                     acls: Iterable[Any]) -> list[str]:
    """Create or update SCRAM credentials (``passwords``: principal -> password) and add
    ``acls`` (:class:`hub.principals.Acl`), as the admin principal."""
    commands = [f"scram {user} {password}" for user, password in sorted(passwords.items())]
    commands += [acl.line() for acl in acls]
    return run_security_tool(settings, [*commands, "apply"])


# -- provisioning: principals, ACLs and source topics of a registry -----------------------


def provision(settings: Settings, registry: IssuerRegistry | None,
              sources: Iterable[str] | None = None, *,
              passwords: dict[str, str] | None = None) -> list[str]:
    """Give the registry's sources (default: every source with entitlements) a principal
    with a password — ``passwords``, else the local cluster's credentials file (new ones
    made and kept there) — apply every ACL of the plan and create each source's own
    topics; ``settings`` authenticate as the admin principal. Returns the sources."""
    import asyncio

    from hub.principals import acl_plan, check_source_id, registry_sources, source_feeds
    from hub.topics import apply_topics, source_topic_spec

    chosen = list(sources if sources is not None else
                  (registry_sources(registry) if registry is not None else []))
    for source_id in chosen:
        check_source_id(source_id)
    if passwords is None:
        passwords = ensure_passwords(settings.credentials_file(), settings.bootstrap, chosen)
    apply_principals(settings, {s: passwords[s] for s in chosen},
                     acl_plan(settings, registry, chosen))
    if registry is not None and chosen:
        specs = [source_topic_spec(feed, s) for s in chosen for feed in source_feeds(registry, s)]
        asyncio.run(apply_topics(settings, specs))
    return chosen
