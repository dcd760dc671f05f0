"""codever: version the code of machine-learning runs, offline, with W&B's API.

    import codever as wandb            # the only line that differs from the W&B version

    wandb.init(project="safelife", config=args)
    rl_algo = wandb.Artifact("ppo", type="rl_algo_code")
    rl_algo.add_file("./training/ppo.py")
    wandb.run.log_artifact(rl_algo)
    for step in range(100):
        wandb.log({"reward": reward})
    wandb.finish()

Everything is done by the Rust library (``codever._native``); this module only shapes its
results into W&B-like objects. Results cross as JSON text, the very shapes of the CLI's --json
(one definition, ``codever::view``, serves both). README.md's "Compatibility with W&B" table
says what is supported, what is accepted as a no-op and what differs.
"""

import os as _os
import sys as _sys

from . import _native
from ._native import (
    CodeverError,
    CorruptStoreError,
    IncompleteArtifactError,
    InvalidInputError,
    NotFoundError,
    NotYetSyncedError,
)


class UsageError(CodeverError):
    """A call in the wrong state, which W&B refuses too (``wandb.errors.UsageError``): using
    ``log`` or ``config`` before ``init`` or after ``finish``, a finished run."""


class ConfigError(UsageError):
    """A config value changed without ``allow_val_change=True`` (W&B's ``ConfigError``)."""


#: W&B's ``wandb.Error``: every codever error is one.
Error = CodeverError

__all__ = [
    "Api",
    "Artifact",
    "BlameLine",
    "CodeverError",
    "ConfigError",
    "CorruptStoreError",
    "Diff",
    "Error",
    "IncompleteArtifactError",
    "InvalidInputError",
    "NotFoundError",
    "NotYetSyncedError",
    "Run",
    "Settings",
    "UsageError",
    "VerifyError",
    "alert",
    "agent",
    "config",
    "define_metric",
    "finish",
    "init",
    "log",
    "log_artifact",
    "log_code",
    "login",
    "run",
    "save",
    "summary",
    "sweep",
    "unwatch",
    "use_artifact",
    "watch",
]


def _loads(text):
    import json  # imported when first needed: keeps `import codever` fast

    return json.loads(text)


def _dumps(value):
    import json

    return json.dumps(_plain(value), sort_keys=True, allow_nan=False)


def _plain(value, _depth=0, _seen=None, _nan_text=True, _strict=False):
    """``value`` as JSON can hold it, as W&B stores it: numpy and torch arrays and scalars as
    lists and numbers (``tolist``), tuples and sets as lists, bytes as text, NaN and infinities
    as W&B's strings, text with lone surrogates (undecodable file names) with them escaped,
    anything else as its ``str``. A value that contains itself, or is nested more than 100
    levels deep, is a ``ValueError`` (W&B refuses those too)."""
    if isinstance(value, bool) or value is None:
        return bool(value) if value is not None else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        value = str(value)  # numpy's str_ too
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float):
        value = float(value)  # numpy's float64 is a float: a plain one is what W&B hands back
        if not _nan_text:
            return value
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if _depth >= 100:
        raise ValueError("a value nested more than 100 levels deep cannot be saved")
    nested = isinstance(value, (dict, list, tuple, set, frozenset)) or (
        hasattr(value, "keys") and hasattr(value, "__getitem__")
    )
    if nested:
        seen = _seen if _seen is not None else set()
        if id(value) in seen:
            raise ValueError("a value that contains itself cannot be saved")
        seen.add(id(value))
        try:
            if isinstance(value, dict) or not isinstance(value, (list, tuple, set, frozenset)):
                return {
                    _plain(str(k)): _plain(value[k], _depth + 1, seen, _nan_text, _strict)
                    for k in value.keys()
                }
            items = value
            if isinstance(value, (set, frozenset)):
                try:
                    items = sorted(value)
                except TypeError:
                    items = list(value)
            return [_plain(v, _depth + 1, seen, _nan_text, _strict) for v in items]
        finally:
            seen.discard(id(value))
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return _plain(tolist(), _depth + 1, _seen, _nan_text, _strict)
        except (TypeError, ValueError, RuntimeError):
            pass
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _plain(item(), _depth + 1, _seen, _nan_text, _strict)
        except (TypeError, ValueError):
            pass
    if isinstance(value, slice):  # as W&B converts one
        return {
            "slice_start": _plain(value.start, _depth + 1, _seen, _nan_text, _strict),
            "slice_step": _plain(value.step, _depth + 1, _seen, _nan_text, _strict),
            "slice_stop": _plain(value.stop, _depth + 1, _seen, _nan_text, _strict),
        }
    if isinstance(value, range):
        return list(value)
    if _strict and type(value) is object:
        # W&B's config refuses a bare object() (its JSON encoder's TypeError); it keeps other
        # values it cannot encode (a complex number, a frozenset): codever as their str.
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return str(value)


def _saveable(what, data):
    """``data`` as JSON can hold it, key by key: a key whose value cannot be saved is left out
    with a line saying so, and the rest is saved (one bad value never loses a run)."""
    out = {}
    for k in list(data.keys()):
        try:
            out[_plain(str(k))] = _plain(data[k])
        except (ValueError, RecursionError) as e:
            _say(f"{what} key {k!r} not saved: {e}")
    return out


def _checked(what, data, strict=False):
    """``data`` as plain Python values (numpy and torch values converted as W&B converts them;
    NaN and infinities stay floats), or a ``ValueError`` naming the key that cannot be saved, at
    the call, as W&B refuses it, rather than losing the whole run at ``finish``. ``strict``
    (the config's rule in W&B): a built-in object JSON cannot hold (``object()``, a complex
    number) is a ``TypeError``, where a value of another class is kept as its ``str``."""
    try:
        return _plain(data, _nan_text=False, _strict=strict)
    except (ValueError, RecursionError) as e:
        for k in list(data.keys()):
            try:
                _plain(data[k])
            except (ValueError, RecursionError) as inner:
                raise ValueError(f"{what}: key {k!r}: {inner}") from None
        raise ValueError(f"{what}: {e}") from None


def _say(message):
    print(f"codever: {message}", file=_sys.stderr)


# -- the module-level run, config and summary ------------------------------------------------

#: The current run, set by :func:`init` (``wandb.run``).
run = None


class _PreInit:
    """What ``wandb.config`` and ``wandb.summary`` are before ``init`` and after ``finish``:
    any use says to call ``init`` first, as W&B does."""

    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def _fail(self, what):
        raise UsageError(f"You must call codever.init() before wandb.{self._name}{what}")

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        self._fail(f".{key}")

    def __setattr__(self, key, value):
        self._fail(f".{key}")

    def __getitem__(self, key):
        self._fail(f"[{key!r}]")

    def __setitem__(self, key, value):
        self._fail(f"[{key!r}]")

    def __contains__(self, key):
        self._fail(".__contains__")

    def __iter__(self):
        self._fail(".__iter__")


#: ``wandb.config``: the current run's config (a placeholder outside a run).
config = _PreInit("config")
#: ``wandb.summary``: the current run's summary (a placeholder outside a run).
summary = _PreInit("summary")


def _set_current(r):
    global run, config, summary
    run = r
    if r is None:
        config, summary = _PreInit("config"), _PreInit("summary")
    else:
        config, summary = r.config, r.summary


def _current(what):
    if run is None:
        raise UsageError(f"You must call codever.init() before wandb.{what}()")
    return run


def log(data, step=None, commit=None, sync=None):
    """``wandb.log``: logs to the current run (see :meth:`Run.log`)."""
    return _current("log").log(data, step=step, commit=commit, sync=sync)


def finish(exit_code=None, quiet=None):
    """``wandb.finish``: finishes the current run, if any (see :meth:`Run.finish`)."""
    if run is not None:
        run.finish(exit_code=exit_code, quiet=quiet)


def log_artifact(artifact_or_path, name=None, type=None, aliases=None, tags=None):
    """``wandb.log_artifact``: see :meth:`Run.log_artifact`."""
    return _current("log_artifact").log_artifact(
        artifact_or_path, name=name, type=type, aliases=aliases, tags=tags
    )


def use_artifact(artifact_or_name, type=None, aliases=None, use_as=None):
    """``wandb.use_artifact``: see :meth:`Run.use_artifact`."""
    return _current("use_artifact").use_artifact(
        artifact_or_name, type=type, aliases=aliases, use_as=use_as
    )


def log_code(root=".", name=None, include_fn=None, exclude_fn=None):
    """``wandb.log_code``: see :meth:`Run.log_code`."""
    return _current("log_code").log_code(root, name, include_fn, exclude_fn)


def define_metric(name, step_metric=None, step_sync=None, hidden=None, summary=None, overwrite=None):
    """``wandb.define_metric``: see :meth:`Run.define_metric`."""
    return _current("define_metric").define_metric(
        name, step_metric, step_sync, hidden, summary, overwrite
    )


def save(glob_str=None, base_path=None, policy="live"):
    """``wandb.save``: see :meth:`Run.save`."""
    return _current("save").save(glob_str, base_path, policy)


def watch(models=None, criterion=None, log="gradients", log_freq=1000, idx=None, log_graph=False):
    """``wandb.watch``: a documented no-op. W&B sends gradient and parameter histograms to its
    servers; codever records none."""
    return None


def unwatch(models=None):
    """``wandb.unwatch``: a no-op, as :func:`watch`."""
    return None


def alert(title, text, level=None, wait_duration=None):
    """``wandb.alert``: a documented no-op (W&B sends the alert by e-mail or Slack)."""
    return None


def login(*args, **kwargs):
    """``wandb.login``: a documented no-op (codever has no server to log in to); True."""
    return True


def _unsupported(what, instead):
    def fail(*args, **kwargs):
        raise InvalidInputError(f"{what} is not supported by codever: {instead}")

    fail.__name__ = what.rsplit(".", 1)[-1]
    fail.__doc__ = f"{what}: not supported ({instead})."
    return fail


_MEDIA = "write the data to a file and log it in an Artifact, or log numbers"
Image = _unsupported("wandb.Image", _MEDIA)
Table = _unsupported("wandb.Table", _MEDIA)
Histogram = _unsupported("wandb.Histogram", _MEDIA)
Video = _unsupported("wandb.Video", _MEDIA)
Audio = _unsupported("wandb.Audio", _MEDIA)
Html = _unsupported("wandb.Html", _MEDIA)
Object3D = _unsupported("wandb.Object3D", _MEDIA)
sweep = _unsupported("wandb.sweep", "sweeps are run by W&B's servers; start the runs yourself")
agent = _unsupported("wandb.agent", "sweeps are run by W&B's servers; start the runs yourself")


class Settings:
    """``wandb.Settings``: holds keyword arguments; codever reads only ``mode``."""

    def __init__(self, **kwargs):
        self.mode = None
        self.__dict__.update(kwargs)


def _mode(mode, settings):
    if mode is None and settings is not None:
        mode = settings.get("mode") if isinstance(settings, dict) else getattr(settings, "mode", None)
    if mode is None:
        mode = _os.environ.get("WANDB_MODE") or None
    if mode is None and _os.environ.get("WANDB_DISABLED", "").lower() in ("true", "1", "yes"):
        mode = "disabled"
    mode = mode or "offline"
    if mode == "dryrun":
        mode = "offline"
    if mode not in ("online", "offline", "disabled", "shared", "run"):
        raise UsageError(f"invalid mode {mode!r}: expected online, offline, shared or disabled")
    return mode


def _config_dict(params, exclude=None, include=None):
    """``init(config=...)`` as a dict: a dict, an ``argparse.Namespace`` (or anything with a
    ``__dict__``), absl flags, another run's config, or the path of a W&B config YAML file."""
    if exclude and include:
        raise UsageError("Expected at most only one of exclude or include")
    if params is None:
        params = {}
    elif isinstance(params, str):
        params = _yaml_config(params, must_exist=True)
    elif isinstance(params, Config):
        params = params.as_dict()
    elif isinstance(params, _PreInit):
        params = {}
    elif not isinstance(params, dict):
        flags = getattr(params, "FLAGS", None)
        if flags is not None and type(params).__name__ == "module":
            params = flags
        if type(params).__module__.startswith("absl.flags"):
            params = {name: params[name].value for name in dir(params)}
        elif hasattr(params, "__dict__"):
            params = vars(params)
        else:
            raise TypeError("config must be a dict or have a __dict__ attribute.")
    params = dict(params)
    if include:
        params = {k: v for k, v in params.items() if k in include}
    if exclude:
        params = {k: v for k, v in params.items() if k not in exclude}
    return params


