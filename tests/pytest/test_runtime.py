"""Long calls from Python: progress (tqdm, plain lines, silent), the GIL released, Ctrl-C."""
import os
import signal
import sys
import threading
import time

import marrow
import pytest

LONG = dict(split="group:patient", epochs=20000, seed=0, hidden=[64], latent=8, patience=0)


def test_plain_progress_lines_without_tqdm(adata, capfd, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm fails: plain lines
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    marrow.pretrain("ae", adata, split="group:patient", epochs=20, seed=0, hidden=[32], latent=8, patience=0)
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if " epoch " in line]
    assert 9 <= len(lines) <= 12, err  # a line every tenth of the run, and the last
    assert lines[-1].startswith("pretrain epoch 20/20") or "epoch 20/20" in lines[-1]


def test_tqdm_bar_when_installed(adata, capfd):
    pytest.importorskip("tqdm")
    marrow.pretrain("ae", adata, split="group:patient", epochs=3, seed=0, hidden=[32], latent=8)
    err = capfd.readouterr().err
    assert "3/3 epochs" in err or "3.0/3 epochs" in err, err


def test_silent_with_progress_false(adata, capfd):
    marrow.pretrain("ae", adata, split="group:patient", epochs=3, seed=0, hidden=[32], latent=8, progress=False)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_training_releases_the_gil(adata):
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    thread = threading.Thread(target=tick)
    thread.start()
    start = time.monotonic()
    try:
        # patience=0: a fixed amount of work (early stopping can end a short run before 0.5 s).
        marrow.pretrain("ae", adata, split="group:patient", epochs=40, patience=0, seed=0, hidden=[256, 128], latent=16,
                        progress=False)
    finally:
        done.set()
        thread.join()
    elapsed = time.monotonic() - start
    during = [t for t in ticks if start <= t <= start + elapsed]
    assert elapsed > 0.5
    assert len(during) > 0.3 * elapsed / 0.01  # the other thread kept running


def test_ctrl_c_raises_keyboard_interrupt_and_keeps_the_checkpoint(adata, tmp_path):
    out = tmp_path / "long.marrow"
    timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        marrow.pretrain("ae", adata, out=out, progress=False, **LONG)
    timer.cancel()
    assert time.monotonic() - start < 30  # stopped soon after the signal, not at the end of 20,000 epochs
    assert not out.exists()  # no half-written model under the final name
    checkpoint = tmp_path / "long.marrow.ckpt"
    assert checkpoint.exists()
    # The checkpoint is intact: the run resumes from it and finishes.
    model = marrow.pretrain("ae", adata, out=out, progress=False, resume=True, **dict(LONG, stop_after=1))
    assert model.summary["epochs_run"] >= 2
    del model
    assert not [p for p in tmp_path.iterdir() if ".tmp." in p.name]
