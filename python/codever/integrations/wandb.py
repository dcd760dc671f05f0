"""Keep W&B, and version its code artifacts in a local codever store too.

    import wandb
    from codever.integrations.wandb import track

    track()                     # one call, before or after wandb.init
    run = wandb.init(project="safelife", config=args)
    ...                         # the script stays as it is

From then on every artifact the script logs through W&B (``run.log_artifact``,
``wandb.log_artifact``, ``run.log_code``, a path or an Artifact) whose type is a code type is
also committed to the codever store, as a version of the same type and name, for the same run
id, with the same files and W&B's digest (checked: a mirrored version whose digest differs from
W&B's is not kept, and a line says why). When a W&B run finishes, its config, summary, name,
job type and group are saved with the codever run. So ``codever diff``, ``log``, ``blame`` and
``diff --runs --best reward --worst reward`` work offline on what W&B holds.

Nothing here can fail a W&B call: a problem with the codever store is printed as one line and
W&B carries on. It wraps four private methods of W&B's ``Run`` (``_log_artifact`` and
``_prepare_artifact``, through which every logged artifact and its aliases and tags pass,
``_finish``, and ``_on_start``, after which a run is watched for an end without ``finish``:
Ctrl-C, an uncaught exception), tested with wandb 0.31. An alias or tag W&B takes but
codever's name rule refuses (``"best model"``, ``"v3"``) is left out of the codever version,
with one line saying so.

Not mirrored: ``use_artifact``. W&B refuses it offline ("Cannot use artifact when in offline
mode"), and online it names versions on W&B's servers, which the local store may not hold;
codever's own ``use_artifact`` records uses.
"""

import json
import os
import sys
import threading

import codever
from codever import _native

__all__ = ["track", "untrack", "Tracker"]

_tracker = None
_pending = threading.local()  # the tags of the artifact being logged, per thread


def _say(message):
    print(f"codever: {message}", file=sys.stderr)


def _is_code_type(t):
    """W&B's code artifacts (type ``code``, as ``log_code`` makes) and types named like
    ``model_code``, ``rl_algo_code``."""
    return t == "code" or t.endswith("_code")


class Tracker:
    """What :func:`track` installed: the store, which types are mirrored, and what was."""

    def __init__(self, types, dir, scores):
        if types is None:
            self._wants = _is_code_type
        elif callable(types):
            self._wants = types
        else:
            wanted = {types} if isinstance(types, str) else set(types)
            self._wants = wanted.__contains__
        self._dir = dir
        self._scores = scores
        self._store = None
        self._runs = {}  # W&B run id -> codever Run
        self._refused = set()  # (what, name) said once
        self._saved = set()  # W&B run ids whose state was saved at their end
        #: (type, name, version, new) of every artifact mirrored, in order.
        self.mirrored = []

    def store(self):
        if self._store is None:
            if self._dir is not None:
                self._store, created = codever._locate_store(self._dir)
            else:
                self._store, created = _native.locate_store(None, True)
            if created:
                _say(f"created a store in {self._store}")
        return self._store

    def _run_for(self, wb_run):
        r = self._runs.get(wb_run.id)
        if r is None:
            store = self.store()
            config = _plain_dict(wb_run.config)
            _native.start_run(
                store,
                wb_run.id,
                wb_run.project or "",
                json.dumps(config, sort_keys=True, default=str) if config else "",
                wb_run.notes or "",
                [str(t) for t in (wb_run.tags or ())],
            )
            r = codever.Run(store, wb_run.id, project=wb_run.project, config=config)
            self._runs[wb_run.id] = r
        return r

    def mirror(self, wb_run, artifact, aliases, tags=None):
        """Commits W&B's ``artifact`` to the codever store for ``wb_run`` (when its type is
        wanted), with W&B's files, digest, aliases and tags."""
        if not self._wants(artifact.type):
            return None
        entries = artifact.manifest.entries
        if any(e.ref is not None for e in entries.values()):
            _say(f"{artifact.name}: references to files kept elsewhere are not versioned by codever")
            return None
        # The files as the user added them (so that `codever diff NAME` compares with them
        # later), else W&B's staged copies; the digest must be W&B's either way.
        originals = {}
        for local, entry in getattr(artifact, "_added_local_paths", {}).items():
            originals[entry.path] = local
        attempts = [
            {p: originals.get(p) or e.local_path for p, e in entries.items()},
            {p: e.local_path for p, e in entries.items()},
        ]
        wanted = artifact.digest
        for paths in attempts:
            if any(not path or not os.path.isfile(path) for path in paths.values()):
                continue
            cv = codever.Artifact(artifact.name.split(":")[0], artifact.type,
                                  description=artifact.description,
                                  metadata=dict(artifact.metadata or {}))
            for p, path in paths.items():
                cv._entries[p] = codever._Entry(p, path=os.path.abspath(path))
            if cv.digest != wanted:
                continue
            aliases = self._names("alias", [a for a in (aliases or []) if a != "latest"], artifact.name)
            tags = self._names("tag", list(tags or ()), artifact.name)
            self._run_for(wb_run).log_artifact(cv, aliases=aliases, tags=tags)
            self.mirrored.append((cv.type, cv._name, cv.version, cv.new))
            return cv
        _say(f"{artifact.name}: its files changed since W&B read them; not versioned by codever")
        return None

    def _names(self, what, names, artifact):
        """The aliases (or tags) of ``names`` codever's name rule takes: one it refuses
        (``"best model"``, ``"v3"``) is left out of the codever version, which is still
        made, and said once per name."""
        out = []
        for n in names:
            try:
                _native.check_name(what, n)
            except codever.CodeverError as e:
                if (what, n) not in self._refused:
                    self._refused.add((what, n))
                    _say(f"{artifact}: W&B's {what} {n!r} is not versioned by codever ({e})")
                continue
            out.append(n)
        return out

    def started(self, wb_run):
        """At exit, before W&B's own teardown (``atexit`` runs the last registered first), a
        W&B run still unfinished (Ctrl-C, an uncaught exception, a script without
        ``finish``) has its config and summary saved, with W&B's exit code (255 after Ctrl-C):
        W&B then records the run from its service, without going through ``finish``."""
        import atexit

        codever._at_exit.hook()

        def at_exit():
            if _tracker is self and not getattr(wb_run, "_is_finished", False):
                try:
                    self.finished(wb_run, codever._at_exit.exit_code())
                except Exception as e:  # never fail W&B's exit
                    _say(f"could not save run {wb_run.id} locally: {e}")

        atexit.register(at_exit)

    def finished(self, wb_run, exit_code):
        """Saves the W&B run's config, summary, tags and notes with the codever run (once)."""
        if not self._scores or wb_run.id in self._saved:
            return
        self._saved.add(wb_run.id)
        r = self._run_for(wb_run)
        summary = _plain_dict(wb_run.summary)
        for key in ("_wandb", "_runtime", "_timestamp"):
            summary.pop(key, None)
        summary["_codever"] = {
            "tags": [str(t) for t in (wb_run.tags or ())],
            "notes": wb_run.notes or "",
        }
        state = {
            "name": wb_run.name or "",
            "job_type": wb_run.job_type or "",
            "group": wb_run.group or "",
            "config": _plain_dict(wb_run.config),
            "summary": summary,
            "ranges": {},
            "steps": int(getattr(wb_run, "step", 0) or 0),
            "finished": True,
            "exit_code": exit_code,
        }
        state["config"].pop("_wandb", None)
        _native.save_run_state(r._store, r.id, codever._dumps(state))


