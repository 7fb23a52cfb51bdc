"""``b24sync commerceml inspect`` on real samples, a zip package and an unsafe file."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from b24sync.cli.main import app

SAMPLES = Path("/work/shared/samples/commerceml")
runner = CliRunner()


def test_inspect_json_cp1251_orders():
    res = runner.invoke(app, ["commerceml", "inspect", "--json", str(SAMPLES / "04-sale-query-response-2.05-cp1251.xml")])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert (data["version"], data["encoding"], data["namespace"], data["documents"]) == ("2.05", "WINDOWS-1251", None, 2)


def test_inspect_table():
    res = runner.invoke(app, ["commerceml", "inspect", str(SAMPLES / "01-import-2.07-utf8.xml")])
    assert res.exit_code == 0, res.output
    assert "urn:1C.ru:commerceml_2" in res.output and "UTF-8 (BOM)" in res.output
    row = next(line for line in res.output.splitlines() if "groups" in line)
    assert "22" in row


def test_inspect_zip(tmp_path):
    pkg = tmp_path / "pkg.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.write(SAMPLES / "02-offers-2.07-utf8.xml", "offers.xml")
        zf.write(SAMPLES / "01-import-2.07-utf8.xml", "import.xml")
    res = runner.invoke(app, ["commerceml", "inspect", "--json", str(pkg)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [m["file"] for m in data["members"]] == ["import.xml", "offers.xml"]
    assert data["totals"]["offers"] == 5 and data["totals"]["groups"] == 22 and data["totals"]["warehouses"] == 5


def test_inspect_unsafe(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa">]><a>&a;</a>')
    res = runner.invoke(app, ["commerceml", "inspect", "--json", str(bad)])
    assert res.exit_code == 2
    assert "entity" in json.loads(res.output)["error"]
