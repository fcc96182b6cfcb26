"""report.html of `marrow run`, `marrow cv` and `gil run` opened in headless Chromium: every figure
renders (loaded, non-empty drawing area), and a screenshot is kept under the build folder."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest
from conftest import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = pathlib.Path(os.environ.get("MARROW_BUILD_DIR", ".")) / "report-screenshots"

# A page that loads the report in a frame and writes, once it has loaded, one JSON line per figure.
CHECKER = """<!DOCTYPE html><html><body><iframe id="r" src="REPORT" style="width:1200px;height:2000px"></iframe>
<pre id="out">pending</pre><script>
document.getElementById("r").addEventListener("load", function () {
  var doc = document.getElementById("r").contentDocument;
  var figures = Array.from(doc.querySelectorAll("img")).map(function (img) {
    var box = img.getBoundingClientRect();
    return {alt: img.alt, complete: img.complete, natural: img.naturalWidth, width: box.width, height: box.height};
  });
  document.getElementById("out").textContent = JSON.stringify({figures: figures,
      missing: doc.querySelectorAll(".missing").length, tables: doc.querySelectorAll("table").length});
});
</script></body></html>"""


def rendered(report):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup.sh test installs it)")
    checker = report.parent / "check.html"
    checker.write_text(CHECKER.replace("REPORT", report.name))
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             "--virtual-time-budget=10000"]
    dom = subprocess.run(flags + ["--dump-dom", checker.as_uri()], capture_output=True, text=True, timeout=120).stdout
    start = dom.index('<pre id="out">') + len('<pre id="out">')
    result = json.loads(dom[start:dom.index("</pre>", start)].replace("&quot;", '"'))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / (report.parent.name + ".png")
    subprocess.run(flags + ["--window-size=1200,2400", "--screenshot=" + str(shot), report.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10000
    return result


def check_every_figure(report, at_least):
    result = rendered(report)
    figures = result["figures"]
    assert len(figures) >= at_least, result
    for figure in figures:
        assert figure["complete"] and figure["natural"] > 0, figure  # not a broken image
        assert figure["width"] > 50 and figure["height"] > 50, figure  # a drawing area, not empty
    assert result["missing"] == 0
    assert result["tables"] >= 1


def test_run_report_html(simulated, tmp_path):
    out = tmp_path / "run"
    config = {"data": str(simulated), "out": str(out), "seed": 0, "split": {"by": "group:patient"},
              "pretrain": {"epochs": 3, "hidden": [32], "latent": 8}, "classify": {"epochs": 3},
              "tasks": [{"name": "malignancy", "label": "malignancy", "cells": "lineage=progenitor",
                         "positive": "malignant", "heads": ["linear"],
                         "zeroshot": {"monocytic": "lineage=monocytic"}}]}
    (tmp_path / "run.json").write_text(json.dumps(config))
    cli("run", tmp_path / "run.json")
    check_every_figure(out / "report.html", at_least=3)


def test_cv_report_html(simulated, tmp_path):
    out = tmp_path / "cv"
    config = {"data": str(simulated), "out": str(out), "seed": 0, "split": {"by": "group:patient"},
              "pretrain": {"epochs": 2, "hidden": [32], "latent": 8}, "classify": {"epochs": 2},
              "tasks": [{"name": "malignancy", "label": "malignancy", "cells": "lineage=progenitor",
                         "positive": "malignant", "heads": ["linear"]}],
              "cv": {"folds": 3, "seeds": [0]}}
    (tmp_path / "cv.json").write_text(json.dumps(config))
    cli("cv", tmp_path / "cv.json")
    check_every_figure(out / "report.html", at_least=2)


def test_gil_report_html(simulated, tmp_path):
    out = tmp_path / "gil"
    cli("gil", "run", "--data", simulated, "--auto-plan", "random", "--stages", 1, "--epochs", 1, "--dim", 16,
        "--latents", 4, "--strategies", "finetune", "--eval-cells", 50, "--probe-cells", 100, "--no-save-models",
        "--out", out)
    check_every_figure(out / "report.html", at_least=1)
