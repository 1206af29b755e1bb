"""`tocsin cap import FILE` as an operator runs it."""
from __future__ import annotations

from pathlib import Path

from tests.cap_support import DOCS, EXAMPLES
from tests.test_cli import tocsin


def test_cap_import_prints_the_draft_id(tmp_path: Path) -> None:
    first = tocsin("cap", "import", str(DOCS / "campus-multilang.cap"), "--channels", "sms", "--data-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().isdigit() and "created" in first.stderr
    storm = tocsin("cap", "import", str(EXAMPLES / "thunderstorm.cap"), "--data-dir", str(tmp_path))
    assert storm.returncode == 0 and int(storm.stdout) == int(first.stdout) + 1
    cancel = tocsin("cap", "import", str(DOCS / "campus-cancel.cap"), "--data-dir", str(tmp_path))
    assert cancel.returncode == 0 and cancel.stdout.strip() == first.stdout.strip() and "cancelled" in cancel.stderr


def test_cap_import_names_what_is_wrong(tmp_path: Path) -> None:
    bad = tocsin("cap", "import", str(DOCS / "dtd-external-entity.cap"), "--data-dir", str(tmp_path))
    assert bad.returncode == 2 and "DOCTYPE" in bad.stderr and "root:" not in bad.stderr + bad.stdout
    unclosed = tmp_path / "unclosed.cap"
    unclosed.write_bytes((DOCS / "campus-multilang.cap").read_bytes().replace(
        b"38.9070,-77.0740 38.9055,-77.0740</polygon>", b"38.9070,-77.0740</polygon>", 1))
    bad = tocsin("cap", "import", str(unclosed), "--data-dir", str(tmp_path))
    assert bad.returncode == 2 and "/alert/info[1]/area[1]/polygon[1]" in bad.stderr and "not closed" in bad.stderr
    assert "cap import" in tocsin("--help").stdout