def _yaml_config(path, must_exist):
    """W&B's config file (``config-defaults.yaml``): ``key: {value: x}`` entries."""
    if not _os.path.exists(path):
        if must_exist:
            raise ConfigError(f"config file {path} doesn't exist")
        return {}
    try:
        import yaml
    except ImportError:
        raise ConfigError(f"reading {path} needs PyYAML (pip install pyyaml)") from None
    with open(path) as f:
        loaded = yaml.safe_load(f) or {}
    version = loaded.pop("wandb_version", None)
    if version is not None and version != 1:
        raise ConfigError("Unknown config version")
    return {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in loaded.items()}


def init(
    entity=None,
    project=None,
    dir=None,
    id=None,
    name=None,
    notes=None,
    tags=None,
    config=None,
    config_exclude_keys=None,
    config_include_keys=None,
    allow_val_change=None,
    group=None,
    job_type=None,
    mode=None,
    force=None,
    reinit=None,
    resume=None,
    resume_from=None,
    fork_from=None,
    save_code=None,
    tensorboard=None,
    sync_tensorboard=None,
    monitor_gym=None,
    settings=None,
    anonymous=None,
    save_env=True,
    sync=None,
):
    """Starts a run and returns it (also as ``codever.run``), with W&B's signature.

    The store is found like the CLI finds it (``dir``, ``CODEVER_DIR``, walking up); if there is
    none, one is created in ``dir`` when given, else at the root of the enclosing git repository,
    else in the working directory, and a line says where. The run id is ``id``, else
    ``CODEVER_RUN_ID``, else a fresh one, as for the CLI's ``commit --run``: every process of a
    run started with the same ``CODEVER_RUN_ID`` logs to the same run.

    ``config`` may be a dict, an ``argparse.Namespace`` (anything with a ``__dict__``), absl
    flags or a W&B config YAML path. ``mode="disabled"`` (or ``WANDB_MODE=disabled``) finds and
    writes no store: the run works in memory only. ``reinit`` follows W&B: while a run is active,
    ``init`` returns it (``"return_previous"``, the default), finishes it first
    (``"finish_previous"``, ``True``) or starts another beside it (``"create_new"``).
    ``resume`` (``"must"``, ``"allow"``, ``"auto"``, ``True``) with the id of a run the store
    has continues it as W&B online does: its config (``config`` on top), summary, ranges, step,
    name, tags and notes come back; ``"must"`` refuses an unknown id, ``"never"`` a known one.
    ``entity``, ``force``, ``save_code``, ``tensorboard``, ``sync_tensorboard``,
    ``monitor_gym``, ``resume_from``, ``fork_from`` and ``anonymous`` only concern W&B's
    servers or integrations: accepted, no effect.

    ``sync`` (codever's own): push the store to a remote when the run finishes (``finish()``,
    the end of a ``with`` block, or at exit), as ``wandb sync`` uploads an offline run
    afterwards: ``True`` for the default remote, a remote's name for that one (remotes are set up
    with ``codever remote add``). Unset, ``CODEVER_SYNC`` decides (``1``/``true``: the default
    remote; any other non-empty value but ``0``/``false``: that remote), so a W&B script with
    only the import changed can opt in from its environment. A failed push never fails the run:
    a line says so, and ``codever push`` sends it later.

    ``save_env`` (codever's own): log the run's environment (installed packages, Python,
    platform, GPUs, command line) as artifact ``env/environment``, in a few milliseconds and
    without importing anything heavy (see :meth:`Run.log_env`); a list of environment variable
    names also records those variables (none are recorded otherwise); ``False`` logs nothing.
    """
    mode = _mode(mode, settings)
    if reinit in (None, "default", False):
        reinit = "return_previous"
    elif reinit is True:
        reinit = "finish_previous"
    if reinit not in ("return_previous", "finish_previous", "create_new"):
        raise UsageError(f"invalid reinit {reinit!r}")
    if run is not None and not run._finished:
        if reinit == "return_previous":
            return run
        if reinit == "finish_previous":
            run.finish()
    cfg = _config_dict(config, config_exclude_keys, config_include_keys)
    if _os.path.exists("config-defaults.yaml"):
        cfg = {**_yaml_config("config-defaults.yaml", must_exist=False), **cfg}
    # W&B's config rules (keys without leading dashes, no built-in object JSON cannot hold),
    # before anything is recorded.
    cfg = _checked("config", {str(k).strip("-"): v for k, v in cfg.items()}, strict=True)
    tags = tuple(str(t) for t in (tags or ()))
    resumed = None  # the stored run `resume` continues
    if mode == "disabled":
        store = None
        run_id = id or _os.environ.get("CODEVER_RUN_ID") or _native.new_run_id()
    else:
        store, created = _locate_store(dir)
        if created:
            _say(f"created a store in {store}")
        run_id = id or _os.environ.get("CODEVER_RUN_ID") or None
        if run_id and resume in ("must", "never", "allow", "auto", True):
            known = _native.has_run(store, run_id)
            if resume == "must" and not known:
                raise UsageError(f"resume='must' but run {run_id!r} does not exist in {store}")
            if resume == "never" and known:
                raise UsageError(f"resume='never' but run {run_id!r} exists in {store}")
            if known and resume != "never":
                # W&B restores a resumed run's config, summary and step: what was saved so far
                # (init's own config and fields on top).
                resumed = _loads(_native.run(store, run_id))
                cfg = {**(resumed["config"] or {}), **cfg}
                tags = tags or tuple(resumed["tags"])
                notes = notes if notes is not None else resumed["notes"]
                name = name or resumed["name"]
                job_type = job_type or resumed["job_type"]
                group = group or resumed["group"]
        run_id = _native.start_run(
            store,
            run_id,
            project or "",
            _dumps(cfg) if cfg else "",
            notes or "",
            list(tags),
        )
    r = Run(
        store,
        run_id,
        project=project,
        config=cfg,
        notes=notes,
        tags=tags,
        name=name,
        entity=entity,
        group=group,
        job_type=job_type,
        mode=mode,
        allow_val_change=bool(allow_val_change),
    )
    r._sync = _sync_target(sync)
    if resumed is not None:
        r._resume(resumed)
    if reinit != "create_new" or run is None or run._finished:
        _set_current(r)
    _at_exit.track(r)
    if save_env and store is not None:
        keep = () if save_env is True else [str(k) for k in save_env]
        try:
            r.log_env(keep=keep)
        except (CodeverError, OSError) as e:
            _say(f"could not log the environment of run {r.id}: {e}")
    return r


def _sync_target(sync):
    """Where to push at finish: None (nowhere), True (the default remote) or a remote's name,
    from ``init(sync=...)``, else ``CODEVER_SYNC``."""
    if sync is None:
        env = _os.environ.get("CODEVER_SYNC", "").strip()
        if env.lower() in ("", "0", "false", "no", "off"):
            return None
        sync = True if env.lower() in ("1", "true", "yes", "on") else env
    if sync is False:
        return None
    if sync is True:
        return True
    return str(sync)


def _locate_store(dir):
    """(store root, created): the store for ``dir`` as the CLI finds it; a ``dir`` that holds
    none gets one (W&B writes its files into ``dir`` too)."""
    if dir is not None:
        d = _os.fspath(dir)
        if not _os.path.exists(_os.path.join(d, ".codever")) and not _os.path.exists(
            _os.path.join(d, "format")
        ):
            _os.makedirs(d, exist_ok=True)
            return _native.init_store(d), True
        return _native.locate_store(d, False)
    return _native.locate_store(None, True)


