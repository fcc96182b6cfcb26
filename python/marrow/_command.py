"""Runs marrow's own commands from Python: keyword arguments become the command line the CLI would
get (so options, defaults, checks and error messages are the CLI's), AnnData objects become
in-memory datasets, failures become Python exceptions, progress goes to tqdm or plain lines."""
import atexit
import json
import logging
import sys
import time

from . import _marrow
from ._data import registered

log = logging.getLogger("marrow")

_LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


def _forward_log(level, message):
    log.log(_LEVELS.get(level, logging.INFO), message)


_marrow.set_log(_forward_log)
atexit.register(_marrow.set_log, None)  # no native logger may hold a Python callable past exit

_described = {}


def options_of(path):
    """{long name: (is_flag, help, default, required)} of `marrow PATH...` (from its registration)."""
    key = tuple(path)
    if key not in _described:
        table = {}
        for names, flag, help_text, default, required in _marrow.describe(list(path)):
            for name in names:
                table[name] = (flag, help_text, default, required)
        _described[key] = table
    return _described[key]


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def command_line(path, options):
    """The argument list for `marrow PATH... --opt value ...` from keyword options.

    name_with_underscores=value gives --name-with-underscores value; True gives the flag, False its
    --no- form where the command has one (else nothing); a list or tuple repeats the option; None
    leaves the option out.
    """
    known = options_of(path)
    args = list(path)
    for key, value in options.items():
        if value is None:
            continue
        name = key.replace("_", "-")
        flag = known.get(name, (False,))[0]
        if isinstance(value, bool) and (flag or name not in known):
            if value:
                args.append("--" + name)
            elif "no-" + name in known:
                args.append("--no-" + name)
            elif name not in known:
                args.append("--" + name)  # unknown: let the command line refuse it by name
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            args += ["--" + name, _text(item)]
    return args


class _Progress:
    """Training progress for people in Python: a tqdm bar where tqdm is installed, otherwise a line
    at every tenth of the run or after 30 s (as the CLI prints off a terminal); nothing when off.
    Every call also lets Ctrl-C through (the native side checks for signals after it)."""

    def __init__(self, mode):
        self.mode = mode
        self.bar = None
        self.key = None
        self.last_line = 0.0
        self.last_tenth = -1

    def __call__(self, label, epoch, total, done, per_epoch, loss, validation, epoch_end):
        if self.mode is False:
            return
        key = (label, total)
        if key != self.key:
            self._close()
            self.key, self.last_tenth, self.last_line = key, -1, time.monotonic()
            self.bar = self._new_bar(label, total)
        position = epoch - 1 + (done / per_epoch if per_epoch else 1.0)
        if self.bar is not None:
            self.bar.n = round(position, 3)
            postfix = {"loss": "{:.4f}".format(loss)}
            if validation == validation:  # not NaN
                postfix["validation"] = "{:.4f}".format(validation)
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.refresh()
            if epoch_end and epoch >= total:
                self._close()
        elif epoch_end:
            self._line(label, epoch, total, loss, validation)

    def _new_bar(self, label, total):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None
        return tqdm(total=total, desc=label, unit="epoch", leave=True, bar_format="{l_bar}{bar}| {n:.1f}/{total} epochs [{elapsed}<{remaining}{postfix}]")

    def _line(self, label, epoch, total, loss, validation):
        tenth = epoch * 10 // total if total else 10
        now = time.monotonic()
        if tenth > self.last_tenth or epoch >= total or now - self.last_line >= 30:
            self.last_tenth, self.last_line = tenth, now
            extra = "  validation {:.4f}".format(validation) if validation == validation else ""
            print("{} epoch {}/{}  loss {:.4f}{}".format(label, epoch, total, loss, extra), file=sys.stderr, flush=True)

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self):
        self._close()


def _exception_for(message):
    lowered = message.lower()
    if "file not found" in lowered or "does not exist" in lowered or "no such file" in lowered:
        return FileNotFoundError(message)
    return ValueError(message)


def run(path, options, progress=True, datasets=None, positional=()):
    """Runs `marrow PATH... options`, with `datasets` ({option: AnnData or path}) passed as --data and
    the like; returns the command's result (a dict, or None). Raises ValueError/FileNotFoundError with
    the CLI's one-line message on bad input, RuntimeError on an internal error, KeyboardInterrupt when
    interrupted."""
    datasets = datasets or {}
    with registered(datasets) as data_options:
        args = command_line(path, dict(data_options, **options)) + [str(p) for p in positional]
        reporter = _Progress(progress)
        _marrow.set_progress(reporter)
        try:
            code, error, result = _marrow.run(args)
        finally:
            _marrow.set_progress(None)
            reporter.close()
    if code == 2:
        raise _exception_for(error)
    if code != 0:
        raise RuntimeError(error or "marrow {} failed".format(" ".join(path)))
    return json.loads(result) if result else None