def _plain_dict(mapping):
    """A W&B config or summary as a plain dict (summary sub-dicts too)."""
    out = {}
    try:
        keys = list(mapping.keys())
    except Exception:
        return out
    for k in keys:
        try:
            v = mapping[k]
        except Exception:
            continue
        out[k] = _plain_dict(v) if hasattr(v, "keys") else codever._plain(v)
    return out


def track(types=None, dir=None, scores=True):
    """Mirrors W&B's code artifacts into a codever store from now on; returns the
    :class:`Tracker`. ``types``: the artifact types to mirror (a type, a list, or a function
    of the type; default ``code`` and types ending in ``_code``). ``dir``: where the store is
    (default: found as ``codever.init`` finds it, else created at the root of the git
    repository). ``scores``: also save each run's config and summary when it finishes. Calling
    it again replaces the settings."""
    global _tracker
    from wandb.sdk import wandb_run

    _tracker = Tracker(types, dir, scores)
    run_cls = wandb_run.Run
    if not getattr(run_cls, "_codever_tracked", False):
        prepare, finish = run_cls._prepare_artifact, run_cls._finish
        log, on_start = run_cls._log_artifact, run_cls._on_start

        def _log_artifact(self, *args, **kwargs):
            # The tags reach W&B's service, not `_prepare_artifact`: remember them for it.
            tags = kwargs.get("tags", args[4] if len(args) > 4 else None)
            _pending.tags = [tags] if isinstance(tags, str) else list(tags or ())
            try:
                return log(self, *args, **kwargs)
            finally:
                _pending.tags = []

        def _prepare_artifact(self, *args, **kwargs):
            artifact, aliases = prepare(self, *args, **kwargs)
            if _tracker is not None:
                try:
                    _tracker.mirror(self, artifact, aliases, getattr(_pending, "tags", []))
                except (codever.CodeverError, OSError, ValueError) as e:
                    _say(f"could not version {getattr(artifact, 'name', '?')} locally: {e}")
            return artifact, aliases

        def _on_start(self, *args, **kwargs):
            out = on_start(self, *args, **kwargs)
            if _tracker is not None:
                try:
                    _tracker.started(self)
                except Exception as e:  # never fail W&B's init
                    _say(f"could not watch run {getattr(self, 'id', '?')} for its end: {e}")
            return out

        def _finish(self, exit_code=None, *args, **kwargs):
            if _tracker is not None and not getattr(self, "_is_finished", False):
                try:
                    # W&B records 0 when finish() is given no exit code.
                    _tracker.finished(self, 0 if exit_code is None else exit_code)
                except (codever.CodeverError, OSError, ValueError) as e:
                    _say(f"could not save run {self.id} locally: {e}")
            return finish(self, exit_code, *args, **kwargs)

        run_cls._prepare_artifact = _prepare_artifact
        run_cls._finish = _finish
        run_cls._log_artifact = _log_artifact
        run_cls._on_start = _on_start
        run_cls._codever_originals = (prepare, finish, log, on_start)
        run_cls._codever_tracked = True
    import wandb

    current = getattr(wandb, "run", None)
    if current is not None and not getattr(current, "_is_finished", False):
        # track() after wandb.init: that run started without being watched for its end.
        try:
            _tracker.started(current)
        except Exception as e:  # never fail the script
            _say(f"could not watch run {getattr(current, 'id', '?')} for its end: {e}")
    return _tracker


def untrack():
    """Stops mirroring and restores W&B's methods."""
    global _tracker
    from wandb.sdk import wandb_run

    _tracker = None
    run_cls = wandb_run.Run
    if getattr(run_cls, "_codever_tracked", False):
        (run_cls._prepare_artifact, run_cls._finish, run_cls._log_artifact,
         run_cls._on_start) = run_cls._codever_originals
        run_cls._codever_tracked = False
