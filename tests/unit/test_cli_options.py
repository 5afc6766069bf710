"""The environment option: ``--env NAME`` everywhere; ``--config NAME``, its earlier name,
still works and says it is now ``--env`` (scripts and cron lines written before keep
running)."""

from __future__ import annotations

import pytest

from cli.main import build_parser


@pytest.mark.parametrize("command", [["status"], ["watch"], ["run", "--date", "2026-03-01"], ["seed"]])
def test_env_names_the_environment(command, capsys):
    args = build_parser().parse_args([*command, "--env", "prod"])
    assert args.env == "prod"
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("command", [["status"], ["watch"], ["run", "--date", "2026-03-01"], ["seed"]])
def test_the_old_config_option_still_works_and_says_its_new_name(command, capsys):
    args = build_parser().parse_args([*command, "--config", "prod"])
    assert args.env == "prod"
    assert "--config is now --env" in capsys.readouterr().err


def test_env_and_config_together_are_refused(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["status", "--env", "a", "--config", "b"])


def test_help_shows_only_env(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["status", "--help"])
    shown = capsys.readouterr().out
    assert "--env" in shown and "--config" not in shown
