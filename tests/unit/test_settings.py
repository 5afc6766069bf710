"""``revenue.settings`` is the one place the ``REVENUE_*`` variables are declared and read:
every module is read with ``ast`` and may not spell a variable's name in code; every name
the project mentions is declared; ``revenue settings`` prints them all."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from revenue import settings
from revenue.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("revenue", "flows", "blocks", "cli")
"""Packages that may not name a ``REVENUE_*`` variable at all (``revenue/settings.py`` aside)."""
HELPERS = ("testkit", "bench")
"""Packages that pass variables on to child processes: they may set them and filter them by
prefix, never read one."""
VARIABLE = re.compile(r"REVENUE_[A-Z0-9_]*[A-Z0-9]")
MENTIONED = re.compile(r"\bREVENUE_[A-Z0-9_]*[A-Z0-9]\b")
READERS = ("get", "getenv", "pop", "setdefault")


def _strings(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _names_a_variable(node: ast.AST) -> bool:
    """A string that is a variable's name (or, in an f-string, begins one)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(VARIABLE.fullmatch(node.value))
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        return isinstance(first, ast.Constant) and str(first.value).startswith(settings.PREFIX)
    return False


def _label(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def names_in_code(path: Path) -> list[str]:
    """Where ``path`` spells a ``REVENUE_*`` name, or the prefix, as a value (not in prose)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        is_prefix = isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("REVENUE_")
        if _names_a_variable(node) or (is_prefix and node.value.endswith("_")):
            found.append(f"{_label(path)}:{node.lineno}")
    return sorted(set(found))


def reads(path: Path) -> list[str]:
    """Where ``path`` reads a ``REVENUE_*`` variable: ``x.get("REVENUE_...")``,
    ``os.getenv(...)``, ``environ["REVENUE_..."]``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        key: ast.AST | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in READERS:
            key = node.args[0] if node.args else None
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            key = node.slice
        if key is not None and _names_a_variable(key):
            found.append(f"{_label(path)}:{node.lineno}")
    return found


def modules(packages: tuple[str, ...]) -> list[Path]:
    return [p for package in packages for p in sorted((ROOT / package).rglob("*.py"))]


def test_no_module_but_the_settings_names_a_revenue_variable():
    own = ROOT / "revenue" / "settings.py"
    breaches = [hit for path in modules(SHIPPED) if path != own for hit in names_in_code(path)]
    breaches += [hit for path in modules(HELPERS) for hit in reads(path)]
    assert not breaches, "read or name these through revenue.settings:\n" + "\n".join(breaches)


def test_the_check_sees_a_read(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import os\n"
        "a = os.environ.get('REVENUE_HOME')\n"
        "b = os.environ['REVENUE_DEBUG']\n"
        "c = os.getenv(f'REVENUE_{a}')\n"
        "d = {'REVENUE_HOME': 'x'}\n"
    )
    assert len(names_in_code(module)) == 4
    assert len(reads(module)) == 3


def test_every_variable_the_project_mentions_is_declared():
    declared = {s.name for s in settings.SETTINGS}
    mentioned: dict[str, str] = {}
    for path in modules(SHIPPED + HELPERS + ("tests", "scripts")):
        for node in _strings(ast.parse(path.read_text(), str(path))):
            for name in MENTIONED.findall(node.value):
                mentioned.setdefault(name, str(path.relative_to(ROOT)))
    for name in ("prefect.yaml", "alerts.yaml", "Makefile"):
        for found in MENTIONED.findall((ROOT / name).read_text()):
            mentioned.setdefault(found, name)
    undeclared = {name: where for name, where in mentioned.items() if name not in declared}
    assert not undeclared, f"declare these in revenue/settings.py: {undeclared}"


def test_each_setting_is_declared_once_with_a_description():
    names = [s.name for s in settings.SETTINGS]
    assert len(names) == len(set(names))
    assert all(VARIABLE.fullmatch(n) for n in names)
    assert all(s.description and s.default_text for s in settings.SETTINGS)


def _assert_is_the_table(text: str) -> None:
    lines = text.strip().splitlines()
    assert lines[0].startswith("| variable | scope | default |")
    for setting in settings.SETTINGS:
        [row] = [line for line in lines if f"`{setting.name}`" in line]
        assert setting.default_text in row and setting.description in row, row


def test_revenue_settings_prints_the_table(capsys):
    from cli.main import main

    assert main(["settings"]) == 0
    _assert_is_the_table(capsys.readouterr().out)


def test_python_m_revenue_settings_prints_the_table():
    result = subprocess.run(
        [sys.executable, "-m", "revenue.settings"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    _assert_is_the_table(result.stdout)


def test_the_settings_import_without_prefect():
    probe = "import sys, revenue.settings; print(sorted(m for m in sys.modules if m.startswith('prefect')))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("setting", "raw", "message"),
    [
        (settings.STATUS_WEEKS, "0", "REVENUE_STATUS_WEEKS must be a number of weeks from 1 to 520, not '0'"),
        (settings.HEAL, "maybe", "REVENUE_HEAL must be true or false, not 'maybe'"),
        (settings.HEAL_HORIZON_DAYS, "0", "REVENUE_HEAL_HORIZON_DAYS must be a whole number from 1 to 3660"),
        (settings.ALERT_DEADLINE, "00:00:05", "REVENUE_ALERT_DEADLINE: must be at least 00:00:10"),
        (settings.ALERT_WATCHER_SILENCE, "5s", "REVENUE_ALERT_WATCHER_SILENCE must be at least 10 s"),
        (settings.LANDING_LEASE_SECONDS, "soon", "REVENUE_LANDING_LEASE_SECONDS='soon' is not a positive"),
    ],
)
def test_a_malformed_setting_is_a_configuration_error_naming_it(setting, raw, message):
    with pytest.raises(ConfigurationError) as caught:
        setting.value({setting.name: raw})
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_lenient_setting_falls_back_to_its_default(caplog):
    assert settings.SERVER_START_TIMEOUT.value({"REVENUE_SERVER_START_TIMEOUT": "soon"}) == 300
    assert settings.RUNNING_MARK_EXPIRES_SECONDS.value({"REVENUE_RUNNING_MARK_EXPIRES_SECONDS": "-1"}) == 60
    assert "REVENUE_RUNNING_MARK_EXPIRES_SECONDS" in caplog.text


def test_unset_or_blank_is_the_default_and_values_are_parsed():
    assert settings.STATUS_WEEKS.value({}) == 8
    assert settings.STATUS_WEEKS.value({"REVENUE_STATUS_WEEKS": " "}) == 8
    assert settings.HEAL_SETTLE_SECONDS.value({"REVENUE_HEAL_SETTLE_SECONDS": "0"}) == 0
    assert settings.HEAL.value({"REVENUE_HEAL": "Yes"}) is True


def test_an_environment_needs_its_three_connections_and_derives_its_results():
    with pytest.raises(ConfigurationError, match="REVENUE_SOURCE_DB_URL, REVENUE_WAREHOUSE_DB_URL, REVENUE_LAKE_URL"):
        settings.environment_values({})
    values = settings.environment_values(
        {"REVENUE_SOURCE_DB_URL": "sqlite://", "REVENUE_WAREHOUSE_DB_URL": "sqlite://", "REVENUE_LAKE_URL": "s3://b/l/"}
    )
    assert values.results_url == "s3://b/l/_prefect_results" and values.landing_url is None


def test_a_manifest_never_records_a_secret():
    given = {"REVENUE_LAKE_URL": "/x", "REVENUE_ALERT_WEBHOOK_URL": "https://hook", "REVENUE_ALERT_DEADLINE": "08:00"}
    assert settings.recordable(given) == {"REVENUE_LAKE_URL": "/x", "REVENUE_ALERT_DEADLINE": "08:00"}


@pytest.mark.parametrize(
    ("field", "setting"),
    [
        ("status_weeks", settings.STATUS_WEEKS),
        ("heal_settle_seconds", settings.HEAL_SETTLE_SECONDS),
        ("heal_horizon_days", settings.HEAL_HORIZON_DAYS),
    ],
)
def test_the_environment_block_checks_the_settings_bounds(field, setting):
    """The block's fields accept exactly what the variable accepts: one declaration of each range."""
    from blocks.environment import RevenueEnvironment

    low, high = settings.bounds(setting)
    checked = {
        name: [m for m in info.metadata if hasattr(m, "ge") or hasattr(m, "le")]
        for name, info in RevenueEnvironment.model_fields.items()
    }[field]
    assert [getattr(m, "ge", None) for m in checked if hasattr(m, "ge")] == [low]
    assert [getattr(m, "le", None) for m in checked if hasattr(m, "le")] == [high]
    with pytest.raises(ConfigurationError):
        setting.parse(setting.name, str(high + 1))
