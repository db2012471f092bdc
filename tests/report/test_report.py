"""The HTML report: one self-contained file drawn from saved results only; and it renders in Chromium."""
import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from rnagen.errors import RunDirError
from rnagen.report import best_rows, gap_colour, write_report

_IMG = re.compile(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _links(text):
    return re.findall(r'(?:src|href|action|poster|data)\s*=\s*["\']([^"\']*)["\']', text, flags=re.I)


def test_report_is_one_self_contained_file(tiny_bench):
    out, board, _ = tiny_bench
    path = out / "report.html"
    text = path.read_text(encoding="utf-8")
    # nothing loaded from outside: every src/href is inline data or an in-page anchor
    links = _links(text)
    assert links and all(v.startswith(("data:", "#")) for v in links), [v[:40] for v in links
                                                                        if not v.startswith(("data:", "#"))]
    assert "<link" not in text and "<script" not in text and "@import" not in text and "url(" not in text
    # the leaderboard table, one row per model, the reference row marked
    for model in ("real", "gaussian", "ddpm", "ddim"):
        assert f'data-model="{model}"' in text
    assert 'class="reference" data-model="real"' in text
    assert 'id="leaderboard-table"' in text and "TSTR acc." in text and "★" in text
    # every figure is an embedded PNG that decodes
    imgs = _IMG.findall(text)
    assert len(imgs) >= 5
    for b64 in imgs:
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    for fig in ("pca", "corr", "moments", "tstr", "steps"):
        assert f'id="{fig}"' in text
    assert 'id="recon"' not in text  # no reconstruction ran
    # what the run changed from its budget and the indicators it computed, said in the header
    assert "Settings changed from the budget: <code>diffusion</code> network.width=32" in text
    assert "Indicators asked for: precision, recall, density" in text and "(the others not computed)" in text
    # the all-indicators table holds no column every row left empty (no private rows here: no epsilon, delta)
    head = text[text.index('id="all-indicators"'):text.index("</thead>", text.index('id="all-indicators"'))]
    assert "<th>aa_truth<" in head and "<th>epsilon<" not in head and "<th>delta<" not in head
    assert 'id="figures-first-run"' not in text   # one run: nothing to tell apart
    # the report leads with the share of the gap closed: before the leaderboard, one colour-coded row per
    # model (the Gaussian marked as the floor, the real ceiling left out), the leaderboard's numbers in percent
    assert 'id="gap-table"' in text and text.index('id="gap-table"') < text.index('id="leaderboard-table"')
    gap = text[text.index('id="gap-table"'):text.index("</table>", text.index('id="gap-table"'))]
    assert 'class="floor" data-model="gaussian"' in gap and 'data-model="ddim"' in gap
    assert 'data-model="real"' not in gap
    # the floor: 0%, red; or in brackets, grey, where its gap to the ceiling is within its CI (tiny data)
    floor_cells = gap.count('style="background: hsl(0, 70%, 80%)">0%</td>') + gap.count(">(0%)</td>")
    assert floor_cells >= 2
    board = {r["model"]: r for r in json.loads((out / "leaderboard.json").read_text())["rows"]}
    aa = board["ddim"]["aa_ts_gap_closed"]
    measured = board["ddim"].get("aa_ts_gap_resolved") is None or board["ddim"]["aa_ts_gap_resolved"] > 0.5
    assert (f">{100 * aa:.0f}%</td>" if measured else f">({100 * aa:.0f}%)</td>") in gap
    if ">(" in gap:
        assert 'id="gap-unresolved"' in text


def test_a_share_within_noise_of_the_floor_is_greyed_and_explained(tmp_path):
    """A share whose floor was within its CI of the ceiling on most seeds is shown in brackets, grey, with the
    reason; a measured one (or one from a leaderboard without the column) keeps its colour."""
    lb = {"columns": ["model", "density", "density_gap_closed", "density_gap_resolved", "aa_ts", "aa_ts_gap_closed"],
          "rows": [{"model": "real", "density": 1.0, "density_gap_closed": 1.0, "aa_ts": 0.5, "aa_ts_gap_closed": 1.0},
                   {"model": "gaussian", "density": 0.97, "density_gap_closed": 0.0, "density_gap_resolved": 0.0,
                    "aa_ts": 0.6, "aa_ts_gap_closed": 0.0},
                   {"model": "ddim", "density": 1.2, "density_gap_closed": -5.5, "density_gap_resolved": 1 / 3,
                    "aa_ts": 0.55, "aa_ts_gap_closed": 0.5},
                   {"model": "vae", "density": 0.8, "density_gap_closed": 0.4, "density_gap_resolved": 1.0,
                    "aa_ts": 0.57, "aa_ts_gap_closed": 0.3}],
          "directions": {"density": 1.0, "aa_ts": 0.5}, "settings": {}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    gap = text[text.index('id="gap-table"'):text.index("</table>", text.index('id="gap-table"'))]
    assert 'class="gap unresolved" style="background: #eeeeee"' in gap and ">(-550%)</td>" in gap
    assert ">(0%)</td>" in gap                      # the floor's own row, same verdict
    assert f'style="background: {gap_colour(0.4)}">40%</td>' in gap
    assert f'style="background: {gap_colour(0.5)}">50%</td>' in gap     # no column: read as measured
    assert 'id="gap-unresolved"' in text and "sampling noise" in text
    for r in lb["rows"]:
        r.pop("density_gap_resolved", None)
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "unresolved" not in text and ">-550%</td>" in text


def test_all_indicators_leave_out_the_resolved_flags_and_show_the_spread(tmp_path):
    """The 'All indicators' table listed each share's resolved flag (0/1, no direction) as an indicator and left
    out the spread over runs the main table shows; a benchmark on the data's own split was told to use --splits,
    which --split-key refuses."""
    lb = {"columns": ["model", "density", "density_gap_closed", "density_gap_resolved", "ks_mean", "ks_mean_sd"],
          "rows": [{"model": "real", "density": 1.0, "density_gap_closed": 1.0, "ks_mean": 0.05, "ks_mean_sd": 0.01},
                   {"model": "vae", "density": 0.8, "density_gap_closed": 0.4, "density_gap_resolved": 1.0,
                    "ks_mean": 0.09, "ks_mean_sd": 0.02}],
          "directions": {"density": 1.0, "ks_mean": "lower"}, "settings": {"split_key": "split"}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    table = text[text.index('id="all-indicators"'):text.index("</table>", text.index('id="all-indicators"'))]
    assert "gap_resolved" not in table and "ks_mean" in table and "± 0.020 sd" in table
    note = text[text.index('id="one-split"'):text.index("</p>", text.index('id="one-split"'))]
    assert "The data's own split" in note and "without\n<code>--split-key</code>" in note


def test_gap_colours_run_from_red_to_green():
    assert gap_colour(1.0) == "hsl(120, 70%, 80%)" and gap_colour(0.5) == "hsl(60, 70%, 80%)"
    assert gap_colour(0.0) == "hsl(0, 70%, 80%)" and gap_colour(-2.0) == "hsl(0, 70%, 72%)"   # worse: deeper red
    assert gap_colour(float("nan")) == gap_colour(None) == "#eeeeee"


def test_best_value_per_column_respects_direction():
    rows = [{"model": "real", "x": 1.0}, {"model": "a", "x": 0.2}, {"model": "b", "x": 0.7},
            {"model": "c", "x": 0.45}, {"model": "d", "x": None}]
    assert best_rows(rows, "x", "higher") == {2}          # the real reference row never wins
    assert best_rows(rows, "x", "lower") == {1}
    # a target: nearest the real row's value (1.0 here: b), which real data score; without a real row, the target
    assert best_rows(rows, "x", 0.5) == {2}
    assert best_rows(rows[1:], "x", 0.5) == {2}   # c, at its place in rows[1:]
    assert best_rows([{"model": "a", "x": 1.0}, {"model": "b", "x": 1.0}], "x", "higher") == set()  # all tie
    assert best_rows([{"model": "real", "x": 1.0}], "x", "higher") == set()
    # the privacy and membership indicators: the real row is the copying generator (the worst case), so the
    # nominal target decides (a model as near the copies as possible must not be starred)
    for col, real, near_real, near_target, target in (("dcr_share", 1.0, 0.96, 0.85, 0.8),
                                                      ("dcr_ratio", 0.0, 0.72, 0.97, 1.0),
                                                      ("mia_ganleaks_auc", 1.0, 0.9, 0.55, 0.5),
                                                      ("privacy_loss", 0.5, 0.3, 0.02, 0.0)):
        rows = [{"model": "real", col: real}, {"model": "a", col: near_real}, {"model": "b", col: near_target}]
        assert best_rows(rows, col, target) == {2}, col
    rows = [{"model": "real", "detection_auc": 0.42}, {"model": "a", "detection_auc": 0.44},
            {"model": "b", "detection_auc": 0.52}]
    assert best_rows(rows, "detection_auc", 0.5) == {1}   # a fidelity target: the real row's value


def test_report_draws_saved_results_only(tiny_bench, tmp_path, monkeypatch):
    out, _, _ = tiny_bench
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("runs", "results", "report.html"))
    import rnagen.metrics

    def boom(*a, **k):
        raise AssertionError("the report must not compute indicators")

    monkeypatch.setattr(rnagen.metrics, "evaluate", boom)
    # a reconstruction R² distribution saved by the benchmark (recorded with the leaderboard) is drawn too
    np.savez(copy / "plots" / "recon_linear.npz", r2=np.linspace(-0.2, 0.95, 40).astype(np.float32))
    from rnagen._io import file_digests

    lb = json.loads((copy / "leaderboard.json").read_text())
    lb["plots"] = file_digests(copy / "plots")
    (copy / "leaderboard.json").write_text(json.dumps(lb))
    path = write_report(copy, title="copy <check>")
    text = path.read_text()
    assert path == copy / "report.html"
    assert 'id="recon"' in text and "copy &lt;check&gt;" in text   # titles are escaped
    assert len(_IMG.findall(text)) >= 6
    with pytest.raises(RunDirError, match="leaderboard.json"):
        write_report(tmp_path / "empty")


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tiny_bench, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium; CI installs it)")
    out, _, _ = tiny_bench
    text = (out / "report.html").read_text(encoding="utf-8")
    # a copy with a tiny probe that writes what the browser laid out into the DOM (the report has no script)
    probe = """<script>window.addEventListener('load', function () {
      var imgs = Array.from(document.images);
      var d = document.createElement('pre'); d.id = 'probe';
      d.textContent = JSON.stringify({widths: imgs.map(function (i) { return i.naturalWidth; }),
        complete: imgs.every(function (i) { return i.complete; }),
        rows: document.querySelectorAll('#leaderboard-table tbody tr').length});
      document.body.appendChild(d); });</script></body>"""
    page = tmp_path / "probe.html"
    page.write_text(text.replace("</body>", probe), encoding="utf-8")
    args = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
            "--virtual-time-budget=10000"]
    dom = subprocess.run(args + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, flags=re.S)
    assert m, f"chromium did not render the page: {dom.stderr[-500:]}"
    import json

    probe_data = json.loads(m.group(1).replace("&quot;", '"'))
    assert probe_data["rows"] == 4 and probe_data["complete"]
    assert len(probe_data["widths"]) >= 5 and all(w > 100 for w in probe_data["widths"]), probe_data
    # and a screenshot of the original report is not blank
    shot = tmp_path / "shot.png"
    subprocess.run(args + [f"--screenshot={shot}", "--window-size=1200,1600", (out / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file()
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[0] >= 1000 and img[..., :3].std() > 0.05


def test_report_of_a_leaderboard_with_earlier_column_names(tmp_path):
    """A leaderboard.json written before the registry names (``tstr_accuracy``, ``frechet_distance``) still
    gives the TSTR and Fréchet columns of the main table, under the registry names."""
    lb = {"columns": ["model", "tstr_accuracy", "frechet_distance", "frechet_distance_gap_closed"],
          "rows": [{"model": "real", "tstr_accuracy": 0.9, "frechet_distance": 1.0, "frechet_distance_gap_closed": 1.0},
                   {"model": "ddim", "tstr_accuracy": 0.7, "frechet_distance": 2.5,
                    "frechet_distance_gap_closed": 0.25}],
          "directions": {"tstr_accuracy": "higher", "frechet_distance": "lower"}, "settings": {}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    table = text[text.index('id="leaderboard-table"'):]
    assert "TSTR acc." in table and "Fréchet" in table and "2.500" in table and "0.700" in table
    assert "frechet_distance" not in text and "tstr_accuracy" not in text
    gap = text[text.index('id="gap-table"'):text.index("</table>", text.index('id="gap-table"'))]
    assert ">25%</td>" in gap


def test_set_figures_take_dpm_rows_but_not_reconstructed_rows(tiny_bench, tmp_path, monkeypatch):
    """A row named ``dpm++`` is a synthetic set of its own; ``ddim+linear`` (a reconstruction) is not drawn."""
    from rnagen import report
    from rnagen.report import plots

    out = tiny_bench[0]
    for name in ("dpm++", "ddim+linear", "real"):
        shutil.copy(out / "plots" / "ddim.npz", tmp_path / f"{name}.npz")
    drawn = []
    monkeypatch.setattr(plots, "embedding", lambda real, syn, **kw: drawn.append(sorted(syn)) or "")
    real = {k: np.asarray(v) for k, v in np.load(out / "plots" / "ddim.npz").items()}
    report._set_figures(tmp_path, [{"model": m} for m in ("real", "dpm++", "ddim+linear")], real)
    assert drawn and drawn[0] == ["dpm++"]


def test_a_share_without_a_ci_is_bracketed_and_a_column_without_a_direction_has_no_star(tmp_path):
    """The biology family has no CI to tell whether its floor is off the ceiling: its flag, written empty, was read
    as a legacy leaderboard's missing flag (a measured share, in colour); epsilon (a setting, no direction) starred
    the largest, the weakest guarantee."""
    lb = {"columns": ["model", "de_f1", "epsilon", "de_f1_gap_closed", "de_f1_gap_resolved",
                      "density_gap_closed"],
          "rows": [{"model": "real", "de_f1": 1.0, "epsilon": None},
                   {"model": "gaussian", "de_f1": 0.5, "epsilon": None, "de_f1_gap_closed": 0.0,
                    "de_f1_gap_resolved": None, "density_gap_closed": 0.0},
                   {"model": "vae-dp-eps2", "de_f1": 0.7, "epsilon": 2.0, "de_f1_gap_closed": 0.4,
                    "de_f1_gap_resolved": None, "density_gap_closed": 0.5},
                   {"model": "vae-dp-eps8", "de_f1": 0.8, "epsilon": 8.0, "de_f1_gap_closed": 0.6,
                    "de_f1_gap_resolved": None, "density_gap_closed": 0.7}],
          "directions": {"de_f1": "higher"}, "settings": {}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    gap = text[text.index('id="gap-table"'):text.index("</table>", text.index('id="gap-table"'))]
    assert "(60%)" in gap and ">70%<" in gap   # DE F1 bracketed, density (no flag at all: legacy) measured
    # the star is the cell's class (CSS draws it): the de_f1 column has its best cell, the epsilon column none
    assert '<td class="best">0.800' in text
    assert '<td class="">8.000' in text and '<td class="best">8.000' not in text


def test_gap_table_shows_a_measured_share_with_its_spread_and_an_unmeasured_one_in_brackets():
    from rnagen.report import _gap_table

    row = {"model": "ddim", "density_gap_closed": 0.42, "density_gap_closed_sd": 0.13, "density_gap_resolved": 1.0,
           "aa_ts_gap_closed": 0.3, "aa_ts_gap_closed_sd": 0.2, "aa_ts_gap_resolved": 0.0}
    table = _gap_table([{"model": "real", "density_gap_closed": 1.0}, row], {})
    cells = {h["key"]: c for h, c in zip(table["head"], table["rows"][0]["cells"])}
    assert [r["model"] for r in table["rows"]] == ["ddim"]
    assert (cells["density"]["text"], cells["density"]["sd"], cells["density"]["unresolved"]) == ("42%", "± 13 sd",
                                                                                                  False)
    # an unmeasured share keeps its spread over the runs, as the command line prints it: (30% ± 20)
    assert (cells["aa_ts"]["text"], cells["aa_ts"]["sd"], cells["aa_ts"]["unresolved"]) == ("(30%)", "± 20 sd", True)
    # a share defined on some of the runs only says on how many
    row = {"model": "vae", "n_seeds": 2, "coverage_gap_closed": 1.0, "coverage_gap_closed_n": 1,
           "coverage_gap_resolved": 1.0}
    table = _gap_table([{"model": "real", "density_gap_closed": 1.0}, row], {})
    cells = {h["key"]: c for h, c in zip(table["head"], table["rows"][0]["cells"])}
    assert (cells["coverage"]["text"], cells["coverage"]["sd"]) == ("100%", "1 of 2 runs")


def test_figures_leave_out_plot_files_written_after_the_leaderboard(tiny_bench, tmp_path, monkeypatch):
    """A rerun stopped before its end rewrites some plot files and leaves the earlier leaderboard: the report
    draws only the files the leaderboard was written with, and names the others."""
    from rnagen.report import plots

    out = tiny_bench[0]
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("runs", "results", "report.html"))
    drawn = []
    monkeypatch.setattr(plots, "embedding", lambda real, syn, **kw: drawn.append(sorted(syn)) or "")
    text = write_report(copy).read_text()
    assert 'id="plots-left-out"' not in text and drawn[-1] == ["ddim", "ddpm", "gaussian"]
    # ddim's set rewritten by a rerun (here: ddpm's data), a new row's file beside it
    shutil.copy(copy / "plots" / "ddpm.npz", copy / "plots" / "ddim.npz")
    shutil.copy(copy / "plots" / "ddpm.npz", copy / "plots" / "vae.npz")
    text = write_report(copy).read_text()
    assert drawn[-1] == ["ddpm", "gaussian"]
    assert 'id="plots-left-out"' in text and "<code>ddim.npz</code>, <code>vae.npz</code>" in text
    assert sorted(p.name for p in (copy / "plots").iterdir()) == sorted(
        [*json.loads((copy / "leaderboard.json").read_text())["plots"], "vae.npz"])   # nothing removed
    # a leaderboard of an earlier version (no record of its files) draws every file
    lb = json.loads((copy / "leaderboard.json").read_text())
    del lb["plots"]
    (copy / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(copy).read_text()
    assert 'id="plots-left-out"' not in text and drawn[-1] == ["ddim", "ddpm", "gaussian"]


def test_figures_of_several_runs_say_they_draw_the_first(tiny_bench, tmp_path):
    """With several runs the tables are means over them while the set figures draw one run's sets: the report
    says which."""
    import shutil

    src, _, _ = tiny_bench
    out = tmp_path / "b"
    shutil.copytree(src, out)
    lb = json.loads((out / "leaderboard.json").read_text())
    lb["settings"].update({"splits": 3, "seeds": 2, "seed": 5})
    (out / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(out).read_text(encoding="utf-8")
    note = text[text.index('id="figures-first-run"'):text.index("</p>", text.index('id="figures-first-run"'))]
    assert "split seed 5" in note and "over\nthe 6 runs" in note and "privacy curve" not in note
    assert text.index('id="figures-first-run"') < text.index('id="pca"')


def test_gap_table_heads_give_the_ceiling_and_the_floor_each_share_spans(tmp_path):
    """A share of the gap closed reads against the two ends of its scale: each column's head gives the real row's
    value (the real-vs-real ceiling, 100%) and the Gaussian row's (the floor, 0%), as the leaderboard has them,
    and the table says which way is better."""
    lb = {"columns": ["model", "density", "density_gap_closed", "aa_ts", "aa_ts_gap_closed"],
          "rows": [{"model": "real", "density": 1.0612, "density_gap_closed": 1.0, "aa_ts": 0.444,
                    "aa_ts_gap_closed": 1.0},
                   {"model": "gaussian", "density": 0.944, "density_gap_closed": 0.0, "aa_ts": 0.556,
                    "aa_ts_gap_closed": 0.0},
                   {"model": "ddim", "density": 1.2, "density_gap_closed": -0.5, "aa_ts": 0.5,
                    "aa_ts_gap_closed": 0.5}],
          "directions": {"density": 1.0, "aa_ts": 0.5}, "settings": {}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    gap = text[text.index('id="gap-table"'):text.index("</table>", text.index('id="gap-table"'))]
    head = gap[:gap.index("</thead>")]
    cols = re.findall(r'<th title="(\w+)_gap_closed">(.*?)</th>', head)
    ends = {key: re.sub(r"<[^>]+>", " ", cell).split() for key, cell in cols}
    assert ends["density"][-4:] == ["real", "1.061", "Gaussian", "0.944"]
    assert ends["aa_ts"][-4:] == ["real", "0.444", "Gaussian", "0.556"]
    scale = text[text.index('id="gap-scale"'):text.index("</p>", text.index('id="gap-scale"'))]
    assert "Higher is better" in scale and text.index('id="gap-scale"') < text.index('id="gap-table"')
    # a benchmark without a Gaussian row says so rather than a blank
    lb["rows"] = [r for r in lb["rows"] if r["model"] != "gaussian"]
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert "Gaussian –" in text


def test_large_values_are_written_in_plain_digits_and_each_table_notes_what_is_noise(tmp_path):
    """A Fréchet distance of 1619 was written 1.62e+03 beside columns of plain decimals; the report left out the
    note the command line prints after a benchmark of one synthetic draw per model, and dropped the one-split note
    where no share of the gap closed was computed."""
    lb = {"columns": ["model", "frechet_classifier", "tstr_mlp_accuracy"],
          "rows": [{"model": "real", "frechet_classifier": 27.366, "tstr_mlp_accuracy": 0.99},
                   {"model": "ddpm", "frechet_classifier": 1619.253, "frechet_classifier_ci_low": 1140.2,
                    "frechet_classifier_ci_high": 2090.7, "tstr_mlp_accuracy": 0.077}],
          "directions": {"frechet_classifier": "lower", "tstr_mlp_accuracy": "higher"},
          "settings": {"splits": 1, "draws": 1}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert ">1619<span class=\"ci\">[1140, 2091]</span>" in text and "e+03" not in text
    assert 'id="gap-table"' not in text
    assert 'id="one-split"' in text and 'id="one-draw"' in text and "--draws 4" in text
    lb["settings"] = {"splits": 3, "draws": 4, "seed": 0}
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert 'id="one-split"' not in text and 'id="one-draw"' not in text


def test_privacy_curve_draws_the_highest_attack_auc_as_the_verdict_judges_it(monkeypatch):
    """The attack panel drew the AUC farthest from 0.5, so an attack scoring 0.11 on a small audit (members ranked
    last by chance) stood for a private row whose best attack reached 0.42, drawn under the chance line of a
    panel whose verdicts read only AUCs above it."""
    from rnagen.report import _privacy_figures, plots

    drawn = {}
    monkeypatch.setattr(plots, "privacy_curve", lambda curves, **k: drawn.update(curves) or "")
    rows = [{"model": "dpm++", "tstr_mlp_accuracy": 0.9, "mia_ganleaks_auc": 0.58, "mia_domias_auc": 0.30},
            {"model": "diffusion-dp-eps1", "tstr_mlp_accuracy": 0.3, "mia_ganleaks_auc": 0.42,
             "mia_domias_auc": 0.11},
            {"model": "diffusion-dp-eps10", "tstr_mlp_accuracy": 0.6, "mia_ganleaks_auc": 0.52,
             "mia_domias_auc": 0.61}]
    (fig,) = _privacy_figures(rows)
    assert drawn["diffusion"]["attack"] == [0.42, 0.61] and drawn["diffusion"]["attack_ref"] == 0.58
    assert "highest membership-inference AUC" in fig["caption"]


def test_a_text_value_is_escaped_once(tmp_path):
    """A leaderboard cell holding text was escaped by the formatter and again by the template: 'a<b & c' read
    'a&lt;b &amp; c' on the page."""
    lb = {"columns": ["model", "density", "sampler_note"],
          "rows": [{"model": "real", "density": 1.0, "sampler_note": None},
                   {"model": "ddim", "density": 0.9, "sampler_note": "a<b & c"}],
          "directions": {"density": 1.0}, "settings": {}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert ">a&lt;b &amp; c<" in text and "&amp;lt;" not in text and "<b &" not in text


def test_reference_rows_have_no_training_or_sampling_time(tmp_path):
    """The real row showed 0.0 s of training and sampling, as if real profiles were a generator faster than any."""
    lb = {"columns": ["model", "density", "train_seconds", "sample_seconds"],
          "rows": [{"model": "real", "density": 1.0, "train_seconds": 0.0, "sample_seconds": 0.0},
                   {"model": "gaussian", "density": 0.9, "train_seconds": 0.36, "sample_seconds": 0.02}],
          "directions": {"density": 1.0, "train_seconds": "lower", "sample_seconds": "lower"}, "settings": {}}
    (tmp_path / "leaderboard.json").write_text(json.dumps(lb))
    text = write_report(tmp_path).read_text(encoding="utf-8")
    real = re.search(r'data-model="real">(.*?)</tr>', text, flags=re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", real)
    assert cells == ["real", "1.000", "–", "–"], cells
    gauss = re.search(r'data-model="gaussian">(.*?)</tr>', text, flags=re.S).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", gauss)[2:] == ["0.4", "0.0"]
