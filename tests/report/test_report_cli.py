"""``rnagen report FOLDER``: the report of a benchmark folder written again, and every way it can be misused."""
import hashlib
import json
import re
import shutil

import pytest


def _snapshot(root):
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _run(argv, capsys):
    from rnagen.cli.main import main

    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    cap = capsys.readouterr()
    return int(rc or 0), cap.out, cap.err


def _refused(argv, capsys, folder, match):
    before = _snapshot(folder)
    rc, _, err = _run(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert match.lower() in lines[0].lower(), lines[0]
    assert _snapshot(folder) == before   # nothing changed, lost or left behind
    return lines[0]


def _body(html):
    """The page without its generation time."""
    return re.sub(r"Generated [^<]* by rnagen", "", html)


@pytest.fixture
def bench(tiny_bench, tmp_path):
    out = tmp_path / "bench"
    shutil.copytree(tiny_bench[0], out)
    return out


def test_report_writes_the_benchmarks_own_report_again(bench, capsys):
    first = (bench / "report.html").read_text(encoding="utf-8")
    (bench / "report.html").unlink()
    others = _snapshot(bench)
    rc, out, err = _run(["report", bench], capsys)
    assert rc == 0, err
    assert out.strip() == f"report: {(bench / 'report.html').resolve()}"
    assert _body((bench / "report.html").read_text(encoding="utf-8")) == _body(first)
    after = _snapshot(bench)
    assert {k: v for k, v in after.items() if k != "report.html"} == others   # nothing else touched


def test_report_to_another_file_with_a_title_leaves_the_folder_as_it_was(bench, tmp_path, capsys):
    before = _snapshot(bench)
    dest = tmp_path / "elsewhere" / "mine.html"
    rc, _, err = _run(["report", bench, "--out", dest, "--title", "My <run>"], capsys)
    assert rc == 0, err
    text = dest.read_text(encoding="utf-8")
    assert "<title>My &lt;run&gt;</title>" in text and 'id="gap-table"' in text
    assert _snapshot(bench) == before
    # a report rnagen wrote is replaced by the next one
    rc, _, err = _run(["report", bench, "--out", dest], capsys)
    assert rc == 0, err and "<title>rnagen benchmark:" in dest.read_text(encoding="utf-8")


def test_report_refuses_what_is_not_a_benchmark_folder(bench, tmp_path, capsys):
    _refused(["report", tmp_path / "nowhere"], capsys, bench, "does not exist")
    _refused(["report", bench / "leaderboard.json"], capsys, bench, "is a file")
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(["report", empty], capsys, empty, "no leaderboard.json")
    assert not list(empty.iterdir())


@pytest.mark.parametrize("damage", ["cut", "list", "no rows"])
def test_report_of_a_damaged_leaderboard_is_one_line_and_changes_nothing(bench, capsys, damage):
    lb = bench / "leaderboard.json"
    text = lb.read_text()
    lb.write_text({"cut": text[: len(text) // 2], "list": "[1, 2]",
                   "no rows": json.dumps({"columns": ["model"]})}[damage])
    _refused(["report", bench], capsys, bench, "leaderboard.json")


@pytest.mark.parametrize("key", ["directions", "settings", "failed", "plots", "columns"])
def test_report_of_a_leaderboard_whose_entries_are_of_another_type_is_one_line(bench, capsys, key):
    """A leaderboard.json edited by hand whose tables (directions, settings, ...) or column list are of another
    JSON type: refused as damaged in one line, no traceback, nothing changed."""
    lb = bench / "leaderboard.json"
    doc = json.loads(lb.read_text())
    doc[key] = [1] if key != "columns" else "model"
    lb.write_text(json.dumps(doc))
    line = _refused(["report", bench], capsys, bench, "leaderboard.json is damaged")
    assert line.endswith("which redoes what it cannot read")


def test_report_does_not_replace_a_page_rnagen_did_not_write_nor_an_input(bench, tmp_path, capsys):
    page = tmp_path / "notes.html"
    page.write_text("<!DOCTYPE html><html><head><title>my notes</title></head><body>keep me</body></html>")
    _refused(["report", bench, "--out", page], capsys, tmp_path, "not a result rnagen wrote")
    assert "keep me" in page.read_text()
    _refused(["report", bench, "--out", bench / "leaderboard.json"], capsys, bench, "leaderboard.json")
    _refused(["report", bench, "--out", tmp_path / "report.pdf"], capsys, tmp_path, ".html")
    _refused(["report", bench, "--out", bench], capsys, bench, "is a folder")
