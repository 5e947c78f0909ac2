"""The boundary between core and its two front ends: the CLI and the GUI get frozen read models.

A database row read after its session closed fails on any relation it did not load (that crashed
a listing once). So rows never leave core, no CLI or GUI module imports the ORM models, and every
relationship refuses to load implicitly, so a forgotten eager load fails in tests, not for users.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError

import postdesk
from postdesk.core import credentials, domains, domainsettings, ips, services
from postdesk.core.services import ServiceForm
from postdesk.core.store.models import (
    Base,
    DedicatedDomain,
    DkimKey,
    DnsCheck,
    SmtpUser,
    utcnow,
)
from support.workspace import add_verified_domain

PACKAGE = Path(postdesk.__file__).parent
MODELS = "postdesk.core.store.models"
ORM_NAMES = {mapper.class_.__name__ for mapper in Base.registry.mappers}
# The workflows the CLI and the GUI call with a Store.
WORKFLOWS = (
    "credentials",
    "domains",
    "domainsettings",
    "domainview",
    "ips",
    "sending",
    "services",
    "smtpsettings",
    "tracking",
    "usage",
)


def _imported_modules(tree: ast.AST) -> set[str]:
    """Every module an AST imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("front_end", ["cli", "gui"])
def test_front_ends_never_import_the_orm_models(front_end: str) -> None:
    files = sorted((PACKAGE / front_end).rglob("*.py"))
    assert files, f"no modules found under postdesk.{front_end}"
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in files
        if MODELS in _imported_modules(ast.parse(path.read_text(), str(path)))
    ]
    assert offenders == []


def test_the_import_check_sees_function_level_imports() -> None:
    tree = ast.parse("def f():\n    from postdesk.core.store import models\n    return models\n")
    assert MODELS in _imported_modules(tree)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflows_called_with_a_store_never_return_rows(name: str) -> None:
    module = importlib.import_module(f"postdesk.core.{name}")
    leaking = []
    for fname, fn in inspect.getmembers(module, inspect.isfunction):
        if fname.startswith("_") or fn.__module__ != module.__name__:
            continue
        params = list(inspect.signature(fn).parameters)
        if not params or params[0] != "store":
            continue  # helpers taking a Session stay inside core's transactions
        returned = str(inspect.signature(fn).return_annotation)
        words = set(re.findall(r"\w+", returned))
        if words & ORM_NAMES or returned == str(inspect.Signature.empty):
            leaking.append(f"{fname} -> {returned}")
    assert leaking == []


def test_every_relationship_refuses_to_load_implicitly() -> None:
    lazy = {
        f"{mapper.class_.__name__}.{rel.key}": rel.lazy
        for mapper in Base.registry.mappers
        for rel in mapper.relationships
    }
    assert lazy, "the models have relationships"
    assert {key: value for key, value in lazy.items() if value != "raise"} == {}


def test_a_relation_read_without_loading_it_fails_loudly(store) -> None:
    add_verified_domain(store, "shop.example")
    with store.session() as s:
        domain = s.scalars(select(DedicatedDomain)).one()
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            _ = domain.service
    with pytest.raises(InvalidRequestError):
        _ = domain.records  # and after the session, too


def _assert_frozen_views(values: list[object]) -> None:
    assert values, "the workspace has data for this call"
    for value in values:
        assert dataclasses.is_dataclass(value) and not isinstance(value, type), value
        assert type(value).__dataclass_params__.frozen, type(value).__name__  # type: ignore[attr-defined]
        assert sa_inspect(value, raiseerr=False) is None, "an ORM row, not a read model"
        first = dataclasses.fields(value)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, first, None)


def test_core_hands_out_frozen_read_models(store, secret_service) -> None:
    service = services.add_service(
        store,
        ServiceForm("Mailer", "smtp.mailer.test", 587, "starttls", "u", password="pw-1234567"),
    )
    add_verified_domain(store, "shop.example", service.id)
    with store.session() as s:
        domain = s.scalars(select(DedicatedDomain)).one()
        s.add(
            DkimKey(domain_id=domain.id, selector="s1", bits=2048, public_key="x", secret_ref="r")
        )
    credentials.create_smtp_user(store, "shop.example", "shop")
    added_ip = ips.add_ip(store, "203.0.113.25", "main")

    _assert_frozen_views([service, added_ip])
    _assert_frozen_views(services.list_services(store))
    _assert_frozen_views([services.get_service(store, "Mailer")])
    listed = domains.list_domains(store)
    _assert_frozen_views(listed)
    assert [(d.name, d.service) for d in listed] == [("shop.example", "Mailer")]
    users = credentials.list_smtp_users(store, "shop.example")
    _assert_frozen_views(users)
    assert [u.username for u in users] == ["shop@shop.example"]
    _assert_frozen_views(ips.list_ips(store))
    _assert_frozen_views(domainsettings.dkim_keys(store, "shop.example"))


def test_added_domain_and_its_history_are_read_models(store, secret_service, monkeypatch) -> None:
    async def nothing_published(name: str) -> tuple[None, None]:
        return None, None  # the public DNS is not asked in tests

    monkeypatch.setattr(domains, "published_policies", nothing_published)
    services.add_service(
        store,
        ServiceForm("Mailer", "smtp.mailer.test", 587, "starttls", "u", password="pw-1234567"),
    )
    added = asyncio.run(domains.add_domain(store, "news.example"))
    _assert_frozen_views([added])
    assert (added.name, added.service, added.status) == ("news.example", "Mailer", "pending")
    new_key = asyncio.run(domainsettings.generate_new_key(store, "news.example"))
    _assert_frozen_views([new_key])
    assert new_key.state == "pending"
    with store.session() as s:
        domain = s.scalars(select(DedicatedDomain)).one()
        s.add(DnsCheck(domain_id=domain.id, checked_at=utcnow(), status="failing", report={}))
    _assert_frozen_views(domains.check_history(store, "news.example"))
    domains.remove_domain(store, "news.example")  # cascades through every loaded relation
    assert domains.list_domains(store) == []
    with store.session() as s:
        assert s.scalars(select(SmtpUser)).all() == []