class _AtExit:
    """Finishes the runs a script forgot to finish when the interpreter exits (W&B does too),
    with exit code 255 after Ctrl-C, 1 after another uncaught exception or the code given to
    ``sys.exit``, and before a SIGTERM or SIGHUP ends the process."""

    def __init__(self):
        self._runs = []
        self._installed = False
        self._hooked = False
        self._failed = None  # the uncaught exception's type
        self._exit_code = None  # what `sys.exit` was given

    def track(self, r):
        import weakref

        self._runs.append(weakref.ref(r))
        if not self._installed:
            import atexit

            atexit.register(self._finish_all)
            self.hook()
            self._install_signal_handlers()
            self._installed = True

    def hook(self):
        """W&B's exit hooks: an uncaught exception and ``sys.exit(code)`` decide the exit code
        runs are finished with (see :meth:`exit_code`). Installed once."""
        if self._hooked:
            return
        self._hooked = True
        previous = _sys.excepthook

        def hook(exc_type, *args):
            self._failed = exc_type
            previous(exc_type, *args)

        _sys.excepthook = hook
        original_exit = _sys.exit

        def exit(code=None):
            self._exit_code = code
            original_exit(code)

        _sys.exit = exit

    def exit_code(self):
        """The exit code W&B records for a run ended by the interpreter's exit: 255 after
        Ctrl-C (an uncaught ``KeyboardInterrupt``), 1 after another uncaught exception,
        ``sys.exit``'s code (1 for a message), else 0."""
        code = self._exit_code
        if self._failed is not None:
            return 255 if issubclass(self._failed, KeyboardInterrupt) else 1
        if code is None or isinstance(code, int):
            return code or 0
        return 1  # sys.exit("message") exits with 1

    def _install_signal_handlers(self):
        """SIGTERM (a scheduler's preemption, ``kill``) and SIGHUP (a closed terminal) end a
        Python process without running ``atexit``: where the script has not set its own
        handler, the runs are finished first (exit code 128 + the signal's number, the shell's
        convention), then the signal is raised again with its default action, so the process
        still dies of it. Only from the main thread (Python's rule for signal handlers)."""
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for name in ("SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is None or signal.getsignal(signum) is not signal.SIG_DFL:
                continue

            def handler(got, frame):
                self._finish_all(exit_code=128 + got)
                signal.signal(got, signal.SIG_DFL)
                _os.kill(_os.getpid(), got)

            signal.signal(signum, handler)

    def _finish_all(self, exit_code=None):
        """Finishes this process's unfinished runs. A forked child (a ``multiprocessing``
        worker) inherits the list, but its parent's runs are the parent's to finish."""
        if exit_code is None:
            exit_code = self.exit_code()
        for ref in self._runs:
            r = ref()
            if r is not None and not r._finished and r._pid == _os.getpid():
                try:
                    r.finish(exit_code=exit_code)
                except CodeverError as e:
                    _say(f"could not save run {r.id} at exit: {e}")


_at_exit = _AtExit()


def _checkpoint_seconds():
    """How often a running run's summary is saved while it logs: ``$CODEVER_CHECKPOINT_SECONDS``
    (default 120; 0 saves at every step)."""
    try:
        return float(_os.environ.get("CODEVER_CHECKPOINT_SECONDS", "120"))
    except ValueError:
        return 120.0


class Config:
    """``run.config`` (``wandb.config``): W&B's config object, a mapping with attribute access.

    Changing the value of a key already set raises :class:`ConfigError` unless
    ``allow_val_change=True`` (W&B's rule). Every change is saved with the run when it finishes.
    """

    def __init__(self, data=None, allow_val_change=False):
        object.__setattr__(self, "_items", {})
        for k, v in dict(data or {}).items():
            k = str(k).strip("-")
            self._items[k] = _checked("config", {k: v}, strict=True)[k]
        object.__setattr__(self, "_allow", allow_val_change)
        object.__setattr__(self, "_locked", False)

    def _set(self, key, value, allow_val_change=None):
        key = str(key).strip("-")  # W&B's rule: argparse's "--lr" is the key "lr"
        allow = self._allow if allow_val_change is None else allow_val_change
        if self._locked:
            raise UsageError(f"run is finished: config.{key} was not changed")
        if key in self._items and not allow and _plain(self._items[key]) != _plain(value):
            raise ConfigError(
                f'Attempted to change value of key "{key}" from {self._items[key]} to {value}\n'
                "If you really want to do this, pass allow_val_change=True to config.update()"
            )
        self._items[key] = _checked("config", {key: value}, strict=True)[key]

    def update(self, d, allow_val_change=None):
        """Adds or changes keys from a dict or an ``argparse.Namespace``."""
        for k, v in _config_dict(d).items():
            self._set(k, v, allow_val_change)

    def setdefaults(self, d):
        """Sets the keys of ``d`` that are not set yet."""
        for k, v in _config_dict(d).items():
            if k not in self._items:
                self._set(k, v)

    def persist(self):
        """W&B uploads the config; codever saves it when the run finishes."""

    def as_dict(self):
        return dict(self._items)

    def keys(self):
        return self._items.keys()

    def items(self):
        return self._items.items()

    def values(self):
        return self._items.values()

    def get(self, key, default=None):
        return self._items.get(key, default)

    def __getitem__(self, key):
        return self._items[key]

    def __setitem__(self, key, value):
        self._set(key, value)

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._items[key]
        except KeyError:
            raise AttributeError(f"{type(self)!r} object has no attribute {key!r}") from None

    def __setattr__(self, key, value):
        self._set(key, value)

    def __contains__(self, key):
        return key in self._items

    def __iter__(self):
        return iter(self._items)

    def __repr__(self):
        return repr(self._items)


class Summary:
    """``run.summary`` (``wandb.summary``): each key's last value logged with ``log`` (or, for a
    key given ``define_metric(summary=...)``, a dict of the asked aggregates), and values set
    directly. Saved with the run when it finishes."""

    def __init__(self):
        object.__setattr__(self, "_items", {})

    def update(self, d):
        self._items.update(d)

    def keys(self):
        return self._items.keys()

    def get(self, key, default=None):
        return self._items.get(key, default)

    def __getitem__(self, key):
        return self._items[key]

    def __setitem__(self, key, value):
        self._items[key] = value

    def __delitem__(self, key):
        del self._items[key]

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._items[key]
        except KeyError:
            raise AttributeError(f"{type(self)!r} object has no attribute {key!r}") from None

    def __setattr__(self, key, value):
        self._items[key] = value

    def __contains__(self, key):
        return key in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return repr(self._items)


class _Metric:
    """What ``define_metric`` returns: the metric's settings."""

    def __init__(self, name, step_metric, step_sync, hidden, summary, overwrite):
        self.name, self.step_metric, self.step_sync = name, step_metric, step_sync
        self.hidden, self.summary, self.overwrite = hidden, summary, overwrite


_SUMMARY_OPS = ("min", "max", "mean", "last", "copy", "none", "first")


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


class Run:
    """A run: what it logged is recorded in the store under its id; its config and summary are
    saved when it finishes (``finish()``, the end of a ``with`` block, or at exit)."""

    def __init__(
        self,
        store,
        id,
        project=None,
        config=None,
        notes=None,
        tags=None,
        name=None,
        entity=None,
        group=None,
        job_type=None,
        mode="offline",
        allow_val_change=False,
    ):
        import time

        self._store = store
        self.id = id
        self.project = project or ("dummy" if mode == "disabled" else "uncategorized")
        self._project_given = project
        self.config = Config(config, allow_val_change)
        self._config_at_start = _plain(self.config.as_dict())
        self.summary = Summary()
        self.notes = notes
        self.tags = tags or ()
        self._fields_at_start = (self.tags, self.notes or "")
        self.name = name if name or mode != "disabled" else f"dummy-{id}"
        self.entity = entity or ""
        self.group = group or ""
        self.job_type = job_type or ""
        self.mode = mode
        self.disabled = mode == "disabled"
        self.offline = True
        self.resumed = False
        self.sweep_id = None
        self.url = None
        self.start_time = time.time()
        self._step = 0
        self._pending = {}  # the open step's values
        self._ranges = {}  # key -> [min, max]
        self._aggregates = {}  # key -> {"first", "sum", "count"} for define_metric
        self._metrics = {}  # name -> list of summary ops
        self._finished = False
        self._sync = None  # where to push at finish (init's sync=)
        self._dir = None
        self._pid = _os.getpid()
        self._saved_at = time.monotonic()

    def __repr__(self):
        return f"<codever.Run {self.id} project={self.project!r}>"

    def _resume(self, row):
        """Continues the stored run ``row`` (``runs show --json``), as W&B resumes one: its
        summary, min/max ranges and step count (new logs go on from its last step) and its
        runtime; ``init`` already merged its config, name and tags."""
        import time

        self.summary._items.update(row["summary"])
        self._ranges = {k: (v["min"], v["max"]) for k, v in (row["ranges"] or {}).items()}
        self._step = int(row["steps"] or 0)
        runtime = row["summary"].get("_runtime")
        if _is_number(runtime):
            self.start_time = time.time() - runtime
        self.resumed = True

    # -- W&B's properties ------------------------------------------------------------------
    @property
    def tags(self):
        """The run's tags, a tuple (W&B's); setting them (``run.tags = run.tags + ("best",)``)
        saves them with the run, as W&B does."""
        return self._tags

    @tags.setter
    def tags(self, value):
        # W&B's `tuple(value)`: a string gives its letters, as W&B does.
        self._tags = tuple(str(t) for t in (value or ()))

    @property
    def notes(self):
        """The run's notes; setting them saves them with the run, as W&B does."""
        return self._notes

    @notes.setter
    def notes(self, value):
        self._notes = None if value is None else str(value)

    @property
    def path(self):
        """``entity/project/id`` (without an empty entity, as W&B offline)."""
        return "/".join(p for p in (self.entity, self.project, self.id) if p)

    @property
    def step(self):
        """The step the next ``log`` goes to."""
        return self._step

    @property
    def dir(self):
        """A directory for the run's files (W&B's ``run.dir``): ``.codever/local/runs/<id>/files``
        on this machine, never synced nor versioned (log files as an Artifact to keep them)."""
        if self._dir is None:
            if self._store is None:
                import tempfile

                self._dir = tempfile.mkdtemp(prefix=f"codever-run-{self.id}-")
            else:
                self._dir = _os.path.join(self._store, "local", "runs", self.id, "files")
                _os.makedirs(self._dir, exist_ok=True)
        return self._dir

    def _check_active(self, what):
        if self._finished:
            raise UsageError(
                f"Run ({self.id}) is finished. The call to `{what}` will be ignored. "
                "Please make sure that you are using an active run."
            )

    # -- logging metrics -------------------------------------------------------------------
    def log(self, data, step=None, commit=None, sync=None):
        """``wandb.log``: each key's value becomes the summary's (its last value; a key given
        ``define_metric(summary=...)`` gets those aggregates) and numbers widen the key's
        min/max range; saved with the run when it finishes. Steps follow W&B: ``step`` must not
        go back (such data is ignored, with a warning), ``commit=False`` keeps the step open."""
        self._check_active("log")
        if not hasattr(data, "keys") or not hasattr(data, "__getitem__"):
            raise TypeError("wandb.log must be passed a dictionary")
        if any(not isinstance(k, str) for k in data.keys()):
            raise TypeError("Key values passed to `wandb.log` must be strings.")
        if step is not None:
            import operator

            step = operator.index(step)  # W&B's step is an integer: 12.5 is a TypeError
            if step < self._step:
                _say(
                    f"Tried to log to step {step} that is less than the current step "
                    f"{self._step}. Steps must be monotonically increasing, so this data "
                    "will be ignored."
                )
                return
            if step > self._step:
                if self._pending:
                    self._commit_step()
                self._step = step
        for k, v in _checked("wandb.log", data).items():
            self._pending[k] = v
        if commit or (commit is None and step is None):
            self._commit_step()

    def _commit_step(self):
        """Ends the current step: its values go to the summary (W&B updates the summary when
        a step is committed, not before)."""
        import time

        pending, self._pending = self._pending, {}
        for k, v in pending.items():
            self._record(k, v)
        self.summary._items["_step"] = self._step
        self.summary._items["_timestamp"] = time.time()
        self.summary._items["_runtime"] = time.time() - self.start_time
        self._step += 1
        if time.monotonic() - self._saved_at >= _checkpoint_seconds():
            self._checkpoint()

    def _checkpoint(self):
        """Saves the summary and config so far as an unfinished state (a SIGKILL or a power
        cut then loses at most the last interval's values). A failure is reported, never
        raised into the training loop; ``finish()`` tries again."""
        import time

        self._saved_at = time.monotonic()
        try:
            self._save_state(None, finished=False)
        except CodeverError as e:
            _say(f"could not save the state of run {self.id} so far: {e}")

    def _ops(self, key):
        ops = self._metrics.get(key)
        if ops is None:
            for name, o in self._metrics.items():
                if name.endswith("*") and key.startswith(name[:-1]):
                    return o
        return ops

    def _record(self, key, value):
        if _is_number(value):
            lo, hi = self._ranges.get(key, (value, value))
            self._ranges[key] = (min(lo, value), max(hi, value))
        ops = self._ops(key)
        if not ops:
            self.summary._items[key] = value
            return
        if "none" in ops:
            self.summary._items.pop(key, None)
            return
        agg = self._aggregates.setdefault(key, {"first": value, "sum": 0, "count": 0})
        if _is_number(value):
            agg["sum"] += value
            agg["count"] += 1
        out = {}
        for op in ops:
            if op in ("last", "copy"):
                out["last"] = value
            elif op == "first":
                out["first"] = agg["first"]
            elif op in ("min", "max") and key in self._ranges:
                out[op] = self._ranges[key][0 if op == "min" else 1]
            elif op == "mean" and agg["count"]:
                out["mean"] = agg["sum"] / agg["count"]
        self.summary._items[key] = out

    def define_metric(self, name, step_metric=None, step_sync=None, hidden=None, summary=None, overwrite=None):
        """W&B's ``define_metric``: ``summary`` ("min", "max", "mean", "first", "last", "none",
        comma-separated) makes the key's summary a dict of those aggregates; ``step_metric``,
        ``step_sync`` and ``hidden`` only shape W&B's charts (accepted, no effect)."""
        for arg, value, kind in (
            ("name", name, str),
            ("step_metric", step_metric, (str, _Metric)),
            ("step_sync", step_sync, bool),
            ("hidden", hidden, bool),
            ("summary", summary, str),
            ("overwrite", overwrite, bool),
        ):
            if value is not None and not isinstance(value, kind):
                # W&B's wandb.Error (here UsageError, a codever.Error), with W&B's words.
                raise UsageError(f"Unhandled define_metric() arg: {arg} type: {type(value).__name__}")
        stripped = name[:-1] if name.endswith("*") else name
        if "*" in stripped:
            raise UsageError(f"Unhandled define_metric() arg: name (glob suffixes only): {name}")
        ops = None
        if summary:
            ops = [s.strip().lower() for s in summary.split(",")]
            for op in ops:
                if op not in _SUMMARY_OPS:
                    raise UsageError(f"Unhandled define_metric() arg: summary op: {op}")
            self._metrics[name] = ops
        return _Metric(name, step_metric, step_sync, hidden, ops, overwrite)

    def save(self, glob_str=None, base_path=None, policy="live"):
        """W&B's ``save`` uploads files with the run. codever copies the matching files into
        :attr:`dir` (this machine only, not versioned) and returns their paths there; log them
        as an Artifact to version them."""
        import glob
        import shutil

        if glob_str is None:
            return []
        glob_str = _os.fspath(glob_str)
        base = base_path if base_path is not None else _os.path.dirname(glob_str) or "."
        out = []
        for path in glob.glob(glob_str, recursive=True):
            if _os.path.isfile(path):
                dest = _os.path.join(self.dir, _os.path.relpath(path, base))
                _os.makedirs(_os.path.dirname(dest), exist_ok=True)
                shutil.copyfile(path, dest)
                out.append(dest)
        return out

    def watch(self, models=None, criterion=None, log="gradients", log_freq=1000, idx=None, log_graph=False):
        """A documented no-op (see :func:`codever.watch`)."""
        return None

    def unwatch(self, models=None):
        return None

    def alert(self, title, text, level=None, wait_duration=None):
        """A documented no-op (see :func:`codever.alert`)."""
        return None

    def mark_preempting(self):
        """A documented no-op (W&B tells its servers the run may be pre-empted)."""

    # -- artifacts -------------------------------------------------------------------------
    def log_artifact(self, artifact_or_path, name=None, type=None, aliases=None, tags=None):
        """Commits the artifact for this run (W&B's signature). A path (file or directory) makes
        an artifact named ``name`` (default ``run-<id>-<basename>``) of type ``type`` (default
        ``unspecified``). ``aliases`` and ``tags`` may be one string or a list. Unchanged
        content makes no new version: the run is linked to the existing one (and a line says so).
        Sets ``artifact.version``, ``.id``, ``.new`` and returns the artifact."""
        self._check_active("log_artifact")
        artifact = self._as_artifact(artifact_or_path, name, type)
        aliases = _names_list(aliases, "aliases")
        tags = _names_list(tags, "tags")
        for t in tags:
            _native.check_name("tag", t)
        if self._store is None:  # disabled: nothing is written
            return artifact
        artifact._check_unchanged()
        if artifact.incremental and artifact._base is None:
            # W&B's incremental artifact: the new version keeps the latest version's files.
            try:
                latest = _loads(_native.resolve(self._store, f"{artifact.type}/{artifact._name}:latest"))
                artifact._base = f"{artifact.type}/{artifact._name}@{latest['id']}"
                artifact._base_store_path = self._store
            except NotFoundError:
                pass
        metadata = _dumps(artifact.metadata) if artifact.metadata else ""
        out = _loads(
            _native.commit(
                self._store,
                artifact.type,
                artifact._name,
                self.id,
                artifact._native_entries(),
                artifact._native_dirs(),
                [a for a in aliases if a != "latest"],
                artifact.description or "",
                metadata,
                tags,
                artifact._base,
                sorted(artifact._removed),
            )
        )
        artifact._set_logged(self._store, out)
        artifact._project, artifact._entity = self.project, self.entity
        if out["renamed_from"]:
            _say(
                f"{out['renamed_from']} was renamed to {out['type']}/{out['name']}; "
                "the artifact was logged there"
            )
        if out["revived"]:
            _say(f"{artifact._label()} was forgotten; logging it brings it back")
        if artifact.version is None:
            _say(
                f"some records of {artifact.type}/{artifact._name} cannot be read, so its version "
                "numbers are withheld (artifact.version is None); `codever fsck` says more"
            )
        if not out["new"] and not getattr(artifact, "_quiet", False):
            _say(
                f"{artifact._label()} unchanged: run {self.id} linked to the "
                "existing version, nothing new stored"
            )
        return artifact

    def _as_artifact(self, artifact_or_path, name, type):
        if isinstance(artifact_or_path, Artifact):
            return artifact_or_path
        if isinstance(artifact_or_path, (str, _os.PathLike)):
            path = _os.fspath(artifact_or_path)
            if "://" in path:
                raise InvalidInputError(
                    f"{path}: references to remote storage are not supported; "
                    "log local files or directories"
                )
            art = Artifact(name or f"run-{self.id}-{_os.path.basename(path)}", type or "unspecified")
            if _os.path.isfile(path):
                art.add_file(path)
            elif _os.path.isdir(path):
                art.add_dir(path)
            else:
                raise NotFoundError(f"source not found: {path}")
            return art
        raise InvalidInputError("log_artifact expects an Artifact or the path of a file or directory")

    def upsert_artifact(self, artifact_or_path, name=None, type=None, aliases=None, distributed_id=None):
        """W&B's distributed artifacts: codever logs the artifact at once."""
        return self.log_artifact(artifact_or_path, name=name, type=type, aliases=aliases)

    def finish_artifact(self, artifact_or_path, name=None, type=None, aliases=None, distributed_id=None):
        """See :meth:`upsert_artifact`."""
        return self.log_artifact(artifact_or_path, name=name, type=type, aliases=aliases)

    def use_artifact(self, artifact_or_name, type=None, aliases=None, use_as=None):
        """The version ``artifact_or_name`` names, recorded as an input of this run
        (``codever runs show`` lists it under "used"). Names as W&B writes them:
        ``name:v3``, ``name:alias``, ``project/name:alias``, ``entity/project/name:alias``, and
        codever's ``type/name:alias`` and ``name@idprefix``; ``type`` must be the artifact's.
        ``aliases`` are pointed at the version. In a disabled run, returns None (as W&B)."""
        self._check_active("use_artifact")
        if self._store is None:
            return None
        if isinstance(artifact_or_name, Artifact):
            art = artifact_or_name
            if art._info is None:  # W&B creates a draft it is given as the run's input
                self.log_artifact(art)
            spec, type = art._spec(), None
        else:
            spec = str(artifact_or_name)
            # A project that logged no such version is not found (checked before the use is
            # recorded).
            Api(self._store).artifact(spec, type, _quiet=True)
        info = _loads(_native.use_artifact(self._store, self.id, spec, type))
        art = Artifact._from_info(self._store, info, None if isinstance(artifact_or_name, Artifact) else spec)
        for alias in _names_list(aliases, "aliases"):
            if alias != "latest":
                _native.set_alias(self._store, art._spec(), alias)
        if aliases:
            art._refresh()
        return art

    def link_artifact(self, artifact, target_path, aliases=None):
        """W&B's registry links: a documented no-op (the registry lives on W&B's servers)."""
        return None

    def link_model(self, path, registered_model_name, name=None, aliases=None):
        """W&B's model registry: a documented no-op."""
        return None

    def log_env(self, keep=(), command=True):
        """Logs this process's environment as artifact ``environment`` of type ``env``
        (``init`` does it unless ``save_env=False``): ``requirements.txt`` (every installed
        distribution, as ``pip freeze`` lists them), ``python.txt`` (Python, platform, torch and
        its CUDA, cuDNN, jax, tensorflow, GPUs and driver), ``command.txt`` (the command line;
        ``command`` may be a string to record instead, or False) and, for the variable names
        in ``keep``, ``environ.txt``. Unchanged, the run links to the existing version. Returns
        the logged :class:`Artifact`."""
        from . import _env

        a = Artifact("environment", type="env")
        for name, text in _env.capture(keep=keep, command_line=command).items():
            a._entries[name] = _Entry(name, data=text.encode())
        a._quiet = True
        return self.log_artifact(a)

    def log_code(self, root=".", name=None, include_fn=None, exclude_fn=None):
        """Logs the code under ``root`` like W&B's Code Tab: by default ``*.py``, ``Dockerfile*``
        and ``requirements.txt`` files, never under ``wandb/`` or ``.wandb/``; ``include_fn`` and
        ``exclude_fn`` take ``(path)`` or ``(path, root)`` with absolute paths. Unlike W&B,
        ``.gitignore`` is honoured and virtualenvs, ``site-packages``, ``__pycache__`` and
        ``.git`` are never entered. Artifact ``source-<project>-<script>`` of type ``code``;
        returns None (with a warning) when no file matches, as W&B."""
        self._check_active("log_code")
        if root is None:
            root = "."
        root = _os.path.abspath(root)
        include = _two_args(include_fn or _default_code_file)
        exclude = _two_args(exclude_fn or _wandb_dir_file)
        if name is None:
            name = _sanitize(f"source-{self.project}-{_program_relpath()}")
        art = Artifact(name, type="code")
        for rel in _native.code_files(root):
            path = _os.path.join(root, rel)
            if include(path, root) and not exclude(path, root):
                art._entries[rel] = _Entry(rel, path=path)
        if not art._entries:
            _say("No relevant files were detected in the specified directory. No code will be logged to your run.")
            return None
        return self.log_artifact(art)

    # -- ending ----------------------------------------------------------------------------
    def finish(self, exit_code=None, quiet=None):
        """Ends the run: its config (with every later change), summary and min/max ranges,
        name, job type, group and exit code (0 unless given, as W&B records) are saved with it
        as one state record, which also marks it finished. ``codever.run`` becomes None.
        Calling it again does nothing."""
        if self._finished:
            return
        self._finished = True
        object.__setattr__(self.config, "_locked", True)
        if self._pending:
            self._commit_step()
        try:
            self._save_state(0 if exit_code is None else exit_code)
        finally:
            if run is self:
                _set_current(None)
        if self._sync is not None and self._store is not None:
            self._push_at_finish()

    def _push_at_finish(self):
        """Pushes the store to the remote ``init(sync=...)`` named; a failure is a line, never
        an exception (the run itself is saved)."""
        remote = None if self._sync is True else self._sync
        try:
            report = _loads(_native.push(self._store, remote))
        except CodeverError as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            _say(f"could not push run {self.id}: {first}; `codever push` sends it later")
            return
        sent = report["sent"]
        _say(
            f"pushed run {self.id} to {report['remote']}: {sent['files']} file(s), "
            f"{sent['bytes']} bytes"
        )

    def _save_state(self, exit_code, finished=True):
        if self._store is None:
            return
        config_now = _saveable("config", self.config.as_dict())
        changed = {k: v for k, v in config_now.items() if self._config_at_start.get(k, _MISSING) != v}
        summary_now = _saveable("summary", self.summary._items)
        # The tags and notes as they are now (a run record keeps those of the start).
        summary_now["_codever"] = {"tags": list(self.tags), "notes": self.notes or ""}
        # A checkpoint with nothing beyond what `init` recorded writes nothing; a finish always
        # writes (it says the run ended, and how).
        edited = (self.tags, self.notes or "") != self._fields_at_start
        if not finished and not (changed or len(summary_now) > 1 or edited or self.name or self.job_type or self.group):
            return
        state = {
            "name": self.name or "",
            "job_type": self.job_type,
            "group": self.group,
            "config": config_now,
            "summary": summary_now,
            "ranges": {k: [lo, hi] for k, (lo, hi) in self._ranges.items()},
            "steps": self._step,
            "finished": finished,
            "exit_code": exit_code,
        }
        _native.save_run_state(self._store, self.id, _dumps(state))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.finish(exit_code=1 if exc_type is not None else None)
        return False


_MISSING = object()


def _names_list(value, what):
    """W&B accepts one string or a list for aliases and tags (a string is one name, never its
    letters)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        out = []
        for v in value:
            if v not in out:
                out.append(str(v))
        return out
    except TypeError:
        raise InvalidInputError(f"`{what}` must be a string or a list of strings") from None


def _two_args(fn):
    """``fn(path, root)`` for a function of one or two arguments (W&B's rule)."""
    import inspect

    try:
        n = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        n = 1
    if n >= 2:
        return fn
    return lambda path, root: fn(path)


def _default_code_file(path, root=None):
    base = _os.path.basename(path)
    return base.endswith(".py") or base.startswith("Dockerfile") or base == "requirements.txt"


def _wandb_dir_file(path, root):
    rel = _os.path.relpath(path, root)
    return any(rel.startswith(d + _os.sep) for d in ("wandb", ".wandb"))


def _program_relpath():
    """The script's path relative to the git repository's root (else the working directory),
    as W&B names code artifacts (``None`` when there is no script file, as W&B writes it)."""
    program = _sys.argv[0] if _sys.argv else ""
    if not program or program == "-c":
        return None
    cwd = _os.getcwd()
    root = next((a for a in [cwd, *_parents(cwd)] if _os.path.exists(_os.path.join(a, ".git"))), cwd)
    full = _os.path.join(cwd, program)
    if not _os.path.exists(full):
        return None
    rel = _os.path.relpath(full, root)
    return None if "../" in rel else rel


def _parents(path):
    while True:
        parent = _os.path.dirname(path)
        if parent == path:
            return
        yield parent
        path = parent


def _sanitize(name):
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    return "".join(c if c in allowed else "_" for c in name)[:128]


# -- artifacts -----------------------------------------------------------------------------------


class _Entry:
    """A file of an artifact being built: from a path on disk, or bytes in memory."""

    def __init__(self, name, path=None, data=None, executable=False, stat=None):
        self.name, self.path, self.data, self.executable, self.stat = name, path, data, executable, stat

    def native(self):
        return (self.name, self.path, self.data, self.executable)


def _stat_key(path):
    st = _os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class _NewFile:
    """What ``Artifact.new_file`` yields: a text or binary buffer added when the block ends."""

    def __init__(self, artifact, name, mode, encoding):
        import io

        self._artifact, self._name, self._mode, self._encoding = artifact, name, mode, encoding
        self._buf = io.BytesIO() if "b" in mode else io.StringIO()

    def __enter__(self):
        return self._buf

    def __exit__(self, exc_type, *rest):
        if exc_type is None:
            data = self._buf.getvalue()
            if isinstance(data, str):
                data = data.encode(self._encoding or "utf-8")
            self._artifact._entries[self._name] = _Entry(self._name, data=data)
        return False


class ManifestEntry:
    """An entry of an artifact's manifest (W&B's ``ArtifactManifestEntry``): ``path``,
    ``digest`` (the file's MD5, base64), ``size``; ``download(root)`` for a logged artifact."""

    def __init__(self, artifact, row, entry=None):
        self._artifact = artifact
        self._row = row
        self._entry = entry  # a file just added: hashed when its digest is first asked
        self.path = row["path"] if row is not None else entry.name
        self.ref = None
        self.birth_artifact_id = None
        self.extra = {}
        self.local_path = entry.path if entry is not None else None

    def _hashed(self):
        if self._row is None:
            self._row = self._artifact._entry_row(self._entry)
        return self._row

    @property
    def digest(self):
        return self._hashed()["md5"]

    @property
    def size(self):
        return self._hashed()["size"]

    def __repr__(self):
        return f"ManifestEntry(path={self.path!r}, digest={self.digest!r}, size={self.size})"

    def download(self, root=None, skip_cache=None):
        """Writes the file under ``root`` (default: the artifact's download root) and returns
        its path. A file already there with other content is kept unless the artifact's
        ``download(force=True)`` semantics are asked for (see :meth:`Artifact.download`)."""
        return self._artifact._download_files([self.path], root, force=False)[0]

    def ref_target(self):
        raise ValueError("Only reference entries support ref_target().")

    def ref_url(self):
        raise ValueError("Only reference entries support ref_url().")


class Manifest:
    """An artifact's manifest (W&B's ``ArtifactManifest``): ``entries`` maps each path to its
    :class:`ManifestEntry`; iterating gives the entries in path order."""

    def __init__(self, artifact, rows, digest):
        self.entries = {r["path"]: ManifestEntry(artifact, r) for r in rows}
        self._digest = digest

    def digest(self):
        return self._digest

    def __iter__(self):
        return iter(self.entries.values())

    def __len__(self):
        return len(self.entries)

    def __repr__(self):
        return f"<codever.Manifest {len(self.entries)} file(s) digest={self._digest}>"


class File:
    """A file of a logged version, as W&B's ``artifact.files()`` gives it: ``name``, ``size``,
    ``md5``; ``download(root=".", replace=False, exist_ok=False)``."""

    def __init__(self, artifact, row):
        self._artifact = artifact
        self.name = row["path"]
        self.size = row["size"]
        self.md5 = row["md5"]
        self.url = None
        self.direct_url = None

    def __repr__(self):
        return f"<File {self.name} {self.size}B>"

    def download(self, root=".", replace=False, exist_ok=False, api=None):
        """Writes the file at ``root/name`` and returns it opened for reading (W&B's
        ``File.download``). An existing file is an error unless ``replace`` (overwritten) or
        ``exist_ok`` (kept)."""
        path = _os.path.join(root, self.name)
        if _os.path.exists(path) and not replace:
            if exist_ok:
                return open(path)
            raise ValueError("File already exists, pass replace=True to overwrite or exist_ok=True to leave it as is and don't error.")
        self._artifact._download_files([self.name], root, force=True)
        return open(path)


class Artifact:
    """A set of files under display paths, logged as a version of (type, name). W&B's
    constructor and methods; README.md's compatibility table lists the differences."""

    def __init__(
        self,
        name,
        type,
        description=None,
        metadata=None,
        incremental=False,
        use_as=None,
        storage_region=None,
        digest_algorithm="MD5",
    ):
        # Names are checked here, as W&B does, not only when logged.
        _native.check_name("artifact name", name)
        _native.check_name("type", type)
        if digest_algorithm not in ("MD5", None):
            raise InvalidInputError(
                f"digest_algorithm={digest_algorithm!r}: codever computes W&B's MD5 digests only"
            )
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidInputError("metadata must be a dict")
        self._name = name
        self.type = type
        self.description = description
        self.metadata = dict(metadata or {})
        self.incremental = bool(incremental)
        self.use_as = None
        self._entries = {}  # display path -> _Entry
        self._dirs = []  # (local path, prefix, every file, {relative path: stat} or None)
        self._removed = set()
        self._base = None  # spec of the version an incremental artifact or draft builds on
        self._store = None
        self._info = None
        self._aliases_set = None  # the list `aliases` hands out, edited in place (W&B's way)
        self._tags_set = None
        self._versioned_name = False
        self._project = None  # of a logged or fetched version (see `project`)
        self._entity = ""
        self.version = None
        self.id = None
        self.new = None

    def __repr__(self):
        if self.version:
            v = f":{self.version}"
        elif self.id:
            v = f"@{self.id[:12]}"
        else:
            v = ""
        return f"<codever.Artifact {self.type}/{self._name}{v}>"

    @property
    def name(self):
        """W&B's name: ``ppo`` for an artifact built here (also once logged, as W&B's until
        ``wait()``), ``ppo:v3`` for a version fetched (``use_artifact``, ``Api().artifact``) or
        waited for (``ppo@<id>`` while the number is withheld)."""
        if self._info is None or not self._versioned_name:
            return self._name
        return self._label(sep=":")

    @property
    def source_name(self):
        return self.name

    @property
    def source_version(self):
        return self.version

    @property
    def state(self):
        """``PENDING`` before logging, ``COMMITTED`` after (W&B's states)."""
        return "PENDING" if self._info is None else "COMMITTED"

    def is_draft(self):
        return self._info is None

    # -- building ---------------------------------------------------------------------------
    def add_file(self, local_path, name=None, is_tmp=False, skip_cache=False, policy="mutable", overwrite=False):
        """Adds a file, stored under ``name`` or its basename (W&B's rule), and returns its
        manifest entry. Adding the same path again with the same content is fine; other content
        needs ``overwrite=True``. ``is_tmp`` names the file by its digest, as W&B. With
        ``policy="mutable"`` (the default) W&B copies the file at once: codever reads it when
        the artifact is logged, and refuses to log it if it changed meanwhile. ``skip_cache``
        concerns W&B's cache: no effect."""
        self._check_open()
        _check_policy(policy)
        local_path = _os.fspath(local_path)
        if not _os.path.isfile(local_path):
            raise NotFoundError(f"source not found: {local_path}")
        name = _artifact_path(name) if name is not None else _os.path.basename(local_path)
        stat = _stat_key(local_path) if policy == "mutable" else None
        entry = _Entry(name, path=_os.path.abspath(local_path), stat=stat)
        if is_tmp:
            import base64

            head, _, tail = name.rpartition("/")
            parts = tail.split(".")
            parts[0] = base64.b64decode(self._entry_row(entry)["md5"]).hex()[:20]
            entry.name = (head + "/" if head else "") + ".".join(parts)
        self._put(entry, overwrite)
        return ManifestEntry(self, None, entry)

    def _put(self, entry, overwrite, row=None):
        """Adds ``entry``; a path already there must have the same content unless
        ``overwrite`` (then ``entry`` replaces it)."""
        name = _native_path(entry.name)
        entry.name = name
        existing = self._entries.get(name)
        if existing is None:
            existing = self._dir_entry(name)
        if existing is not None and not overwrite:
            mine = row or self._entry_row(entry)
            theirs = self._entry_row(existing)
            if mine["md5"] != theirs["md5"] or mine["size"] != theirs["size"]:
                raise ValueError(f"Cannot add the same path twice: {name!r}")
            return
        if existing is not None:
            self._drop_from_dirs(name)
        self._removed.discard(name)
        self._entries[name] = entry

    def _entry_row(self, entry):
        return _loads(_native.manifest([entry.native()], []))["files"][0]

    def _dir_entry(self, name):
        for path, prefix, every, files in self._dirs:
            rel = name if not prefix else (name[len(prefix) + 1 :] if name.startswith(prefix + "/") else None)
            if rel is not None and rel in files:
                return _Entry(name, path=_os.path.join(path, rel))
        return None

    def _drop_from_dirs(self, name):
        """A directory's file replaced by another: the directory's other files become single
        entries (rare: only when one path is added twice with different content)."""
        for i, (path, prefix, every, files) in enumerate(self._dirs):
            rel = name if not prefix else (name[len(prefix) + 1 :] if name.startswith(prefix + "/") else None)
            if rel is not None and rel in files:
                del self._dirs[i]
                for r, stat in files.items():
                    if r != rel:
                        shown = f"{prefix}/{r}" if prefix else r
                        self._entries[shown] = _Entry(shown, path=_os.path.join(path, r), stat=stat)
                return

    def add_dir(self, local_path, name=None, skip_cache=False, policy="mutable", merge=False, gitignore=False):
        """Adds the files under a directory, under ``name/`` if given. By default every file,
        as W&B: dotfiles and ignored files included, links to directories followed, so the
        digest is W&B's. ``gitignore=True`` (codever's) applies the capture's rules instead:
        ``.gitignore`` honoured, links to directories not followed. ``.git`` and ``.codever``
        directories are never stored (a line says so: the digest then differs from W&B's). A
        file already added with other content needs ``merge=True`` (W&B's rule)."""
        self._check_open()
        _check_policy(policy)
        local_path = _os.fspath(local_path)
        if not _os.path.isdir(local_path):
            raise NotFoundError(f"source not found: {local_path}")
        every = not gitignore
        files, skipped = _native.dir_files(_os.path.abspath(local_path), every)
        if skipped:
            _say(
                f"add_dir({local_path!r}) skipped {', '.join(s + '/' for s in skipped)}: codever "
                "never stores .git or .codever directories, so the digest differs from W&B's"
            )
        prefix = _artifact_path(name) if name and _native_path(name).strip("/") else ""
        stats = {}
        for rel in files:
            full = _os.path.join(local_path, rel)
            stats[rel] = _stat_key(full) if policy == "mutable" else None
        clashes = [r for r in files if (f"{prefix}/{r}" if prefix else r) in self._entries or self._dir_entry(f"{prefix}/{r}" if prefix else r)]
        if not clashes:
            self._dirs.append((_os.path.abspath(local_path), prefix, every, stats))
            for r in files:
                self._removed.discard(f"{prefix}/{r}" if prefix else r)
            return
        # Some paths are already there: add file by file, W&B's overwrite rule (merge).
        for r in files:
            shown = f"{prefix}/{r}" if prefix else r
            self._put(_Entry(shown, path=_os.path.abspath(_os.path.join(local_path, r)), stat=stats[r]), merge)

    def new_file(self, name, mode="x", encoding=None, policy="mutable"):
        """A context manager whose buffer is added under ``name`` when the block ends. With
        mode ``"x"`` (W&B's default) a name already in the artifact is an error; ``"w"``
        replaces it."""
        self._check_open()
        _check_policy(policy)
        name = _artifact_path(name)
        if "x" in mode and (name in self._entries or self._dir_entry(name)):
            raise ValueError(f"File with name {name!r} already exists")
        return _NewFile(self, name, mode.replace("x", "w"), encoding)

    def remove(self, item):
        """Removes a file, or every file under a directory path, from a draft (W&B's
        ``remove``; also files of the version an incremental artifact builds on)."""
        self._check_open()
        path = item.path if isinstance(item, ManifestEntry) else _native_path(_os.fspath(item)).strip("/")
        found = False
        for name in list(self._entries):
            if name == path or name.startswith(path + "/"):
                del self._entries[name]
                found = True
        for i, (dpath, prefix, every, files) in reversed(list(enumerate(self._dirs))):
            shown = {(f"{prefix}/{r}" if prefix else r): r for r in files}
            hit = [s for s in shown if s == path or s.startswith(path + "/")]
            if hit:
                found = True
                del self._dirs[i]
                for s, r in shown.items():
                    if s not in hit:
                        self._entries[s] = _Entry(s, path=_os.path.join(dpath, r), stat=files[r])
        if self._base is not None:
            found = True  # the base version's files are checked when logged
            self._removed.add(path)
        if not found:
            raise FileNotFoundError(f"Cannot remove missing entry: {path!r}")

    def get_added_local_path_name(self, local_path):
        """The artifact path a local file was added under, if any."""
        full = _os.path.abspath(local_path)
        for e in self._entries.values():
            if e.path == full:
                return e.name
        for dpath, prefix, every, files in self._dirs:
            if full.startswith(dpath + _os.sep):
                rel = _os.path.relpath(full, dpath).replace(_os.sep, "/")
                if rel in files:
                    return f"{prefix}/{rel}" if prefix else rel
        return None

    def add_reference(self, uri, name=None, checksum=True, max_objects=None):
        raise InvalidInputError(
            f"add_reference({uri!r}): references to files kept elsewhere are not supported; "
            "add the files themselves with add_file or add_dir"
        )

    def add(self, obj, name, overwrite=False):
        raise InvalidInputError(
            "Artifact.add: W&B media objects (tables, images) are not supported; write the data "
            "to a file and add_file it"
        )

    def _check_open(self):
        if self._info is not None:
            raise InvalidInputError(f"{self!r} is logged; build a new Artifact to change it")

    def _native_entries(self):
        return [e.native() for e in self._entries.values()]

    def _native_dirs(self):
        return [(path, prefix or None, every) for path, prefix, every, _ in self._dirs]

    def _check_unchanged(self):
        """W&B copies files added with ``policy="mutable"`` when they are added; codever reads
        them when the artifact is logged, so a file changed in between is refused rather than
        logged with other content than W&B would have."""
        changed = []
        for e in self._entries.values():
            if e.stat is not None and (not _os.path.exists(e.path) or _stat_key(e.path) != e.stat):
                changed.append(e.path)
        for path, prefix, every, files in self._dirs:
            if all(s is None for s in files.values()):
                continue
            now, _ = _native.dir_files(path, every)
            if sorted(now) != sorted(files):
                changed.append(path + _os.sep)
                continue
            for rel, stat in files.items():
                full = _os.path.join(path, rel)
                if stat is not None and _stat_key(full) != stat:
                    changed.append(full)
        if changed:
            raise InvalidInputError(
                f"{', '.join(changed[:5])} changed after being added to {self._name}: W&B would "
                "log the content they had when added (policy='mutable'). Add them again, or log "
                "the artifact before changing them"
            )

    # -- what it holds --------------------------------------------------------------------------
    def _manifest(self):
        if self._info is not None:
            return {"digest": self._info["digest"], "files": self._info["files"]}
        return _loads(
            _native.manifest(
                self._native_entries(),
                self._native_dirs(),
                self._base_store,
                self._base,
                sorted(self._removed),
            )
        )

    @property
    def digest(self):
        """The W&B artifact digest (available before logging)."""
        return self._manifest()["digest"]

    @property
    def manifest(self):
        """The manifest: ``manifest.entries`` maps each path to its entry (``path``,
        ``digest``, ``size``)."""
        m = self._manifest()
        return Manifest(self, m["files"], m["digest"])

    @property
    def size(self):
        return sum(f["size"] for f in self._manifest()["files"])

    @property
    def file_count(self):
        return len(self._manifest()["files"])

    # -- a logged or fetched version ----------------------------------------------------------
    def _set_logged(self, store, out):
        self._store = store
        self.id = out["id"]
        self._info = _loads(_native.resolve(store, self._spec()))
        self._aliases_set = self._tags_set = None
        self.version = _version_name(out["version"])
        self.new = out["new"]

    def _refresh(self, keep_edits=False):
        """Reads the version again; the lists ``aliases`` and ``tags`` handed out are read
        again too, unless ``keep_edits`` (``save`` compares them with the stored ones)."""
        self._info = _loads(_native.resolve(self._store, self._spec()))
        if not keep_edits:
            self._aliases_set = self._tags_set = None

    @classmethod
    def _from_info(cls, store, info, path=None):
        """An artifact from a version as ``_native.resolve`` gives it: ``show --json`` plus the
        description and metadata. ``path``: the W&B path it was fetched by, whose entity and
        project it keeps (see :attr:`project`)."""
        a = cls(info["name"], info["type"], description=info["description"] or None)
        a._store, a._info, a._versioned_name = store, info, True
        a.version, a.id, a.new = _version_name(info["version"]), info["id"], None
        if info["metadata"]:
            a.metadata = _loads(info["metadata"])
        if path is not None:
            a._entity, project, _ = _wandb_path(path, info["type"])
            a._project = project
        return a

    @property
    def project(self):
        """The project of a logged or fetched version, as W&B names an artifact's project: the
        one of its W&B path (``project/name:v0``), else the project of the run that logged it
        first (``uncategorized`` for a run without one, as ``run.project``)."""
        self._need_logged("project")
        if self._project is None:
            self._project = "uncategorized"
            for c in self._info.get("commits") or []:
                projects = _run_projects(self._store, [c["run"]])
                if projects:
                    self._project = projects[0]
                    break
        return self._project

    @property
    def entity(self):
        """The entity of the W&B path the version was fetched by, or its logging run's
        (``""`` for none: codever has no entities)."""
        self._need_logged("entity")
        return self._entity

    @property
    def qualified_name(self):
        """W&B's ``entity/project/name:vN`` (``project/name:vN`` without an entity, as
        ``run.path``)."""
        return "/".join(p for p in (self.entity, self.project, self._label()) if p)

    def _spec(self):
        # By id: an id names one content forever, while a number can move when a merge brings
        # older versions, and is refused while some record of the artifact cannot be read.
        return f"{self.type}/{self._name}@{self.id}"

    def _label(self, sep=":"):
        """``name:v3``, or ``name@<short id>`` while the number is withheld."""
        if self.version:
            return f"{self._name}{sep}{self.version}"
        return f"{self._name}@{self.id[:12]}"

    def _need_logged(self, what):
        if self._info is None:
            raise InvalidInputError(
                f"'Artifact.{what}' used prior to logging artifact: log it with run.log_artifact first"
            )

    @property
    def aliases(self):
        """The version's aliases, ``latest`` first when it is the latest: one list, which W&B's
        way of editing changes (``aliases.append("best")``, ``aliases.remove(...)`` or
        ``aliases = [...]``, which replaces the set) and :meth:`save` stores. ``latest`` is
        the store's to move."""
        if self._aliases_set is None:
            self._need_logged("aliases")
            self._aliases_set = list(self._info["aliases"])
        return self._aliases_set

    @aliases.setter
    def aliases(self, value):
        self._aliases_set = _names_list(value, "aliases")

    @property
    def tags(self):
        """The tags given when the version was logged (``log_artifact(tags=)``): one list, as
        :attr:`aliases` (see :meth:`save` for what a logged version can change)."""
        if self._tags_set is None:
            self._need_logged("tags")
            self._tags_set = list(self._info.get("tags", []))
        return self._tags_set

    @tags.setter
    def tags(self, value):
        self._tags_set = _names_list(value, "tags")

    @property
    def created_at(self):
        self._need_logged("created_at")
        return self._info["created"]

    @property
    def updated_at(self):
        return self.created_at

    @property
    def commit_hash(self):
        """The version's id (W&B's commit hash is a server-side id)."""
        self._need_logged("commit_hash")
        return self.id

    def save(self, project=None, settings=None):
        """Logs a draft with the current run (or a new one, as W&B); on a logged version, stores
        the edits W&B's ``save`` stores: aliases added to :attr:`aliases` are pointed at this
        version (``codever alias``). What codever cannot store is an ``InvalidInputError``
        saying what to do, before anything is written, never dropped in silence: an alias
        taken off (an alias only moves: point it at another version), and a changed
        ``tags``, ``description`` or ``metadata`` (recorded with the version when it is
        logged: ``run.log_artifact(artifact.new_draft(), tags=[...])`` adds tags to it)."""
        if self._info is None:
            r = run if run is not None and not run._finished else init(project=project, reinit="create_new")
            r.log_artifact(self)
            return
        self._refresh(keep_edits=True)
        stored = self._info["aliases"]
        wanted = self._aliases_set if self._aliases_set is not None else stored
        label = self._label()
        removed = [a for a in stored if a not in wanted and a != "latest"]
        if removed:
            raise InvalidInputError(
                f"{label}: codever cannot take alias(es) {', '.join(removed)} off a version: an "
                "alias only moves (hint: point it at another version, e.g. "
                f"Api().artifact('{self._name}:vN').aliases.append({removed[0]!r}) then save(), "
                f"or `codever alias {self.type}/{self._name}:vN {removed[0]}`)"
            )
        for a in wanted:
            if a != "latest":
                _native.check_name("alias", a)
        tags = self._tags_set if self._tags_set is not None else self._info.get("tags", [])
        changed = []
        if list(tags) != list(self._info.get("tags", [])):
            changed.append("tags")
        if (self.description or None) != (self._info["description"] or None):
            changed.append("description")
        stored_meta = _loads(self._info["metadata"]) if self._info["metadata"] else {}
        if _plain(self.metadata or {}) != stored_meta:
            changed.append("metadata")
        if changed:
            raise InvalidInputError(
                f"{label}: codever cannot change the {', '.join(changed)} of a logged "
                "version (they are recorded when it is logged) (hint: log it again from a "
                "draft with them: run.log_artifact(artifact.new_draft(), tags=[...]) adds tags "
                "to this version; a new description or metadata needs a new version)"
            )
        for alias in wanted:
            if alias != "latest" and alias not in stored:
                _native.set_alias(self._store, self._spec(), alias)
        self._aliases_set = None
        self._refresh()
    def wait(self, timeout=None):
        """W&B waits for the upload; codever logs synchronously: returns the artifact, whose
        ``name`` now carries its version (``ppo:v3``), as W&B's after ``wait()``."""
        self._need_logged("wait")
        self._versioned_name = True
        return self

    def finalize(self):
        """W&B freezes the artifact before saving; codever freezes it when logged."""

    def new_draft(self):
        """A draft that starts with this version's files (W&B's ``new_draft``): add, replace and
        ``remove`` files, then log it as the next version."""
        self._need_logged("new_draft")
        d = Artifact(self._name, self.type, self.description, self.metadata)
        d._base, d._base_store_path = self._spec(), self._store
        return d

    @property
    def _base_store(self):
        if self._base is None:
            return None
        return getattr(self, "_base_store_path", None) or (run._store if run is not None else None)

    def files(self, names=None, per_page=50):
        """The version's files as :class:`File` objects (``name``, ``size``, ``md5``,
        ``download()``), only those in ``names`` when given."""
        self._need_logged("files")
        rows = self._info["files"]
        if names is not None:
            wanted = set(names)
            rows = [r for r in rows if r["path"] in wanted]
        return [File(self, r) for r in rows]

    def get_entry(self, name):
        """The manifest entry of one file (W&B's ``get_entry``); ``KeyError`` if absent."""
        self._need_logged("get_entry")
        path = _native_path(_os.fspath(name))
        for r in self._info["files"]:
            if r["path"] == path:
                return ManifestEntry(self, r)
        raise KeyError(f"Path not contained in artifact: {name}")

    def get_path(self, name):
        """Same as :meth:`get_entry` (W&B's older name)."""
        return self.get_entry(name)

    def get(self, name):
        raise InvalidInputError(
            "Artifact.get: W&B media objects (tables, images) are not supported; use "
            "get_entry(name).download() or read(name)"
        )

    def read(self, path):
        """The bytes of one file of the version."""
        self._need_logged("read")
        return _native.read_file(self._store, self._spec(), path)

    def _default_root(self, include_version=True):
        """W&B's: ``$WANDB_ARTIFACT_DIR`` (default ``./artifacts``, made absolute) then
        ``name:vN``, or ``name`` without the version (``checkout``)."""
        base = _os.path.abspath(_os.environ.get("WANDB_ARTIFACT_DIR") or _os.path.join(".", "artifacts"))
        return _os.path.join(base, self._label() if include_version else self._name)

    def download(self, root=None, allow_missing_references=False, skip_cache=None, path_prefix=None, multipart=None, force=False):
        """Writes the files into ``root`` (default ``./artifacts/<name>:vN``, W&B's place) and
        returns it; with ``path_prefix`` only the files under it. Never writes outside
        ``root``. Unlike W&B, a file there that differs from the version is kept and reported
        unless ``force=True`` (W&B overwrites it). ``allow_missing_references``, ``skip_cache``
        and ``multipart`` concern W&B's storage: no effect."""
        self._need_logged("download")
        root = _os.fspath(root) if root is not None else self._default_root()
        if path_prefix:
            prefix = _native_path(_os.fspath(path_prefix))
            paths = [f["path"] for f in self._info["files"] if f["path"].startswith(prefix)]
            self._download_files(paths, root, force)
            return root
        _native.checkout(self._store, self._spec(), root, force)
        return root

    def _download_files(self, paths, root, force):
        """Writes the files ``paths`` of the version under ``root`` (each through a temp file
        beside it); a differing existing file is an error unless ``force``. Returns their
        paths."""
        import tempfile

        root = _os.fspath(root) if root is not None else self._default_root()
        out = []
        for p in paths:
            data = self.read(p)
            parts = p.split("/")
            # Never through a link: each directory below root must be a real directory (the
            # names come from the store, already checked to be plain components).
            for i in range(1, len(parts)):
                d = _os.path.join(root, *parts[:i])
                if _os.path.islink(d) or (_os.path.exists(d) and not _os.path.isdir(d)):
                    raise CodeverError(f"refusing to write {p} under {root}: {d} is a link or not a directory")
            dest = _os.path.join(root, *parts)
            if _os.path.islink(dest) or (_os.path.exists(dest) and not _os.path.isfile(dest)):
                raise CodeverError(f"refusing to write {dest}: not a regular file")
            if _os.path.isfile(dest):
                with open(dest, "rb") as f:
                    same = f.read() == data
                if same:
                    out.append(dest)
                    continue
                if not force:
                    raise CodeverError(
                        f"{dest} differs from {self._label()} (hint: pass force=True to overwrite it, "
                        "or download into another directory)"
                    )
            _os.makedirs(_os.path.dirname(dest) or ".", exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=_os.path.dirname(dest) or ".", prefix=".codever-")
            try:
                with _os.fdopen(fd, "wb") as f:
                    f.write(data)
                _os.replace(tmp, dest)
            except BaseException:
                if _os.path.exists(tmp):
                    _os.unlink(tmp)
                raise
            out.append(dest)
        return out

    def file(self, root=None):
        """Downloads the one file of a single-file version and returns its path; a version of
        several files is a ``ValueError`` (W&B's rule)."""
        self._need_logged("file")
        rows = self._info["files"]
        if len(rows) > 1:
            raise ValueError(
                "This artifact contains more than one file, call `.download()` to get "
                'all files or call .get_entry("filename").download()'
            )
        if not rows:
            raise ValueError("This artifact contains no file")
        return self._download_files([rows[0]["path"]], root, force=False)[0]

    def checkout(self, root=None):
        """Makes ``root`` exactly this version (W&B's ``checkout``): files that differ are
        overwritten. The default root is W&B's: ``$WANDB_ARTIFACT_DIR/NAME`` (default
        ``./artifacts/NAME``), without the version."""
        self._need_logged("checkout")
        return self.download(root if root is not None else self._default_root(include_version=False), force=True)

    def verify(self, root=None):
        """Checks that ``root`` holds exactly this version; raises :class:`VerifyError` (a
        ``ValueError``, as W&B documents) naming the files that differ otherwise."""
        self._need_logged("verify")
        root = root or self._default_root()
        differ = _native.verify(self._store, self._spec(), root)
        if differ:
            raise VerifyError(f"{root} differs from {self._label()}: {', '.join(differ)}")

    def logged_by(self):
        """The run that made this version (its first commit), as an :class:`ApiRun`."""
        self._need_logged("logged_by")
        commits = self._info.get("commits") or []
        if not commits:
            return None
        return Api(self._store).run(commits[0]["run"])

    @property
    def forgotten(self):
        """Whether this version is forgotten (``delete()``d): hidden from listings, numbers and
        aliases, still readable through this object and by id."""
        self._need_logged("forgotten")
        return bool(self._info["forgotten"])

    def delete(self, delete_aliases=False):
        """W&B's ``Artifact.delete()``: forgets this version (``codever forget``). It disappears
        from ``Api().artifact_versions()``, ``latest``, its number and its aliases, but nothing is
        deleted: this object, and its id, still read it, and ``undelete()`` (``codever
        unforget``) or logging the same content again brings it back. As in W&B, a version with
        aliases is refused unless ``delete_aliases=True`` (its aliases are then withheld while it
        is forgotten)."""
        self._need_logged("delete")
        aliases = [a for a in self._info["aliases"] if a != "latest"]
        if aliases and not delete_aliases:
            raise InvalidInputError(
                f"{self!r} has aliases ({', '.join(aliases)}); pass delete_aliases=True to delete "
                "it anyway"
            )
        _native.set_forgotten(self._store, self._spec(), True)
        self._refresh()
        self.version = _version_name(self._info["version"])

    def undelete(self):
        """Lists a forgotten (``delete()``d) version again (``codever unforget``)."""
        self._need_logged("undelete")
        _native.set_forgotten(self._store, self._spec(), False)
        self._refresh()
        self.version = _version_name(self._info["version"])

    def used_by(self):
        """The runs that used this version (``use_artifact``), as :class:`ApiRun` objects."""
        self._need_logged("used_by")
        out = []
        for row in _loads(_native.runs(self._store)):
            if any(u["id"] == self.id and u["type"] == self.type and u["name"] == self._name for u in row["used"]):
                out.append(ApiRun(self._store, row))
        return out

    def diff(self, other, context=3, algorithm="myers"):
        """What changed from this version to ``other`` (an Artifact or a spec); ``algorithm`` as
        for :meth:`Api.diff`."""
        self._need_logged("diff")
        right = other._spec() if isinstance(other, Artifact) else str(other)
        return Api(self._store).diff(self._spec(), right, context=context, algorithm=algorithm)


def _wandb_path(path, artifact_type):
    """(entity, project or None, NAME[:…]) of a W&B path; ``A/NAME`` whose ``A`` is the
    version's type is codever's ``TYPE/NAME`` (no project), as ``frontend::wandb_spec`` reads
    it."""
    parts = str(path).split("/")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2 and parts[0] != artifact_type:
        return "", parts[0], parts[1]
    return "", None, parts[-1]


def _run_projects(store, run_ids):
    """The projects of the runs ``run_ids`` the store knows (``uncategorized`` for none)."""
    out = []
    for rid in run_ids:
        try:
            row = _loads(_native.run(store, rid))
        except NotFoundError:
            continue  # its run record has not arrived (not yet synced)
        project = row["project"] or "uncategorized"
        if project not in out:
            out.append(project)
    return out


def _check_project(store, path, info):
    """A W&B path's project must be one whose runs logged the version: codever keeps one
    store of artifacts across projects and records the project with each run, so
    ``otherproj/model:v0`` names ``model:v0`` only if a run of ``otherproj`` logged it."""
    _, project, rest = _wandb_path(path, info["type"])
    if project is None:
        return
    projects = _run_projects(store, [c["run"] for c in info.get("commits") or []])
    if project not in projects:
        logged = f"by runs of project {', '.join(map(repr, projects))}" if projects else "by no run this store knows"
        raise NotFoundError(
            f"{path}: {info['type']}/{info['name']} was logged {logged}, not of project "
            f"{project!r} (hint: name it without a project, {rest!r}, or with the project of "
            "the run that logged it)"
        )


class VerifyError(CodeverError, ValueError):
    """``Artifact.verify`` found files that differ from the version: a ``ValueError``, as W&B
    raises, and a :class:`CodeverError`."""


def _check_policy(policy):
    if policy not in ("mutable", "immutable", None):
        raise ValueError('Invalid policy: must be "mutable" or "immutable"')


def _native_path(path):
    """An artifact path with ``/`` separators."""
    return _os.fspath(path).replace(_os.sep, "/")


def _artifact_path(name):
    """``name`` (``add_file``'s, ``add_dir``'s or ``new_file``'s) as the artifact will store it
    (``./a//b`` is ``a/b``), or an ``InvalidInputError`` (a ``ValueError``, as W&B raises) at
    the call for a path the store refuses: absolute, with ``..``, ``.git`` or ``.codever``, a
    backslash or a control character. Nothing is added then, so the artifact stays usable."""
    path = _native_path(name)
    return _loads(_native.manifest([(path, None, b"", False)], []))["files"][0]["path"]


class ApiRun:
    """A run read back from the store (W&B's public-API ``Run``): ``id``, ``name``,
    ``project``, ``config``, ``summary``, ``tags``, ``notes``, ``job_type``, ``group``,
    ``state`` (``finished`` or ``running``), ``created_at``; ``logged_artifacts()`` and
    ``used_artifacts()``."""

    def __init__(self, store, row):
        self._store = store
        self._row = row
        self.id = row["id"]
        self.name = row["name"] or row["id"]
        self.display_name = self.name
        self.project = row["project"] or "uncategorized"
        self.entity = ""
        self.path = [self.entity, self.project, self.id]
        self.config = dict(row["config"] or {})
        self.summary = dict(row["summary"])
        self.tags = list(row["tags"])
        self.notes = row["notes"]
        self.job_type = row["job_type"]
        self.group = row["group"]
        self.state = "finished" if row["finished"] else "running"
        self.created_at = row["time"]
        self.url = None

    def __repr__(self):
        return f"<codever.ApiRun {self.id} ({self.state})>"

    def logged_artifacts(self, per_page=100):
        """What the run logged, as W&B lists it: without the ``env/environment`` artifact
        ``init`` logs (W&B has no such artifact; :meth:`environment` returns it)."""
        return [
            Api(self._store).artifact(f"{a['type']}/{a['name']}@{a['id']}")
            for a in self._row["artifacts"]
            if (a["type"], a["name"]) != ("env", "environment")
        ]

    def environment(self):
        """The run's environment (``init(save_env=True)``, :meth:`Run.log_env`, or
        ``codever commit-env``) as an :class:`Artifact`, or None."""
        for a in self._row["artifacts"]:
            if (a["type"], a["name"]) == ("env", "environment"):
                return Api(self._store).artifact(f"env/environment@{a['id']}")
        return None

    def used_artifacts(self, page_size=100):
        return [
            Api(self._store).artifact(f"{u['type']}/{u['name']}@{u['id']}")
            for u in self._row["used"]
        ]

class Api:
    """Reading back: artifacts, their versions, runs, diffs and blame (W&B's ``wandb.Api``).
    ``overrides``, ``timeout`` and ``api_key`` concern W&B's servers: accepted, no effect."""

    def __init__(self, overrides=None, timeout=None, api_key=None, dir=None):
        if isinstance(overrides, (str, _os.PathLike)):  # codever's older Api(dir)
            dir, overrides = overrides, None
        self._store = _native.locate_store(None if dir is None else _os.fspath(dir), False)[0]

    def artifact(self, name, type=None, _quiet=False):
        """The version ``name`` names: ``name:v3``, ``name:alias``, ``project/name:alias``,
        ``entity/project/name:alias``, codever's ``type/name:alias`` and ``name@idprefix``. A
        project names the project of the runs that logged the version (``init(project=)``): a
        version no run of that project logged is not found (``NotFoundError``), as W&B finds
        nothing in another project; an entity names nothing (codever has none). A forgotten
        (deleted) version is found by its id or ``TYPE/NAME@ID``, with a line saying so; numbers
        and aliases skip it."""
        info = _loads(_native.resolve(self._store, str(name), True, type))
        _check_project(self._store, str(name), info)
        art = Artifact._from_info(self._store, info, str(name))
        if _quiet:
            return art
        if art._info.get("forgotten"):
            _say(f"{art.type}/{art.name}@{art.id[:12]} is forgotten (deleted); undelete() brings it back")
        return art

    def artifact_exists(self, name, type=None):
        """Whether ``name`` names a version."""
        try:
            self.artifact(name, type)
        except NotFoundError:
            return False
        return True

    def artifacts(self, type_name, name, per_page=50, tags=None):
        """Every version of ``type_name``/``name``, oldest first; with ``tags``, those logged
        with one of them."""
        versions = self.artifact_versions(type_name, name)
        if tags:
            wanted = set(_names_list(tags, "tags"))
            versions = [v for v in versions if wanted & set(v.tags)]
        return versions

    def artifact_versions(self, type_name, name, per_page=50):
        """Every version not forgotten (deleted), oldest first."""
        name = name.split(":")[0].split("/")[-1]
        rows = _loads(_native.versions(self._store, f"{type_name}/{name}"))  # `versions --json`
        return [
            Artifact._from_info(
                self._store, _loads(_native.resolve(self._store, f"{type_name}/{name}@{row['id']}"))
            )
            for row in rows
        ]

    def run(self, path):
        """The run ``path`` names (``id``, ``project/id`` or ``entity/project/id``)."""
        run_id = str(path).split("/")[-1]
        return ApiRun(self._store, _loads(_native.run(self._store, run_id)))

    def runs(self, path=None, filters=None, order="+created_at", per_page=50, include_sweeps=True):
        """Every run (of project ``path``'s last part, when given) that matches ``filters``, in
        ``order``.

        ``filters`` is W&B's MongoDB-style query, of which codever applies: fields
        ``config.KEY`` (also W&B's stored form ``config.KEY.value``, and nested
        ``config.KEY.SUB``), ``summary_metrics.KEY`` (nested too: ``summary_metrics.loss.min``
        for a ``define_metric`` summary), ``display_name``, ``state``, ``tags``, ``group``,
        ``job_type``; a value (equality; for ``tags``, membership) or operators ``$eq``,
        ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``, ``$nin``, ``$exists``; and
        ``$and``/``$or`` of such filters. Anything else raises ``InvalidInputError`` (a
        ``ValueError``) naming it, before any run is read: never a silent empty list.

        ``order``: ``+``/``-`` then ``created_at``, ``summary_metrics.KEY`` or ``config.KEY``
        (nested as above); runs without a number for KEY come last, in creation order."""
        match = _run_filter(filters or {})
        desc = order.startswith("-")
        field = order.lstrip("+-")
        if field not in ("created_at", "createdAt") and not field.startswith(("summary_metrics.", "config.")):
            raise InvalidInputError(
                f"order {order!r}: codever orders runs by ±created_at, ±summary_metrics.KEY or "
                "±config.KEY"
            )
        rows = _loads(_native.runs(self._store))
        runs = [ApiRun(self._store, r) for r in rows]
        if path:
            project = str(path).split("/")[-1]
            runs = [r for r in runs if r.project == project]
        runs = [r for r in runs if match(r)]
        if field in ("created_at", "createdAt"):
            return list(reversed(runs)) if desc else runs
        have = [r for r in runs if _is_number(_run_field(r, field))]
        rest = [r for r in runs if not _is_number(_run_field(r, field))]
        return sorted(have, key=lambda r: _run_field(r, field), reverse=desc) + rest

    def diff(self, left, right, context=3, algorithm="myers"):
        """The structured diff of two versions; ``.patch()`` is what ``codever diff`` prints.
        ``algorithm`` is git's line diff algorithm: ``"myers"`` (git's default), ``"minimal"``,
        ``"patience"`` or ``"histogram"``; the hunks are those ``git diff`` prints with it."""
        data, patch, html = _native.diff(self._store, str(left), str(right), context, algorithm)
        return Diff(_loads(data)["files"], patch, html)

    def push(self, remote=None, full=False):
        """Sends every file remote ``remote`` (the default remote when None) lacks, as
        ``codever push``; ``full`` lists the remote first instead of trusting what this machine
        remembers it holds. Returns the report as ``push --json`` gives it: ``sent`` and
        ``received`` (``files``, ``bytes``), ``new_there`` (``artifact``, ``versions``),
        ``concurrent``, ``refused``, ``waiting``, ``requests``. Remotes are set up with
        ``codever remote add``; a remote that cannot be used raises :class:`CodeverError` with
        the CLI's one-line message."""
        return _loads(_native.push(self._store, remote, bool(full)))

    def pull(self, remote=None, metadata_only=False, only=None):
        """Fetches every file this store lacks from remote ``remote`` (the default when None),
        each verified, as ``codever pull``: ``metadata_only`` fetches records and markers only
        (versions, runs and logs work; files are fetched when read), ``only`` one artifact's
        files (``TYPE/NAME`` or ``TYPE/NAME:SPEC``). Returns the report as ``pull --json``
        gives it; files refused as damaged are listed in its ``refused`` (everything else was
        taken)."""
        return _loads(_native.pull(self._store, remote, bool(metadata_only), only))

    def sync(self, remote=None):
        """Pulls from remote ``remote`` (the default when None), then pushes to it: both then
        list the same versions. Returns the report as ``sync --json`` gives it, with
        ``concurrent`` naming versions made apart on both sides that were renumbered."""
        return _loads(_native.sync(self._store, remote))

    def blame(self, spec, path, first_seen=False):
        """Every line of ``path`` at ``spec`` with the version and run that introduced it; with
        ``first_seen=True``, the earliest version that had the line at that path, even where it
        was deleted and came back later (``blame --first-seen``)."""
        blamed = _loads(_native.blame(self._store, spec, path, first_seen))  # `blame --json`
        return [BlameLine(**d) for d in blamed["lines"]]


_RUN_FIELDS = {
    "display_name": lambda r: r.name,
    "displayName": lambda r: r.name,
    "name": lambda r: r.id,
    "state": lambda r: r.state,
    "tags": lambda r: r.tags,
    "group": lambda r: r.group or None,
    "job_type": lambda r: r.job_type or None,
    "jobType": lambda r: r.job_type or None,
}


def _walk(value, parts):
    for p in parts:
        if not isinstance(value, dict) or p not in value:
            return _MISSING
        value = value[p]
    return value


def _run_field(run, field):
    """The value of a W&B filter field for ``run`` (``_MISSING`` when it has none)."""
    if field.startswith("config."):
        if field[len("config.") :] in run.config:  # a key with dots in its name
            return run.config[field[len("config.") :]]
        parts = field[len("config.") :].split(".")
        if len(parts) > 1 and parts[1] == "value":
            parts = parts[:1] + parts[2:]  # W&B's stored form: {"lr": {"value": 0.1}}
        return _walk(run.config, parts)
    if field.startswith("summary_metrics."):
        key = field[len("summary_metrics.") :]
        if key in run.summary:  # a key with dots in its name
            return run.summary[key]
        return _walk(run.summary, key.split("."))
    return _RUN_FIELDS[field](run)


def _compare(op, have, arg):
    if have is _MISSING or have is None:
        return False
    both_numbers = _is_number(have) and _is_number(arg)
    if not both_numbers and not (isinstance(have, str) and isinstance(arg, str)):
        return False  # MongoDB compares within a type: a string is never > a number
    return {"$gt": have > arg, "$gte": have >= arg, "$lt": have < arg, "$lte": have <= arg}[op]


def _equals(field, have, want):
    if field == "tags" and isinstance(have, list) and not isinstance(want, list):
        return want in have  # MongoDB: an array field equals a value it holds
    return have is not _MISSING and have == want


def _run_filter(filters, where="filters"):
    """A predicate on :class:`ApiRun` for W&B's MongoDB-style ``filters``, or an
    ``InvalidInputError`` naming the part codever does not apply (checked before any run)."""
    if not isinstance(filters, dict):
        raise InvalidInputError(f"{where}: expected a dict of W&B filters, got {filters!r}")
    tests = []
    for key, cond in filters.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, (list, tuple)) or not cond:
                raise InvalidInputError(f"{where}: {key} expects a non-empty list of filters")
            subs = [_run_filter(c, f"{where}[{key}]") for c in cond]
            combine = all if key == "$and" else any
            tests.append(lambda r, subs=subs, combine=combine: combine(t(r) for t in subs))
            continue
        if not isinstance(key, str) or not (
            key in _RUN_FIELDS or key.startswith(("config.", "summary_metrics."))
        ) or key.endswith(".") or ".." in key:
            raise InvalidInputError(
                f"{where}: {key!r} is not applied by codever (fields: config.KEY, "
                f"summary_metrics.KEY, {', '.join(sorted(_RUN_FIELDS))}; operators $and, $or)"
            )
        if isinstance(cond, dict) and any(str(k).startswith("$") for k in cond):
            for op, arg in cond.items():
                tests.append(_operator(key, op, arg, where))
        else:
            tests.append(lambda r, key=key, cond=cond: _equals(key, _run_field(r, key), cond))
    return lambda r: all(t(r) for t in tests)


def _operator(key, op, arg, where):
    field = lambda r: _run_field(r, key)  # noqa: E731
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not (_is_number(arg) or isinstance(arg, str)):
            raise InvalidInputError(f"{where}: {key} {op} expects a number or a string, got {arg!r}")
        return lambda r: _compare(op, field(r), arg)
    if op == "$eq":
        return lambda r: _equals(key, field(r), arg)
    if op == "$ne":
        return lambda r: not _equals(key, field(r), arg)
    if op in ("$in", "$nin"):
        if not isinstance(arg, (list, tuple)):
            raise InvalidInputError(f"{where}: {key} {op} expects a list, got {arg!r}")
        hit = lambda r: any(_equals(key, field(r), a) for a in arg)  # noqa: E731
        return hit if op == "$in" else (lambda r: not hit(r))
    if op == "$exists":
        return lambda r: (field(r) is not _MISSING and field(r) is not None) == bool(arg)
    raise InvalidInputError(
        f"{where}: operator {op!r} on {key} is not applied by codever (it applies $eq, $ne, "
        "$gt, $gte, $lt, $lte, $in, $nin, $exists)"
    )


class Diff:
    """Files that changed, with status, paths, additions, deletions and hunks."""

    def __init__(self, files, patch, html=None):
        self.files = files
        self._patch = patch
        self._html = html

    def __len__(self):
        return len(self.files)

    def __bool__(self):
        return bool(self.files)

    def patch(self):
        """The unified patch (git's format), as text."""
        return self._patch.decode("utf-8", "surrogateescape")

    def patch_bytes(self):
        """The unified patch, as bytes (exactly what ``codever diff`` prints)."""
        return bytes(self._patch)

    def __repr__(self):
        return f"<codever.Diff {len(self.files)} file(s)>"

    def _repr_html_(self):
        """The compare page of ``codever diff --html`` (GitHub-style: unified and split views,
        changed words marked, syntax colouring, expandable context), with its style and script
        inline so that Jupyter shows it in the cell."""
        return self._html


def _version_name(number):
    """``"v3"``, or None while the artifact's numbers are withheld (some record unreadable)."""
    return None if number is None else f"v{number}"


class BlameLine:
    """One line of a blamed file: its number, the version (and its id and run) that introduced
    it, whether that version is forgotten, and its text."""

    def __init__(self, line, version, id, run, text, forgotten=False):
        self.line, self.version, self.id, self.run, self.text = line, version, id, run, text
        self.forgotten = forgotten

    def __repr__(self):
        v = f"v{self.version}" if self.version is not None else f"@{self.id[:12]}"
        return f"<BlameLine {self.line} {v} run={self.run} {self.text!r}>"
